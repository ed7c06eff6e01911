"""The whole pipeline on the real pinned base: apply, export, build, boot, parse.

Slow: the first run extracts the base and builds a UML kernel (minutes;
ccache makes later runs fast). CI runs these too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from kcidb_io.schema import V5_3

from growstack import pipeline
from growstack.engines import kcidb
from growstack.errors import Exit
from growstack.project import Project
from growstack.series import series
from growstack.source import tree

pytestmark = pytest.mark.kernel


def carried_subjects(path: Path) -> list[str]:
    out = subprocess.run(
        ["git", "log", "--reverse", "--format=%s", f"{tree.BASE_TAG}..HEAD"],
        cwd=path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.splitlines()


def test_series_applies_and_reapplies_as_a_no_op(series_tree: Path, project: Project) -> None:
    patches = series.full_series(project)
    assert patches, "the series is empty"
    assert len(carried_subjects(series_tree)) == len(patches)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=series_tree, capture_output=True, text=True
    ).stdout
    again = series.apply(series_tree, patches)
    assert again.applied == [] and again.present == [p.name for p in patches]
    assert (
        subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=series_tree, capture_output=True, text=True
        ).stdout
        == head
    )


def test_export_of_the_applied_series_is_a_zero_diff(
    series_tree: Path, project: Project, tmp_path: Path
) -> None:
    copy = Project(tmp_path / "project")
    shutil.copytree(project.patches, copy.patches)
    shutil.copytree(project.kunit, copy.kunit)
    result = series.export(series_tree, copy)
    assert result.written == [] and result.removed == []
    for original in project.patches.rglob("*"):
        if original.is_file():
            assert (
                copy.patches / original.relative_to(project.patches)
            ).read_bytes() == original.read_bytes(), original


def test_growstack_run_on_uml_passes_with_our_suites(
    kernel_context: pipeline.Context, tmp_path: Path
) -> None:
    json_path, junit_path = tmp_path / "results.json", tmp_path / "junit.xml"
    kcidb_path = tmp_path / "kcidb.json"
    code = pipeline.main_job(
        kernel_context, ["um"], json_path=json_path, junit_path=junit_path, kcidb_path=kcidb_path
    )
    results = json.loads(json_path.read_text())
    assert code == Exit.OK, results["counts"]
    assert results["status"] in ("PASS", "SKIP")
    counts = results["counts"]
    assert counts["failed"] == counts["crashed"] == counts["timeout"] == 0
    assert counts["passed"] > 300  # kunit.py's whole default set ran
    suites = {suite["name"]: suite for suite in results["suites"]}
    mman = suites["mman"]
    assert mman["status"] == "PASS" and mman["plan"] == len(mman["subtests"]) > 0
    assert all(case["status"] == "PASS" for case in mman["subtests"])
    # Dynamic stacks: the main boot runs kstack, the rerun with dynamic_stack=off kstack_off.
    for name in ("kstack", "kstack_off"):
        suite = suites[name]
        assert suite["status"] == "PASS", [(c["name"], c["status"]) for c in suite["subtests"]]
        # UML has one CPU, no hardware breakpoints and no local APIC: only the
        # cases that need them may skip, and say why.
        for case in suite["subtests"]:
            if case["status"] == "SKIP":
                reasons = ("second CPU", "breakpoints", "local APIC")
                assert any(r in case["reason"] for r in reasons), case
            else:
                assert case["status"] == "PASS", case
    not_on_uml = {
        "kstack_test_migrate",
        "kstack_test_migrate_exit",
        "kstack_test_hotplug",
        "kstack_test_nested_fault",
        "kstack_test_nested_nmi",
        "kstack_test_irq_frame_fault",
        "kstack_test_shrink_running",
    }
    assert {c["name"] for c in suites["kstack"]["subtests"] if c["status"] == "SKIP"} == not_on_uml
    assert suites["kstack_off"]["diagnostics"][0] == "booted again with dynamic_stack=off"
    assert len(suites["kstack"]["subtests"]) >= 13
    # The failed idle fork needs the function graph tracer, which UML lacks.
    [idle_fork] = suites["kstack_init"]["subtests"]
    assert idle_fork["status"] == "SKIP" and "function graph tracer" in idle_fork["reason"]
    assert (
        results["metadata"]["base"]["commit"]
        == tree.BaseInfo.of(Path(results["metadata"]["tree"])).commit
    )
    cases = ET.parse(junit_path).getroot().iter("testcase")
    assert {c.get("name") for c in cases if c.get("classname", "").startswith("mman")} == {
        case["name"] for case in mman["subtests"]
    }
    # The same run for KCIDB: valid, the series' patchset hash, every case a test.
    doc = json.loads(kcidb_path.read_text())
    V5_3.validate_exactly(doc)
    project = kernel_context.project
    patches = [patch.path.read_bytes() for patch in series.full_series(project)]
    assert doc["checkouts"][0]["patchset_hash"] == kcidb.patchset_hash(patches)
    assert doc["builds"][0]["compiler"].startswith("gcc")
    assert sum(test["path"].startswith("mman.") for test in doc["tests"]) == len(mman["subtests"])


def test_drop_in_kunit_script_configures_our_series(
    kernel_workspace: Path, series_tree: Path
) -> None:
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(repo / "scripts/kunit"), "config", "--arch=um"],
        env={**os.environ, "GROWSTACK_HOME": str(kernel_workspace)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    config = kernel_workspace / "build" / series_tree.name / "kunit.py" / ".config"
    lines = config.read_text().splitlines()
    assert "CONFIG_MMAN_KUNIT_TEST=y" in lines and "CONFIG_KUNIT=y" in lines
