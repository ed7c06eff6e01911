"""Applying and exporting the series on a tiny tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from growstack import pipeline
from growstack.engines import kcidb
from growstack.errors import Exit, SeriesError
from growstack.progress import Status
from growstack.project import Project
from growstack.series import series
from growstack.source import tree

from helpers import SERIES, commit_change, git, make_project, make_tarball

SPEC = tree.BaseSpec(
    kernel="6.12.7", package="none", package_version="1", tarball="/none", sha256="00"
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def tarball(tmp_path: Path) -> Path:
    return make_tarball(tmp_path)


def new_tree(tarball: Path, workspace: Path, name: str) -> Path:
    path, _ = tree.get_tree(
        SPEC,
        tree.Source(tarball=str(tarball)),
        workspace,
        workspace / name,
        Status(tty=False, quiet_interval=1e9),
    )
    return path


@pytest.fixture
def developed(tmp_path: Path, tarball: Path, workspace: Path) -> tuple[Project, Path]:
    """A project whose series was exported from a tree with two commits."""
    project = Project(make_project(tmp_path / "project"))
    path = new_tree(tarball, workspace, "dev")
    commit_change(path, "mm/mmap.c", "int mmap;\nint grows;\n", "mm: add grows")
    commit_change(path, "mm/stack.c", "int stack;\n", "mm: add stack")
    series.export(path, project)
    return project, path


def test_the_patchset_hash_of_a_tree_is_that_of_its_exported_patches(
    developed: tuple[Project, Path],
) -> None:
    project, path = developed
    files = [patch.path.read_bytes() for patch in series.full_series(project)]
    assert len(files) == 2
    assert pipeline.evidence_metadata(path, project, "um")["patchset_hash"] == kcidb.patchset_hash(
        files
    )
    (path / "mm/mmap.c").write_text("uncommitted\n")
    assert pipeline.evidence_metadata(path, project, "um")["patchset_hash"] is None


def carried(path: Path) -> list[str]:
    return git(path, "log", "--format=%s", "--reverse", f"{tree.BASE_TAG}..HEAD").splitlines()


def test_export_writes_named_patches_and_series(developed: tuple[Project, Path]) -> None:
    project, _ = developed
    assert (project.patches / SERIES / "series").read_text().split() == [
        "mm-add-grows.patch",
        "mm-add-stack.patch",
    ]
    mail = (project.patches / SERIES / "mm-add-grows.patch").read_text()
    assert mail.startswith("From 0000000000000000000000000000000000000000 ")
    assert "Subject: [PATCH] mm: add grows" in mail
    assert "\n-- \n" not in mail  # no version signature


def test_apply_then_reapply_is_a_no_op(
    developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, _ = developed
    path = new_tree(tarball, workspace, "fresh")
    first = series.apply(path, series.full_series(project))
    assert first.applied == ["mm-add-grows.patch", "mm-add-stack.patch"]
    head = git(path, "rev-parse", "HEAD")
    second = series.apply(path, series.full_series(project))
    assert second.applied == [] and second.present == first.applied
    assert git(path, "rev-parse", "HEAD") == head
    assert carried(path) == ["mm: add grows", "mm: add stack"]


def test_apply_completes_a_partly_applied_tree(
    developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, _ = developed
    patches = series.full_series(project)
    path = new_tree(tarball, workspace, "fresh")
    series.apply(path, patches[:1])
    result = series.apply(path, patches)
    assert result.present == ["mm-add-grows.patch"] and result.applied == ["mm-add-stack.patch"]


def test_export_round_trip_has_zero_diff(
    developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, _ = developed
    before = {p.name: p.read_bytes() for p in project.patches.iterdir() if p.is_file()}
    path = new_tree(tarball, workspace, "fresh")
    series.apply(path, series.full_series(project))
    result = series.export(path, project)
    assert result.written == [] and result.removed == []
    after = {p.name: p.read_bytes() for p in project.patches.iterdir() if p.is_file()}
    assert after == before


def test_export_picks_up_an_edit(developed: tuple[Project, Path]) -> None:
    project, path = developed
    (path / "mm/stack.c").write_text("int stack = 1;\n")
    git(
        path,
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.org",
        "commit",
        "-qa",
        "--amend",
        "--no-edit",
    )
    result = series.export(path, project)
    assert result.written == [project.patches / SERIES / "mm-add-stack.patch"]
    assert "+int stack = 1;" in (project.patches / SERIES / "mm-add-stack.patch").read_text()


def test_export_names_new_files_the_trees_gitignore_hides(developed: tuple[Project, Path]) -> None:
    project, path = developed
    (path / ".gitignore").write_text("/*\n")  # as Debian's tarball has it
    git(path, "add", "-f", ".gitignore")
    git(
        path,
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.org",
        "commit",
        "-qm",
        "mm: ignore",
    )
    (path / "mm" / "forgotten.h").write_text("int forgotten;\n")
    assert git(path, "status", "--porcelain") == ""  # git status does not show it
    assert series.export(path, project).hidden == ["mm/forgotten.h"]
    git(path, "add", "-f", "mm/forgotten.h")
    git(
        path,
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.org",
        "commit",
        "-qm",
        "mm: add forgotten.h",
    )
    assert series.export(path, project).hidden == []


def test_local_patches_stay_local(
    tmp_path: Path, developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, path = developed
    commit_change(path, "test-env.c", "int qemu_quirk;\n", "test: work around the emulator")
    # Declare the new commit a test-environment patch, then export again.
    series.export(path, project)
    shutil.move(
        project.patches / SERIES / "test-work-around-the-emulator.patch", project.local_patches
    )
    (project.patches / SERIES / "series").write_text("mm-add-grows.patch\nmm-add-stack.patch\n")
    (project.local_patches / "series").write_text("test-work-around-the-emulator.patch\n")
    result = series.export(path, project)
    assert result.written == [] and result.removed == []
    fresh = new_tree(tarball, workspace, "fresh")
    series.apply(fresh, series.full_series(project))
    assert carried(fresh)[-1] == "test: work around the emulator"
    mailed = new_tree(tarball, workspace, "mailed")
    series.apply(mailed, series.full_series(project, include_local=False))
    assert "test: work around the emulator" not in carried(mailed)


def test_conflicting_patch_leaves_the_tree_as_it_was(
    developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, _ = developed
    path = new_tree(tarball, workspace, "other")
    # A base on which the second patch cannot apply: it already has another mm/stack.c.
    base = commit_change(path, "mm/stack.c", "int something_else;\n", "a different base")
    git(path, "tag", "-f", tree.BASE_TAG, base)
    with pytest.raises(
        SeriesError,
        match=r"mm-add-stack.patch does not apply: conflicts in "
        r"mm/stack.c",
    ) as err:
        series.apply(path, series.full_series(project))
    assert err.value.exit_code == Exit.SERIES_FAILED
    # All or nothing: the first patch, which applied, is gone again too.
    assert git(path, "rev-parse", "HEAD") == base
    assert git(path, "status", "--porcelain") == ""
    assert not (path / ".git/rebase-apply").exists()


def test_malformed_patch_is_refused(tmp_path: Path, tarball: Path, workspace: Path) -> None:
    project = Project(make_project(tmp_path / "project", ["broken.patch"]))
    (project.patches / SERIES / "broken.patch").write_text("this is not a patch\n")
    path = new_tree(tarball, workspace, "t")
    with pytest.raises(SeriesError, match="holds no diff"):
        series.apply(path, series.full_series(project))
    assert carried(path) == []


def test_mail_without_author_is_refused(
    tmp_path: Path, developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, _ = developed
    mail = project.patches / SERIES / "mm-add-grows.patch"
    mail.write_text(
        "\n".join(line for line in mail.read_text().splitlines() if not line.startswith("From: "))
        + "\n"
    )
    path = new_tree(tarball, workspace, "t")
    with pytest.raises(SeriesError, match="not a valid git format-patch mail"):
        series.apply(path, series.full_series(project))
    assert carried(path) == [] and git(path, "status", "--porcelain") == ""


def test_series_naming_a_missing_file(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path / "project", ["# comment", "", "gone.patch"]))
    with pytest.raises(SeriesError, match=r"series:3 names gone.patch, which does not exist"):
        series.full_series(project)


def test_series_with_unsupported_options(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path / "project", ["a.patch -p0"]))
    (project.patches / SERIES / "a.patch").write_text("")
    with pytest.raises(SeriesError, match="unsupported options -p0"):
        series.full_series(project)


def test_dirty_tree_is_refused_and_untouched(
    developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, _ = developed
    path = new_tree(tarball, workspace, "t")
    (path / "README").write_text("my unsaved work\n")
    with pytest.raises(SeriesError, match="uncommitted changes"):
        series.apply(path, series.full_series(project))
    assert (path / "README").read_text() == "my unsaved work\n"
    assert carried(path) == []


def test_tree_with_foreign_commits_is_refused(
    developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, _ = developed
    path = new_tree(tarball, workspace, "t")
    commit_change(path, "x.c", "int x;\n", "something not in the series")
    with pytest.raises(SeriesError, match="not the next patch"):
        series.apply(path, series.full_series(project))


def test_export_refuses_to_drop_patches(
    developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, _ = developed
    path = new_tree(tarball, workspace, "t")
    with pytest.raises(SeriesError, match="would remove 2 patch"):
        series.export(path, project)
    assert (project.patches / SERIES / "mm-add-grows.patch").is_file()
    series.export(path, project, prune=True)
    assert not (project.patches / SERIES / "mm-add-grows.patch").exists()
    assert (project.patches / SERIES / "series").read_text().strip() == ""


def test_export_refuses_uncommitted_patches_dir(developed: tuple[Project, Path]) -> None:
    project, path = developed
    git(project.root, "init", "-q")
    git(project.root, "add", "-A")
    git(project.root, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "init")
    edited = project.patches / SERIES / "mm-add-grows.patch"
    edited.write_text(edited.read_text() + "my note\n")
    with pytest.raises(SeriesError, match="patches has uncommitted changes"):
        series.export(path, project)
    assert edited.read_text().endswith("my note\n")


def test_older_series_applied_by_growstack_is_replaced(
    developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, dev = developed
    path = new_tree(tarball, workspace, "t")
    series.apply(path, series.full_series(project))
    # The series moves on: its second patch is revised.
    (dev / "mm/stack.c").write_text("int stack = 2;\n")
    git(
        dev,
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.org",
        "commit",
        "-qa",
        "--amend",
        "--no-edit",
    )
    series.export(dev, project)
    result = series.apply(path, series.full_series(project))
    assert result.replaced and result.applied == ["mm-add-grows.patch", "mm-add-stack.patch"]
    assert (path / "mm/stack.c").read_text() == "int stack = 2;\n"


def test_user_commits_on_an_applied_series_are_never_replaced(
    developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, _ = developed
    path = new_tree(tarball, workspace, "t")
    series.apply(path, series.full_series(project)[:1])
    mine = commit_change(path, "mine.c", "int mine;\n", "my own work")
    with pytest.raises(SeriesError, match="my own work"):
        series.apply(path, series.full_series(project))
    assert git(path, "rev-parse", "HEAD") == mine


def test_failed_replacement_restores_the_old_series(
    developed: tuple[Project, Path], tarball: Path, workspace: Path
) -> None:
    project, _ = developed
    path = new_tree(tarball, workspace, "t")
    series.apply(path, series.full_series(project))
    before = git(path, "rev-parse", "HEAD")
    # A new version of the second patch that modifies a file the base lacks.
    broken = project.patches / SERIES / "mm-add-stack.patch"
    broken.write_text(
        broken.read_text()
        .replace("new file mode 100644\n", "")
        .replace("--- /dev/null", "--- a/mm/stack.c")
    )
    with pytest.raises(SeriesError, match=r"mm-add-stack\.patch does not apply"):
        series.apply(path, series.full_series(project))
    assert git(path, "rev-parse", "HEAD") == before
    assert git(path, "status", "--porcelain") == ""
