"""Tests for growstack.results.compare and `growstack compare`: results matched test by test."""

from __future__ import annotations

from pathlib import Path

import pytest

from growstack import cli
from growstack.errors import Exit, UsageError
from growstack.results import compare, report
from growstack.results.ktap import parse


def results(tmp_path: Path, name: str, cases: dict[str, str]) -> Path:
    """A results file of one suite `s` whose cases have the given KTAP results."""
    lines = ["KTAP version 1", "1..1", "    # Subtest: s", f"    1..{len(cases)}"]
    for number, (case, result) in enumerate(cases.items(), 1):
        lines.append(f"    {result} {number} {case}")
    lines.append("ok 1 s")
    path = tmp_path / f"{name}.json"
    report.write_json(parse(lines), path, {"source": name})
    return path


def test_same_statuses_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {"a": "ok", "b": "ok # SKIP no hardware"}
    code = cli.main(
        ["compare", str(results(tmp_path, "old", cases)), str(results(tmp_path, "new", cases))]
    )
    assert code == Exit.OK
    assert "results agree: 2 test(s) the same, 0 changed" in capsys.readouterr().out


def test_a_changed_status_a_new_and_a_gone_test_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = results(tmp_path, "old", {"a": "ok", "b": "ok", "gone": "ok"})
    new = results(tmp_path, "new", {"a": "ok", "b": "not ok", "added": "ok"})
    assert cli.main(["compare", str(old), str(new)]) == Exit.RESULTS_DIFFER
    out = capsys.readouterr().out.splitlines()
    assert "changed  s.b: PASS -> FAIL" in out
    assert "gone     s.gone" in out and "new      s.added" in out
    assert out[-1].startswith("results differ: 1 test(s) the same, 1 changed, 1 gone, 1 new")


def test_ignored_paths_do_not_count(tmp_path: Path) -> None:
    old = compare.load(results(tmp_path, "old", {"a": "ok"}))
    new = compare.load(
        results(tmp_path, "new", {"a": "ok", "feature_x": "ok", "feature_y": "not ok"})
    )
    result = compare.compare(old, new, ["s.feature_*"])
    assert not result.differs and result.ignored == 2 and result.same == 1


def test_a_file_that_is_not_results_is_a_usage_error(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"tests": []}')
    with pytest.raises(UsageError, match="is not a growstack results file"):
        compare.load(other)
    with pytest.raises(UsageError, match=r"cannot read results .*missing\.json"):
        compare.load(tmp_path / "missing.json")
