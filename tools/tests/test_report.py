"""Tests for growstack.results.report: terminal summary, JSON, JUnit XML, exit codes."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from growstack.errors import Exit, UsageError
from growstack.results import report
from growstack.results.ktap import Counts, Run, parse

DATA = Path(__file__).parent / "data" / "ktap"


def load(name: str, *, timed_out: bool = False) -> Run:
    with open(DATA / name, encoding="utf-8", errors="replace") as file:
        return parse(file, timed_out=timed_out)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def summary(run: Run) -> str:
    stream = io.StringIO()
    report.write_summary(run, stream)
    return stream.getvalue()


# Terminal summary.


def test_summary_ends_with_the_totals() -> None:
    text = summary(load("nested.ktap"))
    assert text.splitlines()[-1] == (
        "Testing complete. 8 tests: 6 passed, 1 failed, 1 skipped, 0 crashed, 0 timed out"
    )
    assert "FAIL     example          4 passed, 1 failed, 1 skipped" in text
    assert "PASS     list-kunit-test  2 passed" in text


def test_summary_shows_failures_with_their_lines() -> None:
    text = summary(load("nested.ktap"))
    assert "FAIL example.example_fail_test" in text
    assert "# example_fail_test: EXPECTATION FAILED at lib/kunit/kunit-example-test.c:42" in text
    assert "example_fail_test: printk from the code under test" in text
    # The suite failed because of its subtest: it is not listed again.
    assert "FAIL example\n" not in text


def test_summary_shows_crashes_oopses_and_warnings() -> None:
    text = summary(load("oops.ktap"))
    assert "CRASHED panic_suite.#1: the kernel panicked while this test was running" in text
    assert "Kernel panic - not syncing: Fatal exception in interrupt" in text
    assert "PASS oops_suite.warn_test" in text  # passed, but printed a WARNING
    assert "Parse warnings (3):" in text
    assert text.rstrip().endswith("2 passed, 1 failed, 0 skipped, 2 crashed, 0 timed out")


def test_host_warnings_have_their_own_heading(tmp_path: Path) -> None:
    run = load("nested.ktap")
    run.host_warnings.append("the host is odd")
    text = summary(run)
    assert "Host warnings (1):\n    the host is odd" in text
    assert "Parse warnings" not in text
    path = tmp_path / "results.json"
    report.write_json(run, path, {})
    data = json.loads(path.read_text())
    assert (data["host_warnings"], data["warnings"]) == (["the host is odd"], [])


def test_summary_of_a_timeout() -> None:
    text = summary(load("timeout.ktap", timed_out=True))
    assert "TIMEOUT hang.#2: timed out while this test was running" in text
    assert "The kernel run timed out." in text
    assert text.rstrip().endswith("1 passed, 0 failed, 0 skipped, 0 crashed, 3 timed out")


def test_summary_without_ktap_shows_the_boot_crash() -> None:
    text = summary(load("boot_crash.ktap"))
    assert "No KTAP output found" in text
    assert "Kernel panic - not syncing: Attempted to kill the idle task!" in text
    assert text.rstrip().endswith(
        "Testing complete. 0 tests: 0 passed, 0 failed, 0 skipped, 0 crashed, 0 timed out"
    )


def test_long_logs_are_cut_in_the_terminal() -> None:
    lines = ["KTAP version 1", "1..1", *(f"# line {n}" for n in range(500)), "not ok 1 noisy"]
    text = summary(parse(lines))
    assert "# line 59" in text
    assert "# line 60" not in text
    assert "440 more lines" in text


def test_many_failures_are_cut_in_the_terminal() -> None:
    lines = ["KTAP version 1", "1..150", *(f"not ok {n} t{n}" for n in range(1, 151))]
    text = summary(parse(lines))
    assert "FAIL t100\n" in text
    assert "FAIL t101\n" not in text
    assert "... and 50 more (see the JSON results)" in text
    assert text.rstrip().endswith(
        "150 tests: 0 passed, 150 failed, 0 skipped, 0 crashed, 0 timed out"
    )


def test_colour_only_on_a_terminal() -> None:
    run = load("nested.ktap")
    assert "\033[" not in summary(run)
    terminal = Terminal()
    report.write_summary(run, terminal)
    assert "\033[1;31mFAIL" in terminal.getvalue()


@pytest.mark.parametrize(
    ("counts", "line"),
    [
        (
            Counts(passed=1),
            "Testing complete. 1 test: 1 passed, 0 failed, 0 skipped, 0 crashed, 0 timed out",
        ),
        (
            Counts(passed=2, xfail=1),
            "Testing complete. 3 tests: 2 passed, 0 failed, 0 skipped, "
            "0 crashed, 0 timed out, 1 xfail",
        ),
        (
            Counts(todo=2, timeout=1),
            "Testing complete. 3 tests: 0 passed, 0 failed, 0 skipped, "
            "0 crashed, 1 timed out, 2 todo",
        ),
    ],
)
def test_completion_line(counts: Counts, line: str) -> None:
    assert report.completion_line(counts) == line


# Exit codes.


@pytest.mark.parametrize(
    ("lines", "timed_out", "code"),
    [
        (["KTAP version 1", "1..2", "ok 1 a", "ok 2 b # SKIP"], False, Exit.OK),
        (["KTAP version 1", "1..2", "ok 1 a # XFAIL", "not ok 2 b # TODO"], False, Exit.OK),
        (["KTAP version 1", "1..1", "ok 1 a # SKIP"], False, Exit.OK),
        (["KTAP version 1", "1..2", "ok 1 a", "not ok 2 b"], False, Exit.TESTS_FAILED),
        (["KTAP version 1", "1..0"], False, Exit.TESTS_FAILED),
        (["KTAP version 1", "1..2", "ok 1 a"], False, Exit.CRASHED),
        (["KTAP version 1", "1..1", "ok 1 a"], True, Exit.CRASHED),
        (["KTAP version 1", "1..1", "not ok 1 a # TIMEOUT"], False, Exit.CRASHED),
        (["no ktap here"], False, Exit.CRASHED),
    ],
)
def test_exit_code(lines: list[str], timed_out: bool, code: Exit) -> None:
    assert report.exit_code(parse(lines, timed_out=timed_out)) is code


# JSON.


def test_json_document(tmp_path: Path) -> None:
    run = load("timestamps.ktap")
    path = tmp_path / "results.json"
    report.write_json(run, path, {"arch": "um", "base": "v6.12"})
    data = json.loads(path.read_text())
    assert (data["schema"], data["version"]) == ("growstack-results", 1)
    assert data["metadata"] == {"arch": "um", "base": "v6.12"}
    assert data["status"] == "PASS"
    assert data["counts"] == {
        "total": 3,
        "passed": 3,
        "failed": 0,
        "skipped": 0,
        "crashed": 0,
        "timeout": 0,
        "xfail": 0,
        "todo": 0,
    }
    suite = data["suites"][0]
    assert (suite["name"], suite["plan"], suite["duration"]) == ("timing", 3, 1.7)
    assert [t["name"] for t in suite["subtests"]] == ["fast_test", "slow_test", "instant_test"]
    assert suite["subtests"][1]["diagnostics"] == ["slow_test: initializing"]
    assert set(suite) == {
        "name",
        "number",
        "status",
        "directive",
        "reason",
        "duration",
        "plan",
        "diagnostics",
        "log",
        "oops",
        "subtests",
    }


def test_schema_documentation_example_is_current() -> None:
    doc = (Path(__file__).parents[2] / "Documentation" / "results-schema.md").read_text()
    console = doc.split("```text\n")[1].split("```")[0]
    example = json.loads(doc.split("```json\n")[1].split("```")[0])
    run = parse(console.splitlines())
    assert report.to_json(run, example["metadata"]) == example


def test_json_keeps_crash_details(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    report.write_json(load("oops.ktap"), path, {})
    data = json.loads(path.read_text())
    assert (data["status"], data["crashed"], data["found_ktap"]) == ("CRASHED", True, True)
    panicked = data["suites"][1]["subtests"][0]
    assert (panicked["name"], panicked["number"], panicked["status"]) == ("", 1, "CRASHED")
    assert panicked["oops"][0].startswith("Kernel panic")
    assert len(data["warnings"]) == 3


def test_json_survives_undecodable_bytes(tmp_path: Path) -> None:
    text = b"KTAP version 1\n1..1\n# \xff\xfe\x00\nok 1 t\n".decode("utf-8", "surrogateescape")
    path = tmp_path / "results.json"
    report.write_json(parse(text.splitlines()), path, {})
    assert json.loads(path.read_text())["suites"][0]["log"] == ["# \udcff\udcfe\x00"]


# JUnit XML.


def junit(run: Run, tmp_path: Path) -> ET.Element:
    path = tmp_path / "junit.xml"
    report.write_junit(run, path)
    return ET.parse(path).getroot()


def test_junit_flattens_nested_suites(tmp_path: Path) -> None:
    root = junit(load("nested.ktap"), tmp_path)
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert list(suites) == ["example", "example.example_params_test", "list-kunit-test"]
    example = suites["example"]
    assert [case.get("name") for case in example] == [
        "example_simple_test",
        "example_fail_test",
        "example_slow_test",
    ]
    assert (example.get("tests"), example.get("failures"), example.get("skipped")) == (
        "3",
        "1",
        "0",
    )
    failure = example.find("testcase[@name='example_fail_test']/failure")
    assert failure is not None and "EXPECTATION FAILED" in (failure.text or "")
    params = suites["example.example_params_test"]
    assert params.find("testcase[@name='example value 2']/skipped") is not None
    assert {case.get("classname") for case in params} == {"example.example_params_test"}
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("8", "1", "1")
    assert root.get("time") is None


def test_junit_errors_and_times(tmp_path: Path) -> None:
    root = junit(load("oops.ktap"), tmp_path)
    errors = root.findall(".//testcase/error")
    assert [error.get("type") for error in errors] == ["CRASHED", "CRASHED"]
    assert "Kernel panic" in (errors[0].text or "")
    warned = root.find(".//testcase[@name='warn_test']/system-err")
    assert warned is not None and "WARNING: CPU: 0" in (warned.text or "")
    timed = junit(load("timestamps.ktap"), tmp_path)
    suite = timed.find("testsuite")
    assert suite is not None and suite.get("time") == "1.700000"
    assert [case.get("time") for case in timed.iter("testcase")] == [
        "0.150000",
        "1.500000",
        "0.000000",
    ]


def test_junit_suite_failure_of_its_own(tmp_path: Path) -> None:
    run = parse(
        [
            "KTAP version 1",
            "1..2",
            "  # Subtest: s",
            "  1..1",
            "  ok 1 t",
            "# s: suite_exit failed",
            "not ok 1 s",
            "ok 2 lone",
        ]
    )
    root = junit(run, tmp_path)
    names = [(suite.get("name"), [case.get("name") for case in suite]) for suite in root]
    assert names == [("(top level)", ["lone"]), ("s", ["t", "(suite result)"])]
    assert root.find(".//testcase[@name='(suite result)']/failure") is not None
    assert root.get("failures") == "1"


def test_junit_replaces_characters_xml_forbids(tmp_path: Path) -> None:
    run = parse(
        [
            "KTAP version 1",
            "1..1",
            "# bell\x07 nul\x00 esc\x1b[0m",
            "not ok 1 name\x01with\ufffecontrols",
        ]
    )
    path = tmp_path / "junit.xml"
    report.write_junit(run, path)
    root = ET.parse(path).getroot()  # would raise on a forbidden character
    case = root.find(".//testcase")
    assert case is not None and case.get("name") == "name\\x01with\\xfffecontrols"
    failure = case.find("failure")
    assert failure is not None and failure.text == "# bell\\x07 nul\\x00 esc\\x1b[0m"


# emit().


def test_emit_writes_everything_and_returns_the_exit_code(tmp_path: Path) -> None:
    stream = io.StringIO()
    code = report.emit(
        load("crash.ktap"),
        stream=stream,
        json_path=tmp_path / "r.json",
        junit_path=tmp_path / "r.xml",
        metadata={"command": "growstack test"},
    )
    assert code is Exit.CRASHED
    assert "Testing complete. 6 tests" in stream.getvalue()
    assert json.loads((tmp_path / "r.json").read_text())["metadata"]["command"] == "growstack test"
    # Three tests never printed a result; "second.param" itself was cut off mid-way.
    errors = ET.parse(tmp_path / "r.xml").getroot().findall(".//error/..")
    assert [f"{case.get('classname')}.{case.get('name')}" for case in errors] == [
        "(top level).#3",
        "second.#3",
        "second.#4",
        "second.param.(suite result)",
    ]


def test_emit_to_an_unwritable_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        report.emit(
            load("nested.ktap"), stream=io.StringIO(), json_path=tmp_path / "missing" / "r.json"
        )
    assert caught.value.exit_code is Exit.USAGE
    assert str(caught.value) == (
        f"cannot write the JSON results to {tmp_path / 'missing' / 'r.json'}"
        ": No such file or directory; choose a writable path"
    )
