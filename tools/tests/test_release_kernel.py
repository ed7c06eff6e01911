"""check and send on the real pinned base: checkpatch, every prefix builds, b4, round trip.

The builds take parisc-map-stack alone, on UML: CI's budget has room for its
six prefixes, not for the nineteen of both series (about 30 minutes here;
`growstack check --engine tuxmake` is that long form, see
Documentation/performance.md). They share the test workdir's release tree and
its check build directory: the first check builds the series' UML
configuration once, with tuxmake (ccache on); the bad-build case puts two
small patches on top of that series, so only the prefixes it adds are built,
with tuxmake too, and each recompiles one file (make's command lines differ
from tuxmake's, so switching engines in one build directory would recompile
everything). parisc's KUnit test covers growstack's own make.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import mailbox
import shutil
import subprocess
from collections.abc import Callable
from email.utils import getaddresses
from pathlib import Path

import pytest

from growstack import pipeline
from growstack.engines.tuxmake import TUXMAKE
from growstack.errors import CheckFailed, Exit, GrowstackError
from growstack.project import Project
from growstack.release import check, mail
from growstack.series import layout, series
from growstack.source import tree

from helpers import commit_change, git

pytestmark = pytest.mark.kernel

# b4's own get_maintainer.pl options for --auto-to-cc, maintainers and lists together.
GET_MAINTAINER = ["--nogit", "--nogit-fallback", "--nogit-chief-penguins", "--norolestats"]

# The series whose every prefix CI builds: it depends on nothing.
BUILT = "parisc-map-stack"


def mailed(project: Project) -> list[series.Patch]:
    """Every series' patches, in the order `check` and `apply` take them."""
    return series.full_series(project, include_local=False)


def copy_project(project: Project, root: Path, only: str | None = None) -> Project:
    """A copy of `project`; with `only`, without the series that one does not need."""
    copy = Project(root)
    shutil.copytree(project.patches, copy.patches)
    shutil.copytree(project.kunit, copy.kunit)
    if only is not None:
        kept = {s.name for s in layout.with_dependencies(copy, only)}
        for each in layout.discover(copy):
            if each.name not in kept:
                shutil.rmtree(each.directory)
    return copy


def with_commits_on_top(
    ctx: pipeline.Context,
    root: Path,
    changes: list[tuple[str, str, str]],
    only: str | None = None,
) -> pipeline.Context:
    """A copy of the project (with `only`: that series and what it depends on) whose
    last series ends in commits of (file, appended, subject), exported by growstack
    from a scratch branch of the release tree."""
    copy = copy_project(ctx.project, root, only)
    path = pipeline.release_tree(ctx, only=only)
    repo = tree.open_repo(path)
    repo.git.checkout("--quiet", "-B", "growstack-test-extra")
    try:
        for rel, appended, subject in changes:
            commit_change(path, rel, (path / rel).read_text() + appended, subject)
        series.export(path, copy, prune=True)
    finally:
        repo.git.checkout("--quiet", "--force", tree.WORK_BRANCH)
        repo.git.branch("-D", "growstack-test-extra")
    return pipeline.Context(copy, ctx.workspace, ctx.status, out=io.StringIO())


def test_check_takes_the_parisc_series_alone(kernel_context: pipeline.Context) -> None:
    """parisc-map-stack depends on nothing: it applies, re-exports and passes
    checkpatch on the bare base, without dynamic-stacks."""
    name = "parisc-map-stack"
    path = pipeline.release_tree(kernel_context, only=name)
    own = series.read_series(layout.find(kernel_context.project, name).series_file)
    carried = git(path, "log", "--reverse", "--format=%s", f"{tree.BASE_TAG}..{tree.WORK_BRANCH}")
    assert carried.splitlines() == [series.subject(p.path.read_text()) for p in own]
    assert check.hygiene(kernel_context, path, name) == len(own)


def test_every_prefix_builds_with_tuxmake_and_a_rerun_builds_nothing(
    kernel_context: pipeline.Context,
) -> None:
    """CI's real tuxmake build: every prefix, the first from nothing, the rest
    incrementally."""
    path = pipeline.release_tree(kernel_context, only=BUILT)
    count = len(series.read_series(layout.find(kernel_context.project, BUILT).series_file))
    built, reused = check.builds(kernel_context, path, "um", None, BUILT, TUXMAKE)
    assert built + reused == count
    if built:  # a warm workdir may hold every prefix already, built by any engine
        output = pipeline.build_dir(kernel_context, path, "check-um") / "tuxmake"
        results = json.loads((output / "metadata.json").read_text())["results"]
        assert results["status"] == "PASS" and results["targets"]["kernel"]["status"] == "PASS"
    assert check.builds(kernel_context, path, "um", None, BUILT, TUXMAKE) == (0, count)
    repo = tree.open_repo(path)
    assert repo.active_branch.name == tree.WORK_BRANCH and not repo.is_dirty()


def fails(step: Callable[[], object], code: Exit, pattern: str, path: Path) -> None:
    """`step` must fail with `code` and one line matching `pattern`, and leave the
    release tree `path` on its branch, clean."""
    with pytest.raises(GrowstackError, match=pattern) as err:
        step()
    assert err.value.exit_code == code and "\n" not in str(err.value)
    repo = tree.open_repo(path)
    assert repo.active_branch.name == tree.WORK_BRANCH and not repo.is_dirty()


def test_check_names_the_patch_that_breaks_the_build(
    kernel_context: pipeline.Context, tmp_path: Path
) -> None:
    ctx = with_commits_on_top(
        kernel_context,
        tmp_path / "project",
        [
            (
                "init/main.c",
                "\n/* growstack check: a change that builds */\n",
                "init: add a comment",
            ),
            (
                "init/main.c",
                "\nstatic int growstack_check_breaks = GROWSTACK_UNDEFINED;\n",
                "init: add a variable",
            ),
        ],
        only=BUILT,
    )
    count = len(mailed(ctx.project))
    path = pipeline.release_tree(ctx)
    fails(
        lambda: check.builds(ctx, path, "um", None, BUILT, TUXMAKE),
        Exit.BUILD_FAILED,
        rf"patch {count}/{count} init-add-a-variable.patch breaks the um build: "
        r"init/main\.c:\d+:\d+: error: .GROWSTACK_UNDEFINED. undeclared",
        path,
    )


def test_checkpatch_errors_stop_the_check(kernel_context: pipeline.Context, tmp_path: Path) -> None:
    ctx = with_commits_on_top(
        kernel_context,
        tmp_path / "project",
        [
            (
                "init/main.c",
                "\n/* growstack check: trailing whitespace */ \n",
                "init: add a comment",
            ),
        ],
    )
    path = pipeline.release_tree(ctx)
    added = [p for p in mailed(ctx.project) if p.name == "init-add-a-comment.patch"]
    fails(
        lambda: check.checkpatch(path, added, ctx.project.root, ctx.status, ctx.out),
        Exit.CHECK_FAILED,
        r"checkpatch --strict: 1 error\(s\), 0 warning\(s\), 0 check\(s\) "
        r"in 1 of 1 patch\(es\); first: "
        r"patches/dynamic-stacks/init-add-a-comment\.patch:\d+: ERROR: trailing whitespace",
        path,
    )
    assert isinstance(ctx.out, io.StringIO)
    assert "ERROR: trailing whitespace" in ctx.out.getvalue()


@pytest.fixture
def tested(kernel_context: pipeline.Context, series_tree: Path) -> Path:
    """results/um.json of a passing run of the series: the evidence send quotes."""
    code = pipeline.test(kernel_context, series_tree, "um")
    assert code == Exit.OK
    return kernel_context.workspace / "results" / "um.json"


def clean_prefix(ctx: pipeline.Context) -> int:
    """How many patches at the start of the series checkpatch --strict passes."""
    path = pipeline.release_tree(ctx)
    for index, patch in enumerate(mailed(ctx.project)):
        try:
            check.checkpatch(path, [patch], ctx.project.root, ctx.status, io.StringIO())
        except CheckFailed:
            return index
    return len(mailed(ctx.project))


def mail_only(project: Project, count: int) -> layout.Series:
    """Mail the first `count` patches of the first series, the only one left; all
    others become test-environment patches, so the results of every series
    together are still this version's evidence."""
    first, *rest = layout.discover(project)
    patches = series.read_series(first.series_file)
    later = patches[count:] + [p for s in rest for p in series.read_series(s.series_file)]
    local = series.read_series(project.local_patches / "series", local=True)
    for patch in later:
        shutil.move(patch.path, project.local_patches / patch.name)
    for s in rest:
        shutil.rmtree(s.directory)
    first.series_file.write_text("".join(f"{p.name}\n" for p in patches[:count]))
    (project.local_patches / "series").write_text("".join(f"{p.name}\n" for p in later + local))
    return first


def test_send_writes_mails_that_round_trip(
    kernel_context: pipeline.Context, tested: Path, tmp_path: Path
) -> None:
    count = clean_prefix(kernel_context)
    assert count > 0, "send needs a checkpatch-clean first patch (see growstack check)"
    project = copy_project(kernel_context.project, tmp_path / "project")
    chosen = mail_only(project, count)
    chosen.cover_letter.write_text(
        "Subject: the growstack series\nVersion: 1\n\nA letter for the test.\n"
    )
    git(project.root, "init", "-q")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", "the series")
    ctx = pipeline.Context(project, kernel_context.workspace, kernel_context.status)
    sent = mail.send(ctx, output=tmp_path / "mails", sign=False)
    patches = mailed(project)
    messages = [
        email.message_from_bytes(m.read_bytes(), policy=email.policy.default) for m in sent.mails
    ]
    assert len(messages) == len(patches) + (1 if len(patches) > 1 else 0)
    subjects = [series.subject(p.path.read_text()) for p in patches]
    assert [str(m["Subject"]).split("] ", 1)[1] for m in messages[-len(patches) :]] == subjects
    # Recipients: everyone get_maintainer.pl names for the patches.
    for patch in patches:
        named = subprocess.run(
            ["perl", "scripts/get_maintainer.pl", *GET_MAINTAINER, str(patch.path)],
            cwd=sent.tree,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert {address for _, address in getaddresses(named)} <= set(sent.recipients)
    # The evidence is the run's own counts.
    first = messages[0].get_content()
    counts = json.loads(tested.read_text())["counts"]
    row = next(line.split() for line in first.splitlines() if line.startswith("  um "))
    assert row[1:] == [
        str(counts[k]) for k in ("total", "passed", "failed", "skipped", "crashed", "timeout")
    ]
    # Round trip: b4 shazam on a fresh base tree gives the tree of apply --no-local.
    box = mailbox.mbox(tmp_path / "series.mbox")
    for message in messages:
        box.add(message)
    box.flush()
    spec = tree.BaseSpec.load(project.base_file)
    fresh_dir = kernel_context.workspace / "trees" / "round-trip"
    shutil.rmtree(fresh_dir, ignore_errors=True)
    fresh, _ = tree.get_tree(
        spec, tree.Source(), kernel_context.workspace, fresh_dir, kernel_context.status
    )
    try:
        shazam = subprocess.run(
            [mail.b4_command(), "--offline-mode", "shazam", "-m", str(tmp_path / "series.mbox")],
            cwd=fresh,
            capture_output=True,
            text=True,
        )
        assert shazam.returncode == 0, shazam.stderr[-2000:]
        by_mail = git(fresh, "rev-parse", "HEAD^{tree}")
        git(fresh, "reset", "-q", "--hard", tree.BASE_TAG)
        pipeline.apply_series(ctx, fresh, include_local=False)
        by_apply = git(fresh, "rev-parse", "HEAD^{tree}")
    finally:
        shutil.rmtree(fresh_dir)
    print(f"round trip: by mail {by_mail}, by apply --no-local {by_apply}")
    assert by_mail == by_apply == sent.tree_hash
    assert sent.recorded and "Version: 2" in chosen.cover_letter.read_text()
