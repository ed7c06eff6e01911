"""Several series in patches/: their order, the old flat layout, export routing,
and check and send of one series."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from growstack import pipeline
from growstack.engines import kcidb
from growstack.errors import Exit, SeriesError
from growstack.project import Project
from growstack.release import mail
from growstack.series import layout, series

from helpers import SERIES, commit_change, git, make_project, make_tarball
from release_helpers import commit_project, context, make_release, new_tree, tiny_tarball
from test_cli import assert_one_line_error, growstack


def add_series(project: Project, name: str, patches: list[str], depends: str = "") -> None:
    folder = project.patches / name
    folder.mkdir(exist_ok=True)
    (folder / "series").write_text("".join(f"{p}\n" for p in patches))
    header = f"Depends-on: {depends}\n" if depends else ""
    (folder / "cover-letter").write_text(f"Subject: {name}\n{header}Version: 1\n\nThe {name}.\n")


def names(project: Project) -> list[str]:
    return [s.name for s in layout.discover(project)]


def test_series_apply_after_what_they_depend_on_else_by_name(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path / "p"))
    add_series(project, "b-needs-c", [], depends="c")
    add_series(project, "c", [])
    add_series(project, "a", [])
    assert names(project) == ["a", "c", "b-needs-c", SERIES]
    (project.patches / "order").write_text("# first\ntiny\nb-needs-c\n")
    assert names(project) == [SERIES, "a", "c", "b-needs-c"]  # c waits for nothing listed
    assert [s.name for s in layout.with_dependencies(project, "b-needs-c")] == ["c", "b-needs-c"]


def test_a_cycle_is_named(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path / "p"))
    add_series(project, "one", [], depends="two")
    add_series(project, "two", [], depends="one")
    with pytest.raises(SeriesError, match="in a cycle: one → two → one") as err:
        layout.discover(project)
    assert err.value.exit_code == Exit.SERIES_FAILED


def test_an_unknown_dependency_is_named(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path / "p"))
    add_series(project, "one", [], depends="nowhere")
    result = growstack(
        "--project", str(project.root), "--workdir", str(tmp_path), "apply", "--tree", str(tmp_path)
    )
    assert_one_line_error(result, Exit.SERIES_FAILED, "Depends-on names nowhere")


def test_the_old_flat_layout_says_what_to_run_and_migrate_moves_it(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path / "p"))
    shutil.rmtree(project.patches / SERIES)
    (project.patches / "series").write_text("# mine\nmm-a.patch\n")
    (project.patches / "mm-a.patch").write_text("From 0\n")
    (project.patches / "cover-letter").write_text("Subject: a\nVersion: 3\n\nA.\n")
    base = ("--project", str(project.root), "--workdir", str(tmp_path / "w"))
    result = growstack(*base, "apply", "--tree", str(tmp_path))
    assert_one_line_error(result, Exit.OLD_LAYOUT, "run `growstack migrate NAME`")
    moved = growstack(*base, "migrate", "mine")
    assert moved.returncode == 0, moved.stderr
    assert sorted(p.name for p in (project.patches / "mine").iterdir()) == [
        "cover-letter",
        "mm-a.patch",
        "series",
    ]
    assert names(project) == ["mine"]
    assert_one_line_error(growstack(*base, "migrate", "again"), Exit.USAGE, "nothing to migrate")


def test_export_routes_each_commit_to_its_series(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path / "p"))
    dev = new_tree(tiny_tarball(tmp_path), tmp_path / "w", tmp_path / "dev")
    commit_change(dev, "mm/mmap.c", "int mmap;\nint grows;\n", "mm: add grows")
    commit_change(dev, "mm/stack.c", "int stack;\n", "mm: add stack")
    series.export(dev, project)
    # The second patch moves to a series of its own, which its last commit
    # below makes depend on the first.
    add_series(project, "a-stack", ["mm-add-stack.patch"], depends=SERIES)
    shutil.move(project.patches / SERIES / "mm-add-stack.patch", project.patches / "a-stack")
    (project.patches / SERIES / "series").write_text("mm-add-grows.patch\n")
    # A new commit goes where the commit before it went; an edit stays where it was.
    commit_change(dev, "mm/stack.h", "int stack_h;\n", "mm: add stack.h")
    commit_change(dev, "mm/mmap.c", "int mmap;\nint grows = 1;\n", "mm: grows is one")
    git(dev, "rebase", "-q", "--exec", "true", "HEAD~4")  # same commits, same order
    series.export(dev, project)
    listed = {
        s.name: [p.name for p in series.read_series(s.series_file)]
        for s in layout.discover(project)
    }
    assert listed == {
        "a-stack": ["mm-add-stack.patch", "mm-add-stack.h.patch", "mm-grows-is-one.patch"],
        SERIES: ["mm-add-grows.patch"],
    }


def test_export_says_when_it_cannot_tell_the_series(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path / "p"))
    add_series(project, "other", [])
    dev = new_tree(tiny_tarball(tmp_path), tmp_path / "w", tmp_path / "dev")
    commit_change(dev, "mm/new.c", "int new;\n", "mm: add new")
    with pytest.raises(SeriesError, match=r"cannot tell which series commit \w+ \('mm: add new'\)"):
        series.export(dev, project)
    # Naming its file in a series file decides it.
    (project.patches / "other" / "series").write_text("mm-add-new.patch\n")
    series.export(dev, project)
    assert (project.patches / "other" / "mm-add-new.patch").is_file()


def two_series_release(tmp_path: Path) -> dict[str, Path]:
    """The tiny release, its second patch moved to a series `stack` of its own."""
    paths = make_release(tmp_path)
    project = context(paths).project
    add_series(project, "stack", ["mm-add-stack.patch"])
    shutil.move(project.patches / SERIES / "mm-add-stack.patch", project.patches / "stack")
    (project.patches / SERIES / "series").write_text("mm-add-grows.patch\n")
    commit_project(project, "two series")
    return paths


def test_check_takes_one_series(tmp_path: Path) -> None:
    paths = two_series_release(tmp_path)
    common = ("--project", str(paths["project"]), "--workdir", str(paths["work"]))
    result = growstack(
        *common, "check", "--tree", str(paths["release"]), "--no-build", "--series", "stack"
    )
    assert result.returncode == 0, result.stderr
    assert "check passed: stack, 1 patch(es)" in result.stdout
    assert git(paths["release"], "log", "--format=%s", "growstack/base..") == "mm: add stack"
    unknown = growstack(*common, "check", "--series", "nope", "--no-build")
    assert_one_line_error(unknown, Exit.USAGE, "no series named 'nope'", "pick one of stack, tiny")


def test_send_mails_one_series_with_its_own_cover_letter(tmp_path: Path) -> None:
    paths = two_series_release(tmp_path)
    common = ("--project", str(paths["project"]), "--workdir", str(paths["work"]))
    result = growstack(*common, "send", "--no-sign", "-o", str(tmp_path / "mails"))
    assert_one_line_error(result, Exit.USAGE, "patches/ holds 2 series", "--series NAME")
    sent = mail.send(
        context(paths), paths["release"], name="stack", output=tmp_path / "mails", sign=False
    )
    subjects = [m.read_text().split("Subject: ", 1)[1].splitlines()[0] for m in sent.mails]
    assert subjects == ["[PATCH] mm: add stack"]  # one patch: b4 mails it without a cover
    assert sent.branch == "b4/stack" and sent.recorded
    stored = git(paths["release"], "log", "--reverse", "--format=%B", "growstack/base..b4/stack")
    assert stored.startswith("stack\n\nThe stack.\n")  # its own letter, not tiny's
    assert "Version: 2" in (paths["project"] / "patches/stack/cover-letter").read_text()
    assert "Version: 1" in (paths["project"] / f"patches/{SERIES}/cover-letter").read_text()


LINES = "".join(f"line {n}\n" for n in range(1, 9))


def two_independent_series(tmp_path: Path, high_line: int, depends: str = "") -> Path:
    """Series `low` (line 3 of LIST) below series `high` (line `high_line`),
    each exported from a tree that carries both; the patch of `high`."""
    project = Project(make_project(tmp_path / "p"))
    (project.patches / "order").write_text("low\nhigh\n")
    add_series(project, "low", ["LIST-low.patch"])
    add_series(project, "high", ["LIST-high.patch"], depends=depends)
    tarball = make_tarball(tmp_path, {"LIST": LINES}, name="linux-list")
    dev = new_tree(tarball, tmp_path / "w", tmp_path / "dev")
    low = LINES.replace("line 3\n", "line 3 low\n")
    commit_change(dev, "LIST", low, "LIST: low")
    commit_change(
        dev, "LIST", low.replace(f"line {high_line}\n", f"line {high_line} high\n"), "LIST: high"
    )
    series.export(dev, project)
    return project.patches / "high" / "LIST-high.patch"


def test_an_independent_series_exports_as_it_applies_to_the_base_alone(tmp_path: Path) -> None:
    patch = two_independent_series(tmp_path, 6)
    text = patch.read_text()
    # Its context is the base's line 3, not the change of the series below.
    assert "\n line 3\n line 4\n line 5\n-line 6\n+line 6 high\n" in text
    base = tmp_path / "base"
    base.mkdir()
    (base / "LIST").write_text(LINES)
    git(base, "init", "-q")
    git(base, "apply", "--check", str(patch))
    # With the dependency declared, it is written on top of `low`, context and all.
    depends = two_independent_series(tmp_path / "dep", 6, depends="low").read_text()
    assert "\n line 3 low\n line 4\n" in depends


def test_an_independent_series_that_needs_the_other_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        SeriesError,
        match=r"\('LIST: high'\) does not apply without .*"
        r"conflicts in LIST",
    ) as err:
        two_independent_series(tmp_path, 4)
    assert "Depends-on" in err.value.todo


def test_the_patchset_hash_is_that_of_the_series_as_exported(tmp_path: Path) -> None:
    two_independent_series(tmp_path, 6)
    project = Project(tmp_path / "p")
    files = [patch.path.read_bytes() for patch in series.full_series(project)]
    tested = pipeline.evidence_metadata(tmp_path / "dev", project, "um")
    assert tested["patchset_hash"] == kcidb.patchset_hash(files)
