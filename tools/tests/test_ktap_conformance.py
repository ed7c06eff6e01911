"""growstack.results.ktap against the kernel's own kunit_parser on the kernel's KUnit test logs.

For every tools/testing/kunit/test_data/*.log of the base tree both parsers
must give the same tests (names, nesting, statuses), the same totals
(passed, failed, skipped, crashed, and kunit_parser's errors against our
warnings) and the same overall status. No log is excluded and none may
differ. kunit_parser knows neither TIMEOUT, XFAIL nor TODO; none of these
logs produce them, so meeting one fails the comparison.

kunit_parser runs in a subprocess: it imports its siblings by bare module
name and prints as it parses, neither of which belongs in the test process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from growstack.results.ktap import Status, parse

pytestmark = pytest.mark.kernel

# Prints, as JSON, what kunit_parser makes of each log named on the command line.
KERNEL_SIDE = r"""
import io, json, sys
out = sys.stdout
sys.stdout = io.StringIO()  # kunit_printer binds sys.stdout at import: keep its chatter
sys.path.insert(0, sys.argv[1])
import kunit_parser

def flat(test, depth, rows):
    rows.append([depth, test.name, test.status.name])
    for sub in test.subtests:
        flat(sub, depth + 1, rows)
    return rows

results = {}
for path in sys.argv[2:]:
    with open(path, errors="backslashreplace") as file:
        main = kunit_parser.parse_run_tests(file.readlines())
    counts = main.counts
    results[path] = {
        "status": main.status.name,
        "tests": [row for sub in main.subtests for row in flat(sub, 0, [])],
        "totals": [counts.passed, counts.failed, counts.skipped, counts.crashed, counts.errors],
    }
json.dump(results, out)
"""

# Our status as kunit_parser names it.
KUNIT_STATUS = {
    Status.PASS: "SUCCESS",
    Status.FAIL: "FAILURE",
    Status.SKIP: "SKIPPED",
    Status.CRASHED: "TEST_CRASHED",
    Status.NO_TESTS: "NO_TESTS",
}


def ours(path: Path) -> dict[str, Any]:
    with open(path, errors="backslashreplace") as file:
        run = parse(file.readlines())
    counts = run.counts
    return {
        "status": KUNIT_STATUS.get(run.status) if run.found_ktap else "FAILURE_TO_PARSE_TESTS",
        "tests": [[len(p) - 1, test.name, KUNIT_STATUS.get(test.status)] for p, test in run.walk()],
        "totals": [counts.passed, counts.failed, counts.skipped, counts.crashed, len(run.warnings)],
    }


def kunit_parser_results(kunit_dir: Path, logs: list[Path]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", KERNEL_SIDE, str(kunit_dir), *map(str, logs)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    results: dict[str, Any] = json.loads(done.stdout)
    return results


def test_agrees_with_kunit_parser(kernel_tree: Path) -> None:
    kunit_dir = kernel_tree / "tools" / "testing" / "kunit"
    logs = sorted((kunit_dir / "test_data").glob("*.log"))
    assert len(logs) >= 20, f"expected the kernel's KUnit test logs in {kunit_dir / 'test_data'}"
    theirs = kunit_parser_results(kunit_dir, logs)
    differences = {
        log.name: {"kunit_parser": theirs[str(log)], "growstack": ours(log)}
        for log in logs
        if theirs[str(log)] != ours(log)
    }
    assert not differences, json.dumps(differences, indent=1)


def test_comparison_sees_differences(kernel_tree: Path, tmp_path: Path) -> None:
    """Guard against a vacuous comparison: a failing log must not look like a passing one."""
    kunit_dir = kernel_tree / "tools" / "testing" / "kunit"
    passing = kunit_dir / "test_data" / "test_is_test_passed-all_passed.log"
    failing = tmp_path / "failing.log"
    failing.write_text(passing.read_text().replace("\tok 1 - sysctl", "\tnot ok 1 - sysctl"))
    theirs = kunit_parser_results(kunit_dir, [failing])[str(failing)]
    assert theirs == ours(failing)
    assert theirs != ours(passing)
    assert theirs["totals"][:2] == [9, 1]
