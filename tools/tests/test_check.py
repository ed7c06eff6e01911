"""`growstack check` on tiny trees: re-export, checkpatch's findings, build errors.

The prefix builds need a kernel: they are tested in test_release_kernel.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from growstack import pipeline
from growstack.errors import CheckFailed, Exit, GrowstackError
from growstack.release import check
from growstack.series import series

from helpers import SERIES, commit_change, git
from release_helpers import LOCAL_SUBJECT, commit_project, context, make_release, status
from test_cli import assert_one_line_error, growstack

# Answers like checkpatch.pl --strict --terse: findings on patch lines, a total, exit 1.
NOISY_CHECKPATCH = """#!/bin/sh
for patch; do :; done
if grep -q stack "$patch"; then
    echo "$patch:9: ERROR:TRAILING_WHITESPACE: trailing whitespace"
    echo "$patch:12: CHECK:PARENTHESIS_ALIGNMENT: Alignment should match open parenthesis"
    echo "total: 1 errors, 0 warnings, 1 checks, 12 lines checked"
    exit 1
fi
echo "total: 0 errors, 0 warnings, 0 checks, 12 lines checked"
"""


def run_check(paths: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    return growstack(
        "--project",
        str(paths["project"]),
        "--workdir",
        str(paths["work"]),
        "check",
        "--tree",
        str(paths["release"]),
        "--no-build",
        *args,
    )


def test_a_clean_series_passes(tmp_path: Path) -> None:
    paths = make_release(tmp_path)
    result = run_check(paths)
    assert result.returncode == 0, result.stderr
    assert "check passed: all series, 2 patch(es)" in result.stdout
    assert "apply on the base and export back unchanged" in result.stderr


def test_a_patch_that_does_not_export_back_unchanged(tmp_path: Path) -> None:
    paths = make_release(tmp_path)
    patch = paths["project"] / "patches" / SERIES / "mm-add-stack.patch"
    # git am takes it as it is, but export writes the all-zero hash growstack pins.
    patch.write_text(
        patch.read_text().replace(
            "From 0000000000000000000000000000000000000000",
            "From 1234567890123456789012345678901234567890",
        )
    )
    commit_project(context(paths).project, "a patch not made by export")
    result = run_check(paths)
    assert_one_line_error(
        result, Exit.EXPORT_DIFFERS, "patches/tiny/mm-add-stack.patch would change"
    )


def test_checkpatch_findings_are_listed_and_counted(tmp_path: Path) -> None:
    paths = make_release(tmp_path, checkpatch=NOISY_CHECKPATCH)
    result = run_check(paths)
    assert_one_line_error(
        result,
        Exit.CHECK_FAILED,
        "1 error(s), 0 warning(s), 1 check(s) in 1 of 2 patch(es)",
        "first: patches/tiny/mm-add-stack.patch:9: ERROR: trailing whitespace",
    )
    assert result.stdout.splitlines() == [
        "patches/tiny/mm-add-stack.patch:9: ERROR: trailing whitespace",
        "patches/tiny/mm-add-stack.patch:12: CHECK: Alignment should match open parenthesis",
    ]


def test_checkpatch_that_fails_without_findings_is_not_clean(tmp_path: Path) -> None:
    paths = make_release(tmp_path, checkpatch="#!/bin/sh\necho 'cannot run' >&2\nexit 2\n")
    ctx = context(paths)
    tree = pipeline.release_tree(ctx, paths["release"])
    patches = series.read_series(ctx.project.patches / SERIES / "series")
    with pytest.raises(CheckFailed, match=r"checkpatch.pl exited 2: cannot run"):
        check.checkpatch(tree, patches, ctx.project.root, status(), ctx.out)


def test_export_check_needs_the_applied_series(tmp_path: Path) -> None:
    paths = make_release(tmp_path)
    ctx = context(paths)
    with pytest.raises(GrowstackError) as err:  # the release tree does not carry it yet
        check.require_zero_export(paths["release"], ctx.project)
    assert err.value.exit_code == Exit.EXPORT_DIFFERS
    check.require_zero_export(pipeline.release_tree(ctx, paths["release"]), ctx.project)


@pytest.mark.parametrize(
    "lines, expected",
    [
        (
            [
                "  CC      mm/a.o",
                "mm/a.c:3:9: error: 'x' undeclared",
                "make[2]: *** [mm/a.o] Error 1",
            ],
            "mm/a.c:3:9: error: 'x' undeclared",
        ),
        (
            ["  LD      vmlinux", "ld: mm/a.o: undefined reference to `grow'", "make: *** Error 2"],
            "ld: mm/a.o: undefined reference to `grow'",
        ),
        (
            ["  CC      mm/a.o", "make[1]: *** [Makefile:224: __sub-make] Error 2"],
            "make[1]: *** [Makefile:224: __sub-make] Error 2",
        ),
        (["nothing useful", "the last line"], "the last line"),
    ],
)
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


NEW_FILE = """diff --git a/arch/um/include/asm/current.h b/arch/um/include/asm/current.h
new file mode 100644
index 000000000000..111111111111
--- /dev/null
+++ b/arch/um/include/asm/current.h
@@ -0,0 +1 @@
+#define current get_current()
diff --git a/arch/um/kernel/process.c b/arch/um/kernel/process.c
index 222222222222..333333333333 100644
--- a/arch/um/kernel/process.c
+++ b/arch/um/kernel/process.c
@@ -1 +1 @@
-int a;
+int b;
"""
RENAME = """diff --git a/mm/old.c b/mm/new.c
similarity index 100%
rename from mm/old.c
rename to mm/new.c
"""
DELETE = """diff --git a/mm/gone.c b/mm/gone.c
deleted file mode 100644
index 444444444444..000000000000
"""


def test_changed_files_are_the_new_and_renamed_ones() -> None:
    assert check.changed_files(NEW_FILE) == ["arch/um/include/asm/current.h"]
    assert check.changed_files(RENAME) == ["mm/new.c"]
    assert check.changed_files("diff --git a/x b/x\nindex 1..2\n--- a/x\n+++ b/x\n") == []
    assert check.changed_files(NEW_FILE + DELETE) is None  # a deletion is never answered


# Like get_maintainer.pl --sections: arch/um/ has a section, everything has THE REST.
GET_MAINTAINER = """#!/usr/bin/perl
my $file = $ARGV[-1];
print "USER-MODE LINUX (UML)\\nM:\\tSomeone <someone\\@example.org>\\nF:\\tarch/um/\\n\\n"
    if $file =~ m{^arch/um/};
print "THE REST\\nM:\\tLinus Torvalds <torvalds\\@linux-foundation.org>\\n";
"""


@pytest.mark.parametrize(
    "path, answer",
    [
        (
            "arch/um/include/asm/current.h",
            "arch/um/include/asm/current.h is covered by USER-MODE LINUX (UML)",
        ),
        ("mm/unmaintained.c", None),
    ],
)
def test_a_new_file_needs_no_maintainers_change_only_if_a_section_covers_it(
    tmp_path: Path, path: str, answer: str | None
) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "get_maintainer.pl").write_text(GET_MAINTAINER)
    patch = tmp_path / "new.patch"
    patch.write_text(NEW_FILE.replace("arch/um/include/asm/current.h", path))
    assert check.answer_path_changes(tmp_path, patch, dict(os.environ)) == answer


UNKNOWN_COMMIT_CHECKPATCH = """#!/bin/sh
for patch; do :; done
echo "$patch:7: WARNING:UNKNOWN_COMMIT_ID: Unknown commit id '5d698966fa7b'," \
     "maybe rebased or not pulled?"
echo "total: 0 errors, 1 warnings, 0 checks, 12 lines checked"
exit 1
"""


def test_unknown_commit_ids_are_answered_on_a_base_without_history(tmp_path: Path) -> None:
    paths = make_release(tmp_path, checkpatch=UNKNOWN_COMMIT_CHECKPATCH)
    result = run_check(paths)
    assert result.returncode == 0, result.stderr
    assert (
        "answered UNKNOWN_COMMIT_ID: the base has no git history to look commit ids up "
        "in" in result.stdout
    )
    assert not check.has_history(paths["release"])
