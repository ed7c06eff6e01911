"""Test evidence for the cover letter, from the last `growstack test` runs.

`growstack test` keeps its results per arch in <workdir>/results/<arch>.json,
with the patch-ids of the commits it tested and the command it ran (other
results there, such as `growstack boot`'s, do not have that command). Only
results on the same base that carry exactly the series being mailed, and each
series it depends on, each whole and in order, count as evidence; the other
commits tested may only be other series of the project and test-environment
patches from patches/local/ (`growstack run` tests every series together).
Others are left out with a warning, so a cover letter never quotes stale
results.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ..errors import MailError

_COLUMNS = ("total", "passed", "failed", "skipped", "crashed", "timeout")
_HEADINGS = ("tests", "passed", "failed", "skipped", "crashed", "timeout")


@dataclass(frozen=True)
class Result:
    arch: str
    counts: dict[str, int]
    status: str
    base: dict[str, str]
    command: str  # the growstack test command line that made it
    extra: list[str]  # patch-ids tested too: other series, test-environment patches


def _carries(tested: list[str], run: list[str]) -> bool:
    """Whether `tested` holds `run` whole, in order, with nothing in between."""
    return any(tested[i : i + len(run)] == run for i in range(len(tested) - len(run) + 1))


def _stale_reason(
    data: dict, runs: list[list[str]], allowed: set[str], base_commit: str
) -> str | None:
    metadata = data["metadata"]
    tested = metadata.get("patches")
    if not isinstance(tested, list):
        return "it tested a tree with uncommitted changes"
    if metadata.get("base", {}).get("commit") != base_commit:
        return "it was tested on another base"
    needed = {pid for run in runs for pid in run}
    if not all(_carries(tested, run) for run in runs) or not set(tested) <= needed | allowed:
        return "it tested another version of the series"
    return None


def collect(
    results_dir: Path, runs: list[list[str]], allowed: set[str], base_commit: str
) -> tuple[list[Result], list[str]]:
    """The results that are evidence for the series `runs` (the patch-ids of the
    series mailed and of each it depends on), and why others are not. `allowed`:
    the patch-ids that may have been tested too."""
    found, skipped = [], []
    needed = {pid for run in runs for pid in run}
    for path in sorted(results_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            skipped.append(f"{path.name}: unreadable")
            continue
        if not isinstance(data, dict) or not data.get("metadata", {}).get("reproduce"):
            continue  # not from `growstack test` (boot results), or from an older growstack
        reason = _stale_reason(data, runs, allowed, base_commit)
        if reason:
            skipped.append(f"{path.name}: {reason}")
            continue
        metadata = data["metadata"]
        found.append(
            Result(
                arch=metadata.get("arch", path.stem),
                counts=data["counts"],
                status=data.get("status", ""),
                base=metadata["base"],
                command=metadata["reproduce"],
                extra=[pid for pid in metadata["patches"] if pid not in needed],
            )
        )
    if not found:
        why = f" ({'; '.join(skipped)})" if skipped else ""
        raise MailError(
            f"no test results of this version of the series in {results_dir}{why}",
            "run `growstack apply` and `growstack test` on it first (or "
            "`growstack run`), then send",
        )
    return found, skipped


def render(results: list[Result], others: dict[str, str], local_subjects: dict[str, str]) -> str:
    """The evidence paragraph: a table of counts, the base, how to reproduce.

    `others` names the series of patch-ids that are not this series' own,
    `local_subjects` the test-environment patches.
    """
    width = max(len("arch"), *(len(r.arch) for r in results))
    rows = [f"  {'arch':<{width}}  " + "  ".join(f"{h:>7}" for h in _HEADINGS)]
    for r in results:
        rows.append(
            f"  {r.arch:<{width}}  " + "  ".join(f"{r.counts.get(c, 0):>7}" for c in _COLUMNS)
        )
    base = results[0].base
    prose = [
        f"Base: Linux {base.get('kernel', '?')} ({base.get('source', '?')}), growstack "
        f"base commit {base.get('commit', '?')[:12]}."
    ]
    along = sorted({others[pid] for r in results for pid in r.extra if pid in others})
    if along:
        prose.append(f"Tested with the series {', '.join(along)} applied too.")
    extra = sorted({pid for r in results for pid in r.extra if pid in local_subjects})
    if extra:
        names = "; ".join(local_subjects.get(pid, pid[:12]) for pid in extra)
        prose.append(
            f"Tested with {len(extra)} test-environment patch(es) that are not part "
            f"of this series: {names}."
        )
    prose.append("To reproduce, in a growstack checkout:")
    lines = [
        "KUnit results of this version, from `growstack test`:",
        "",
        *rows,
        "",
        textwrap.fill(" ".join(prose), width=72, break_on_hyphens=False),
        "",
    ]
    for r in results:
        local = any(pid in local_subjects for pid in r.extra)
        apply = "growstack apply" if local else "growstack apply --no-local"
        lines.append(f"  growstack tree && {apply} && {r.command}")
    return "\n".join(lines)
