"""`growstack check` on tiny trees: re-export, checkpatch's findings, build errors.

The prefix builds need a kernel: they are tested in test_release_kernel.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from growstack import check, pipeline, series
from growstack.errors import CheckFailed, Exit, GrowstackError

from helpers import commit_change, git
from release_helpers import LOCAL_SUBJECT, commit_project, context, make_release, status
from test_cli import assert_one_line_error, growstack

# Answers like checkpatch.pl --strict --terse: findings on patch lines, a total, exit 1.
NOISY_CHECKPATCH = """#!/bin/sh
if grep -q stack "$3"; then
    echo "$3:9: ERROR: trailing whitespace"
    echo "$3:12: CHECK: Alignment should match open parenthesis"
    echo "total: 1 errors, 0 warnings, 1 checks, 12 lines checked"
    exit 1
fi
echo "total: 0 errors, 0 warnings, 0 checks, 12 lines checked"
"""


def run_check(paths: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    return growstack("--project", str(paths["project"]), "--workdir", str(paths["work"]),
                     "check", "--tree", str(paths["release"]), "--no-build", *args)


def test_a_clean_series_passes(tmp_path: Path) -> None:
    paths = make_release(tmp_path)
    result = run_check(paths)
    assert result.returncode == 0, result.stderr
    assert "check passed: 2 patch(es)" in result.stdout
    assert "apply on the base and export back unchanged" in result.stderr


def test_a_patch_that_does_not_export_back_unchanged(tmp_path: Path) -> None:
    paths = make_release(tmp_path)
    patch = paths["project"] / "patches" / "mm-add-stack.patch"
    # git am takes it as it is, but export writes the all-zero hash growstack pins.
    patch.write_text(patch.read_text().replace("From 0000000000000000000000000000000000000000",
                                               "From 1234567890123456789012345678901234567890"))
    commit_project(context(paths).project, "a patch not made by export")
    result = run_check(paths)
    assert_one_line_error(result, Exit.EXPORT_DIFFERS, "patches/mm-add-stack.patch would change")


def test_checkpatch_findings_are_listed_and_counted(tmp_path: Path) -> None:
    paths = make_release(tmp_path, checkpatch=NOISY_CHECKPATCH)
    result = run_check(paths)
    assert_one_line_error(result, Exit.CHECK_FAILED, "1 error(s), 0 warning(s), 1 check(s) in "
                          "1 of 2 patch(es)", "first: patches/mm-add-stack.patch:9: ERROR: "
                          "trailing whitespace")
    assert result.stdout.splitlines() == [
        "patches/mm-add-stack.patch:9: ERROR: trailing whitespace",
        "patches/mm-add-stack.patch:12: CHECK: Alignment should match open parenthesis"]


def test_checkpatch_that_fails_without_findings_is_not_clean(tmp_path: Path) -> None:
    paths = make_release(tmp_path, checkpatch="#!/bin/sh\necho 'cannot run' >&2\nexit 2\n")
    ctx = context(paths)
    tree = pipeline.release_tree(ctx, paths["release"])
    patches = series.read_series(ctx.project.patches / "series")
    with pytest.raises(CheckFailed, match=r"checkpatch.pl exited 2: cannot run"):
        check.checkpatch(tree, patches, ctx.project.root, status(), ctx.out)


def test_export_check_needs_the_applied_series(tmp_path: Path) -> None:
    paths = make_release(tmp_path)
    ctx = context(paths)
    with pytest.raises(GrowstackError) as err:  # the release tree does not carry it yet
        check.require_zero_export(paths["release"], ctx.project)
    assert err.value.exit_code == Exit.EXPORT_DIFFERS
    check.require_zero_export(pipeline.release_tree(ctx, paths["release"]), ctx.project)


@pytest.mark.parametrize("lines, expected", [
    (["  CC      mm/a.o", "mm/a.c:3:9: error: 'x' undeclared", "make[2]: *** [mm/a.o] Error 1"],
     "mm/a.c:3:9: error: 'x' undeclared"),
    (["  LD      vmlinux", "ld: mm/a.o: undefined reference to `grow'", "make: *** Error 2"],
     "ld: mm/a.o: undefined reference to `grow'"),
    (["  CC      mm/a.o", "make[1]: *** [Makefile:224: __sub-make] Error 2"],
     "make[1]: *** [Makefile:224: __sub-make] Error 2"),
    (["nothing useful", "the last line"], "the last line"),
])
def test_first_error_of_a_failed_build(lines: list[str], expected: str) -> None:
    assert check.first_error(lines) == expected


def test_the_release_tree_gets_the_patches_as_they_are_now(tmp_path: Path) -> None:
    paths = make_release(tmp_path)
    ctx = context(paths)
    pipeline.release_tree(ctx, paths["release"])
    # A whitespace change keeps the patch-id, but must still reach the tree.
    git(paths["dev"], "reset", "-q", "--hard", "HEAD~2")
    commit_change(paths["dev"], "mm/stack.c", "int stack; \n", "mm: add stack")
    commit_change(paths["dev"], "mm/local.c", "int local;\n", LOCAL_SUBJECT)
    series.export(paths["dev"], ctx.project)
    commit_project(ctx.project, "trailing whitespace")
    path = pipeline.release_tree(ctx, paths["release"])
    assert (path / "mm" / "stack.c").read_text() == "int stack; \n"
    check.require_zero_export(path, ctx.project)
