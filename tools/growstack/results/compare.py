"""Compare two results files: did a change alter any test's outcome?

The question behind every "no regressions" claim: the same kernel set run
without and with a change (e.g. `--kconfig_add=CONFIG_DYNAMIC_STACK=y`)
must give every test the same status. Tests are matched by their path of
names (suite, case, parameter). Suites that exist only on one side because
the change adds them are left out with `--ignore GLOB`, matched against
each path joined with '.'.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .report import SCHEMA


@dataclass
class Comparison:
    same: int = 0  # test cases with the same status on both sides
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # path, old, new
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    ignored: int = 0

    @property
    def differs(self) -> bool:
        return bool(self.changed or self.only_old or self.only_new)


def load(path: Path) -> dict[str, str]:
    """Status by dotted path of every test case (leaf) in a growstack results file."""
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise UsageError(
            f"cannot read results {path}: {err.strerror}",
            "pass a file written by growstack test --json",
        ) from None
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UsageError(
            f"{path} is not a growstack results file",
            "pass a file written by growstack test --json or growstack parse --json",
        )
    cases: dict[str, str] = {}
    _leaves(data.get("suites", []), (), cases)
    return cases


def _leaves(tests: list[dict[str, Any]], path: tuple[str, ...], out: dict[str, str]) -> None:
    for test in tests:
        here = (*path, test["name"] or f"#{test['number']}")
        if test.get("subtests"):
            _leaves(test["subtests"], here, out)
        else:
            out[".".join(here)] = test["status"]


def compare(old: dict[str, str], new: dict[str, str], ignore: list[str]) -> Comparison:
    result = Comparison()
    for path in sorted(old.keys() | new.keys()):
        if any(fnmatch.fnmatchcase(path, glob) for glob in ignore):
            result.ignored += 1
        elif path not in new:
            result.only_old.append(path)
        elif path not in old:
            result.only_new.append(path)
        elif old[path] != new[path]:
            result.changed.append((path, old[path], new[path]))
        else:
            result.same += 1
    return result


def lines(result: Comparison) -> list[str]:
    out = [f"changed  {path}: {was} -> {now}" for path, was, now in result.changed]
    out += [f"gone     {path}" for path in result.only_old]
    out += [f"new      {path}" for path in result.only_new]
    verdict = "differ" if result.differs else "agree"
    out.append(
        f"results {verdict}: {result.same} test(s) the same, {len(result.changed)} "
        f"changed, {len(result.only_old)} gone, {len(result.only_new)} new, "
        f"{result.ignored} ignored"
    )
    return out
