"""Series hygiene before anything is mailed: `growstack check`.

Everything runs in the release tree (a growstack-owned tree of the pinned base,
see pipeline.release_tree) on the mailed series alone, patches/local/ left out:
every series, or with --series one series on top of those it depends on.

1. the series apply with git am and export back to patches/ byte for byte;
2. scripts/checkpatch.pl --strict finds nothing in any patch checked;
3. every prefix of the series checked builds (UML by default), one after the other in
   one build directory with ccache, so each build recompiles only what its
   patch changed. A prefix whose source tree and .config already built is
   not built again: rerunning an unchanged check costs seconds.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .. import deps, pipeline
from ..errors import BuildFailed, CheckFailed, Exit, GrowstackError, MissingDependency
from ..kernel import build, targets
from ..kernel.kunitconfig import KERNEL_DEFAULT, available
from ..progress import Status, human_seconds
from ..project import Project
from ..series import layout, series
from ..source.tree import BASE_TAG, WORK_BRANCH, open_repo

_FINDING = re.compile(r"^(.*?):(\d+): (ERROR|WARNING|CHECK)(?::(\w+))?: (.*)$")
# "added, moved or deleted file(s), does MAINTAINERS need updating?"
PATH_CHANGES = "FILE_PATH_CHANGES"
# "Unknown commit id 'X', maybe rebased or not pulled?": a tarball base has no
# history to look up the commits a Fixes: tag or commit message names.
UNKNOWN_COMMIT = "UNKNOWN_COMMIT_ID"
_TOTAL = re.compile(r"^total: (\d+) errors, (\d+) warnings, (\d+) checks")
_BUILT_RECORD = ".growstack-check-built"


@dataclass
class Report:
    patches: int = 0
    built: dict[str, int] = field(default_factory=dict)  # arch -> prefixes built now
    reused: dict[str, int] = field(default_factory=dict)  # arch -> already built before
    seconds: dict[str, float] = field(default_factory=dict)  # per stage


# -- 1. apply and re-export --------------------------------------------------------


def require_zero_export(tree: Path, project: Project, only: str | None = None) -> None:
    """The applied series (`only` and its dependencies, or all) must export to
    exactly their files in patches/."""
    applied = [s.name for s in layout.with_dependencies(project, only)]
    with tempfile.TemporaryDirectory() as scratch:
        copy = Project(Path(scratch))
        shutil.copytree(project.patches, copy.patches)
        # prune: patches/local, and the series left out, are not applied
        result = series.export(tree, copy, prune=True)
        changed = [
            p.relative_to(copy.root)
            for p in result.written + result.removed
            if p.parent.name in applied and p.parent.parent == copy.patches
        ]
    if changed:
        names = ", ".join(str(p) for p in changed[:3])
        raise GrowstackError(
            f"the series applies but does not export back unchanged: {names} would change",
            "run `growstack apply` and `growstack export` in a work tree and commit the "
            "result, so that patches/ is what git format-patch writes",
            exit_code=Exit.EXPORT_DIFFERS,
        )


# -- 2. checkpatch -------------------------------------------------------------------


def checkpatch(
    tree: Path, patches: list[series.Patch], root: Path, status: Status, out: TextIO
) -> None:
    """scripts/checkpatch.pl --strict on each patch; every finding is printed."""
    script = tree / "scripts/checkpatch.pl"
    if not script.is_file():
        raise MissingDependency(
            f"{tree} has no scripts/checkpatch.pl", "check needs a Linux tree as its base"
        )
    env = deps.checkpatch_env(status)
    totals = [0, 0, 0]
    dirty: list[str] = []
    first = ""
    for number, patch in enumerate(patches, 1):
        status.update(
            f"checkpatch --strict {number}/{len(patches)}: {patch.name}", topic="checkpatch"
        )
        result = subprocess.run(
            ["perl", str(script), "--strict", "--terse", "--show-types", str(patch.path)],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        )
        shown = _relative(patch.path, root)
        matches = [m for m in map(_FINDING.match, result.stdout.splitlines()) if m]
        total = next((m for m in map(_TOTAL.match, result.stdout.splitlines()) if m), None)
        if total:
            totals = [t + int(n) for t, n in zip(totals, total.groups(), strict=True)]
        answers = {}
        if any(m.group(4) == PATH_CHANGES for m in matches):
            answers[PATH_CHANGES] = answer_path_changes(tree, patch.path, env)
        if any(m.group(4) == UNKNOWN_COMMIT for m in matches) and not has_history(tree):
            answers[UNKNOWN_COMMIT] = "the base has no git history to look commit ids up in"
        answered = [m for m in matches if answers.get(m.group(4))]
        for m in answered:
            print(f"{shown}:{m.group(2)}: answered {m.group(4)}: {answers[m.group(4)]}", file=out)
            totals[1] -= 1
        findings = [
            f"{shown}:{m.group(2)}: {m.group(3)}: {m.group(5)}"
            for m in matches
            if m not in answered
        ]
        if findings or (result.returncode != 0 and not answered):
            dirty.append(patch.name)
            lines = findings or [
                f"{shown}: checkpatch.pl exited {result.returncode}: "
                f"{_last_line(result.stderr or result.stdout)}"
            ]
            first = first or lines[0]
            status.clear()
            for line in lines:
                print(line, file=out)
    status.clear()
    if dirty:
        errors, warnings, checks = totals
        raise CheckFailed(
            f"checkpatch --strict: {errors} error(s), {warnings} warning(s), "
            f"{checks} check(s) in {len(dirty)} of {len(patches)} patch(es); "
            f"first: {first}",
            "fix the commits in a work tree, `growstack export`, and check again",
        )


def answered_everywhere(tree: Path, patches: list[Path], env: dict[str, str]) -> list[str]:
    """The checkpatch types whose question is answered for every one of `patches`,
    for tools that can only ignore a type as a whole (b4 prep --check)."""
    types = []
    added = [p for p in patches if changed_files(p.read_text(errors="replace")) != []]
    if added and all(answer_path_changes(tree, p, env) for p in added):
        types.append(PATH_CHANGES)
    if not has_history(tree):
        types.append(UNKNOWN_COMMIT)
    return types


def has_history(tree: Path) -> bool:
    """Whether the base commit has parents, i.e. upstream history to check commit ids in."""
    result = subprocess.run(
        ["git", "rev-list", "--count", BASE_TAG], cwd=tree, capture_output=True, text=True
    )
    return result.returncode == 0 and result.stdout.strip() != "1"


def changed_files(patch_text: str) -> list[str] | None:
    """The files a patch adds or renames to; None if it deletes one."""
    files = []
    for block in re.split(r"^diff --git ", patch_text, flags=re.M)[1:]:
        if re.search(r"^deleted file mode ", block, re.M):
            return None
        added = re.search(r"^new file mode [\s\S]*?^\+\+\+ b/(\S+)", block, re.M)
        renamed = re.search(r"^rename to (\S+)", block, re.M)
        match = added or renamed
        if match:
            files.append(match.group(1))
    return files


def maintainers_sections(tree: Path, path: str, env: dict[str, str]) -> list[str]:
    """The MAINTAINERS sections get_maintainer.pl finds for `path`, less THE REST."""
    result = subprocess.run(
        [
            "perl",
            "scripts/get_maintainer.pl",
            "--nogit",
            "--nogit-fallback",
            "--no-rolestats",
            "--sections",
            "-f",
            path,
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    return [
        line
        for line in result.stdout.splitlines()
        if line.strip() and not re.match(r"^[A-Z]:\t", line) and line != "THE REST"
    ]


def answer_path_changes(tree: Path, patch: Path, env: dict[str, str]) -> str | None:
    """Why a patch's new files need no MAINTAINERS change, if that is so.

    checkpatch warns about every added, moved or deleted file unless the
    patch touches MAINTAINERS, and asks whether it needs updating. It does not
    when an existing section other than THE REST already covers each file:
    get_maintainer.pl, run in the tree with the series applied, says so.
    """
    files = changed_files(patch.read_text(errors="replace"))
    if not files:
        return None
    sections = {path: maintainers_sections(tree, path, env) for path in files}
    if not all(sections.values()):
        return None
    return "; ".join(f"{path} is covered by {names[0]}" for path, names in sections.items())


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


# -- 3. every prefix builds ----------------------------------------------------------


def first_error(lines: list[str]) -> str:
    """The line that says why a kernel build failed: the compiler's, else make's."""
    for pattern in (
        r": (?:fatal )?error: |undefined reference to|: multiple definition of",
        r"\*\*\*|Error \d+",
    ):
        for line in lines:
            if re.search(pattern, line):
                return line.strip()
    return _last_line("\n".join(lines))


def _build_key(tree_id: str, config_text: str, target: targets.Target) -> str:
    # No engine in the key: every engine builds the same kernel (build.Engine).
    digest = hashlib.sha256(config_text.encode()).hexdigest()[:16]
    return f"{target.arch} {target.cross_compile or '-'} {tree_id} {digest}"


def require_toolchain(target: targets.Target, status: Status) -> None:
    """Install what building `target` needs (before configuring: kconfig asks the compiler)."""
    deps.ensure(
        list(deps.BUILD_PACKAGES) + target.packages, status, why=f"building {target.arch} kernels"
    )
    if not shutil.which(f"{target.cross_compile or ''}gcc"):
        raise MissingDependency(
            f"no C compiler: {target.cross_compile or ''}gcc is not on PATH",
            "install build-essential (or the cross gcc for this arch)",
        )


def build_prefixes(
    tree: Path,
    commits: list[tuple[str, series.Patch]],
    target: targets.Target,
    build_dir: Path,
    status: Status,
    engine: build.Engine = build.MAKE,
) -> tuple[int, int]:
    """Build the tree at each commit in turn; (built, reused). Raises at the first failure.

    `build_dir` holds the .config for the whole series; each prefix starts
    from it and `make olddefconfig` drops what that prefix does not have yet.
    """
    repo = open_repo(tree)
    config_text = (build_dir / ".config").read_text()
    record = build_dir / _BUILT_RECORD
    done = set(record.read_text().splitlines()) if record.is_file() else set()
    log_path = build_dir / "growstack-check.log"  # of the last prefix built
    built = reused = 0
    try:
        for number, (commit, patch) in enumerate(commits, 1):
            key = _build_key(repo.commit(commit).tree.hexsha, config_text, target)
            if key in done:
                reused += 1
                continue
            status.log(
                f"check: building patch {number}/{len(commits)} ({patch.name}) on {target.arch}"
            )
            repo.git.checkout("--quiet", "--detach", commit)
            (build_dir / ".config").write_text(config_text)
            try:
                engine.build(tree, build_dir, target, status, log_path)
            except BuildFailed:
                lines = log_path.read_text(errors="replace").splitlines()
                error = first_error(lines).replace(f"{tree}/", "")
                raise BuildFailed(
                    f"patch {number}/{len(commits)} {patch.name} breaks the "
                    f"{target.arch} build: {error}",
                    f"fix it so the series stays bisectable; full log: {log_path}",
                ) from None
            built += 1
            done.add(key)
            with open(record, "a") as keys:
                keys.write(key + "\n")
    finally:
        status.clear()
        repo.git.checkout("--quiet", "--force", WORK_BRANCH)
        (build_dir / ".config").write_text(config_text)
    return built, reused


# -- the command ---------------------------------------------------------------------


def checked(project: Project, only: str | None) -> list[series.Patch]:
    """The patches `check` judges: those of `only`, or of every series."""
    if only is None:
        return series.full_series(project, include_local=False)
    return series.read_series(layout.find(project, only).series_file)


def hygiene(ctx: pipeline.Context, tree: Path, only: str | None = None) -> int:
    """Steps 1 and 2 on `tree`, the release tree: re-export and checkpatch; the patch count."""
    mailed = checked(ctx.project, only)
    require_zero_export(tree, ctx.project, only)
    ctx.status.log(
        f"check: the {len(mailed)} mailed patch(es) apply on the base and export back unchanged"
    )
    checkpatch(tree, mailed, ctx.project.root, ctx.status, ctx.out)
    ctx.status.log(f"check: checkpatch --strict is clean on all {len(mailed)} patch(es)")
    return len(mailed)


def builds(
    ctx: pipeline.Context,
    tree: Path,
    arch: str,
    fragments: list[str] | None,
    only: str | None = None,
    engine: build.Engine = build.MAKE,
) -> tuple[int, int]:
    """Step 3 for `arch`: every prefix of the series checked builds; (built, reused).

    With `only`, the series it depends on are below it in `tree` and are not
    built one by one: they are the base that series is mailed for.
    """
    started = time.monotonic()
    applied = series.full_series(ctx.project, include_local=False, only=only)
    mailed = checked(ctx.project, only)
    commits = [
        c.hexsha for c in open_repo(tree).iter_commits(f"{BASE_TAG}..{WORK_BRANCH}", reverse=True)
    ]
    assert len(commits) == len(applied), "the release tree must carry exactly the series"
    build_dir = pipeline.build_dir(ctx, tree, f"check-{arch}")
    target = targets.resolve(arch, tree, ctx.project)
    require_toolchain(target, ctx.status)
    pipeline.configure(
        ctx, tree, arch, fragments or default_fragments(ctx, arch, only), build_dir, "olddefconfig"
    )
    own = commits[len(commits) - len(mailed) :]
    built, reused = build_prefixes(
        tree, list(zip(own, mailed, strict=True)), target, build_dir, ctx.status, engine
    )
    ctx.status.log(
        f"check: every prefix of {only or 'the series'} builds on {arch} ({built} built, "
        f"{reused} already built before), "
        f"{human_seconds(time.monotonic() - started)}"
    )
    return built, reused


def run(
    ctx: pipeline.Context,
    tree: Path,
    *,
    arches: list[str],
    fragments: list[str] | None,
    build: bool = True,
    only: str | None = None,
    engine: build.Engine = build.MAKE,
) -> Report:
    """All checks on `tree`, the release tree with the mailed series applied."""
    started = time.monotonic()
    report = Report(patches=hygiene(ctx, tree, only))
    report.seconds["apply, export, checkpatch"] = time.monotonic() - started
    for arch in arches if build else []:
        started = time.monotonic()
        report.built[arch], report.reused[arch] = builds(ctx, tree, arch, fragments, only, engine)
        report.seconds[f"{arch} builds"] = time.monotonic() - started
    return report


def default_fragments(ctx: pipeline.Context, arch: str, only: str | None = None) -> list[str]:
    """The series' own fragments for `arch` (`only`: those of it and what it depends
    on): what they add, without every KUnit test in the kernel; kunit.py's default
    when there are none."""
    names = None if only is None else {s.name for s in layout.with_dependencies(ctx.project, only)}
    return available(ctx.project, arch, names, variants=False) or [KERNEL_DEFAULT]
