"""Results as KCIDB documents, checked with kcidb-io, and their submission to a
KCIDB endpoint on loopback (never a public one)."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from kcidb_io.schema import V5_3

from growstack import cli
from growstack.engines import kcidb
from growstack.errors import Exit, GrowstackError
from growstack.results import report
from growstack.results.ktap import parse

DATA = Path(__file__).parent / "data" / "ktap"
TOKEN = "s3cret-token"
# What `growstack test` records, cut down to the fields KCIDB takes.
METADATA: dict[str, Any] = {
    "arch": "um",
    "base": {
        "kernel": "6.12.117",
        "source": "linux-source-6.12 6.12.117-1~deb12u1",
        "commit": "562da166ed3f" + "0" * 28,
    },
    "patches": ["a" * 40],
    "patchset_hash": "c" * 64,
    "fragments": ["kunit-default", "kstack"],
    "compiler": "gcc (Debian 12.2.0-14+deb12u1) 12.2.0",
    "engine": "tuxmake",
    "seconds": {"config": 1.5, "build": 42.5, "run": 3.0},
    "reproduce": "growstack test --arch um",
}


def results(name: str, metadata: dict[str, Any] = METADATA) -> dict[str, Any]:
    with open(DATA / name, encoding="utf-8") as file:
        return report.to_json(parse(file), metadata)


def by_path(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {test["path"]: test for test in doc["tests"]}


def test_a_test_run_is_a_checkout_a_build_and_its_tests() -> None:
    doc = kcidb.document(results("timestamps.ktap"))
    V5_3.validate_exactly(doc)
    (checkout,) = doc["checkouts"]
    assert checkout["patchset_hash"] == "c" * 64 and checkout["valid"] is True
    assert checkout["id"] == "growstack:562da166ed3f-cccccccccccc"
    assert "Linux 6.12.117 from linux-source-6.12" in checkout["comment"]
    (build,) = doc["builds"]
    assert build["checkout_id"] == checkout["id"]
    assert {k: build[k] for k in ("architecture", "config_name", "compiler", "duration")} == {
        "architecture": "um",
        "config_name": "kunit-default+kstack",
        "compiler": "gcc (Debian 12.2.0-14+deb12u1) 12.2.0",
        "duration": 42.5,
    }
    assert (build["status"], build["command"]) == ("PASS", "growstack test --arch um")
    assert build["misc"] == {"engine": "tuxmake"}
    tests = by_path(doc)
    assert list(tests) == ["timing.fast_test", "timing.slow_test", "timing.instant_test"]
    assert [t["duration"] for t in tests.values()] == [0.15, 1.5, 0.0]
    assert {t["status"] for t in tests.values()} == {"PASS"}
    assert all(
        t["build_id"] == build["id"] and t["id"].startswith("growstack:") for t in tests.values()
    )


def test_statuses_paths_and_suites_that_failed_on_their_own() -> None:
    tests = by_path(kcidb.document(results("nested.ktap")))
    assert tests["example.example_fail_test"]["status"] == "FAIL"
    # Names become path components: spaces and other characters turn into _.
    assert tests["example.example_params_test.example_value_2"]["status"] == "SKIP"
    assert tests["example.example_params_test.example_value_2"]["comment"] == "unsupported value"
    # A suite is reported only when it failed and none of its tests did.
    assert "example" not in tests and "example.example_params_test" not in tests
    ktap = ["KTAP version 1", "1..1", "    KTAP version 1", "    # Subtest: s", "    1..1"]
    alone = kcidb.document(report.to_json(parse([*ktap, "    ok 1 t", "not ok 1 s"]), {}))
    assert [(t["path"], t["status"]) for t in alone["tests"]] == [("s", "FAIL"), ("s.t", "PASS")]
    crashed = by_path(kcidb.document(results("crash.ktap")))
    assert crashed["second._3"]["status"] == "ERROR"  # the test that never printed a name
    V5_3.validate_exactly(kcidb.document(results("crash.ktap")))


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        (["    1..1", "    ok 1 t # XFAIL bug 42"], "DONE"),
        (["    1..1", "    not ok 1 t # TODO later"], "DONE"),
        (["    1..0"], "MISS"),  # a suite that ran no tests
    ],
)
def test_the_statuses_kcidb_has_no_name_for(lines: list[str], status: str) -> None:
    ktap = ["KTAP version 1", "1..1", "    KTAP version 1", "    # Subtest: s", *lines, "ok 1 s"]
    doc = kcidb.document(report.to_json(parse(ktap), {}))
    assert [t["status"] for t in doc["tests"]] == [status]


def test_benchmark_figures_are_numbers_with_units() -> None:
    figures = {"threads": 2000, "stack_kb_idle_threads": 9000, "fork_exit_ns": 51000}
    doc = kcidb.document(results("nested.ktap", {**METADATA, "figures": figures}))
    V5_3.validate_exactly(doc)
    tests = by_path(doc)
    assert tests["figures.threads"]["number"] == {"value": 2000}
    assert tests["figures.stack_kb_idle_threads"]["number"] == {"value": 9000, "unit": "KiB"}
    assert tests["figures.fork_exit_ns"]["number"] == {"value": 51000, "unit": "ns"}
    assert tests["figures.fork_exit_ns"]["status"] == "DONE"


def test_the_patchset_hash_is_kcidbs(tmp_path: Path) -> None:
    patches = [b"From 0\nSubject: one\n", b"From 0\nSubject: two\n"]
    for number, patch in enumerate(patches, 1):
        (tmp_path / f"{number}.patch").write_bytes(patch)
    # The recipe of KCIDB's schema, run by the shell.
    shell = subprocess.run(
        "sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert kcidb.patchset_hash(patches) == shell.stdout.strip()
    assert kcidb.patchset_hash([]) == ""


def test_a_console_log_without_a_tree_still_validates() -> None:
    doc = kcidb.document(results("nested.ktap", {"source": "test.log"}))
    V5_3.validate_exactly(doc)
    assert doc["checkouts"][0]["comment"] == "console log test.log"
    assert "patchset_hash" not in doc["checkouts"][0]


def test_parse_writes_a_valid_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kcidb.json"
    code = cli.main(["parse", str(DATA / "nested.ktap"), "--kcidb", str(out)])
    assert code == Exit.TESTS_FAILED  # example_fail_test failed
    doc = json.loads(out.read_text())
    V5_3.validate_exactly(doc)
    assert len(doc["tests"]) == 8


def test_an_invalid_document_is_named() -> None:
    doc = kcidb.document(results("nested.ktap"))
    doc["tests"][0]["status"] = "BROKEN"
    with pytest.raises(GrowstackError, match=r"is not one of .* at tests/0/status") as caught:
        kcidb.validate(doc, "doc")
    assert caught.value.exit_code is Exit.KCIDB_INVALID


# Submission, to a KCIDB endpoint of our own on loopback.


class Endpoint(http.server.BaseHTTPRequestHandler):
    """Accepts what a KCIDB endpoint accepts; `delay` holds the answer back."""

    received: ClassVar[list[dict[str, Any]]] = []
    delay = 0.0

    def do_POST(self) -> None:
        time.sleep(self.delay)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        problem = None
        if self.headers["Content-Type"] != "application/json":
            problem = 415, "content type"
        elif self.headers["Authorization"] != f"Bearer {TOKEN}":
            problem = 403, "bad token"
        elif not V5_3.is_valid(json.loads(body)):
            problem = 400, "invalid document"
        if problem:
            self.send_error(*problem)
            return
        self.received.append({"path": self.path, "doc": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of an endpoint on loopback, and $KCIDB_TOKEN set to the token it wants."""
    monkeypatch.setenv(kcidb.TOKEN_VARIABLE, TOKEN)
    Endpoint.received = []
    Endpoint.delay = 0.0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/submit"
    server.shutdown()
    server.server_close()


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "kcidb.json"
    kcidb.write(results("nested.ktap"), path)
    return path


def submit(url: str, path: Path, *extra: str) -> int:
    return cli.main(["submit", "--kcidb", url, str(path), *extra])


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("growstack: error: "), err
    return err


def test_submit_posts_the_document_with_the_token(endpoint: str, document: Path) -> None:
    assert submit(endpoint, document) == Exit.OK
    (received,) = Endpoint.received
    assert received["path"] == "/submit"
    assert received["doc"] == json.loads(document.read_text())


def test_submit_without_a_token(
    endpoint: str,
    document: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv(kcidb.TOKEN_VARIABLE, raising=False)
    assert submit(endpoint, document) == Exit.KCIDB_NO_TOKEN
    assert "$KCIDB_TOKEN is not set" in one_line_error(capsys)
    assert Endpoint.received == []


def test_submit_with_a_wrong_token(
    endpoint: str,
    document: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(kcidb.TOKEN_VARIABLE, "wrong")
    assert submit(endpoint, document) == Exit.KCIDB_REJECTED
    assert "HTTP 403" in one_line_error(capsys)


def test_submit_of_an_invalid_document(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": {"major": 5, "minor": 3}, "tests": [{"id": "x"}]}))
    assert submit(endpoint, bad) == Exit.KCIDB_INVALID
    assert "not a valid KCIDB v5 document" in one_line_error(capsys)
    bad.write_text("{")
    assert submit(endpoint, bad) == Exit.KCIDB_INVALID
    assert "is not JSON" in one_line_error(capsys)
    assert Endpoint.received == []


def test_submit_that_times_out(
    endpoint: str, document: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Endpoint.delay = 1.0
    assert submit(endpoint, document, "--timeout", "0.2") == Exit.KCIDB_UNREACHABLE
    assert "did not answer within 0.2 s" in one_line_error(capsys)


def test_submit_to_nothing(
    document: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(kcidb.TOKEN_VARIABLE, TOKEN)
    with socket.socket() as unused:  # a loopback port that nothing listens on
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/submit"
    assert submit(url, document) == Exit.KCIDB_UNREACHABLE
    assert f"cannot reach {url}" in one_line_error(capsys)
