"""Test evidence: which results of `growstack test` count, and how they read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from growstack.errors import MailError
from growstack.results import evidence, ktap, report

BASE = {
    "kernel": "6.12.117",
    "source": "debian linux-source-6.12 6.12.117-1~deb12u1",
    "commit": "562da166ed3f" + "0" * 28,
}
LINES = ["KTAP version 1", "1..3", "ok 1 a", "not ok 2 b", "ok 3 c # SKIP no"]


def write(
    results: Path,
    arch: str,
    patches: list[str] | None,
    *,
    base: dict = BASE,
    reproduce: str | None = "growstack test --arch um",
) -> dict:
    metadata = {"arch": arch, "base": base, "patches": patches}
    if reproduce:
        metadata["reproduce"] = reproduce
    results.mkdir(exist_ok=True)
    report.write_json(ktap.parse(LINES), results / f"{arch}.json", metadata)
    return json.loads((results / f"{arch}.json").read_text())


def test_only_results_of_this_series_count(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write(results, "um", ["p1", "p2", "local1"])
    write(results, "x86_64", ["p1", "old2"])
    write(results, "parisc", ["p1", "p2"], base={**BASE, "commit": "other"})
    write(results, "arm64", None)
    write(results, "um-boot-workload", ["p1", "p2"], reproduce=None)  # not a test run
    found, left_out = evidence.collect(results, [["p1", "p2"]], {"local1"}, BASE["commit"])
    assert [r.arch for r in found] == ["um"] and found[0].extra == ["local1"]
    assert left_out == [
        "arm64.json: it tested a tree with uncommitted changes",
        "parisc.json: it was tested on another base",
        "x86_64.json: it tested another version of the series",
    ]


def test_a_patch_that_is_neither_mailed_nor_local_is_not_evidence(tmp_path: Path) -> None:
    write(tmp_path / "results", "um", ["p1", "p2", "stray"])
    with pytest.raises(
        MailError,
        match=r"no test results of this version of the series in "
        r".*um.json: it tested another version",
    ):
        evidence.collect(tmp_path / "results", [["p1", "p2"]], {"local1"}, BASE["commit"])


def test_no_results_at_all(tmp_path: Path) -> None:
    with pytest.raises(
        MailError,
        match=r"no test results .*; run `growstack apply` and "
        r"`growstack test`",
    ):
        evidence.collect(tmp_path / "results", [["p1"]], set(), BASE["commit"])


def test_rendered_evidence_has_counts_base_and_commands(tmp_path: Path) -> None:
    data = write(
        tmp_path / "results",
        "um",
        ["p1", "local1"],
        reproduce="growstack test --arch um --fragment mman",
    )
    found, _ = evidence.collect(tmp_path / "results", [["p1"]], {"local1"}, BASE["commit"])
    text = evidence.render(found, {}, {"local1": "parisc: clamp the cache stride"})
    counts = data["counts"]
    row = next(line for line in text.splitlines() if line.strip().startswith("um "))
    assert row.split()[1:] == [
        str(counts[k]) for k in ("total", "passed", "failed", "skipped", "crashed", "timeout")
    ]
    assert all(len(line) <= 72 for line in text.splitlines() if not line.startswith("  "))
    prose = " ".join(text.split())
    assert f"Linux 6.12.117 ({BASE['source']}), growstack base commit 562da166ed3f." in prose
    assert (
        "1 test-environment patch(es) that are not part of this series: parisc: clamp "
        "the cache stride." in prose
    )
    assert text.endswith(
        "  growstack tree && growstack apply && growstack test --arch um --fragment mman"
    )


def test_results_without_local_patches_reproduce_with_no_local(tmp_path: Path) -> None:
    write(tmp_path / "results", "um", ["p1"])
    found, _ = evidence.collect(tmp_path / "results", [["p1"]], {"local1"}, BASE["commit"])
    text = evidence.render(found, {}, {})
    assert "test-environment" not in text
    assert "growstack apply --no-local && growstack test --arch um" in text


def test_a_series_tested_with_others_counts_when_it_is_whole(tmp_path: Path) -> None:
    """`growstack run` tests every series together, in dependency then name order."""
    results = tmp_path / "results"
    write(results, "um", ["d1", "d2", "p1", "p2", "local1"])
    write(results, "x86_64", ["p1", "d1", "p2"])  # interleaved: not this series as mailed
    found, left_out = evidence.collect(
        results, [["p1", "p2"]], {"d1", "d2", "local1"}, BASE["commit"]
    )
    assert [r.arch for r in found] == ["um"]
    assert left_out == ["x86_64.json: it tested another version of the series"]
    text = evidence.render(found, {"d1": "dynamic-stacks", "d2": "dynamic-stacks"}, {})
    assert "Tested with the series dynamic-stacks applied too." in " ".join(text.split())
    assert "growstack apply --no-local" in text
