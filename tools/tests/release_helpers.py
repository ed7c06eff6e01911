"""A tiny release setup for the check and send tests: a growstack project in
git, a tiny base tarball with its own scripts/checkpatch.pl and
scripts/get_maintainer.pl (the two scripts b4 looks for in a kernel tree),
a developer tree whose commits are exported to patches/, and test results
of that tree. b4 itself is real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from growstack import cover, ktap, pipeline, report, series, tree
from growstack.progress import Status
from growstack.project import Project

from helpers import commit_change, git, make_project, make_tarball

MAINTAINER = "Tiny Maintainer <maint@example.org>"
LIST = "tiny-list@example.org"
# get_maintainer.pl: maintainers with --nol, lists with --nom, as b4 calls it.
GET_MAINTAINER = f"""#!/bin/sh
case " $* " in
*" --nom "*) echo "{LIST}" ;;
*) echo "{MAINTAINER}" ;;
esac
"""
# A checkpatch that finds nothing; the real one runs in the kernel tests.
CHECKPATCH = "#!/bin/sh\nexit 0\n"
KTAP = ["KTAP version 1", "1..1", "    KTAP version 1", "    # Subtest: tiny", "    1..2",
        "    ok 1 tiny_one", "    ok 2 tiny_two # SKIP not here", "ok 1 tiny"]
LETTER = """\
Subject: mm: grow the tiny things
Version: 1

The tiny things grow, and this series says how.

Cc: Reviewer <reviewer@example.org>
"""


def status() -> Status:
    return Status(tty=False, quiet_interval=1e9)


def growstack(*args: str, env: dict[str, str] | None = None,
              stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    import os
    return subprocess.run([sys.executable, "-m", "growstack", *args], input=stdin,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True)


def tiny_tarball(tmp: Path) -> Path:
    scripts = {"scripts/checkpatch.pl": CHECKPATCH, "scripts/get_maintainer.pl": GET_MAINTAINER}
    return make_tarball(tmp, {"Kconfig": "# tiny\n", **scripts}, executable=tuple(scripts))


def new_tree(tarball: Path, workspace: Path, dest: Path) -> Path:
    spec = tree.BaseSpec(kernel="6.12.7", package="none", package_version="1",
                         tarball="/none", sha256="00")
    path, _ = tree.get_tree(spec, tree.Source(tarball=str(tarball)), workspace, dest, status())
    return path


def commit_project(project: Project, message: str) -> None:
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "--allow-empty", "-m", message)


def make_release(tmp: Path) -> dict[str, Path]:
    """Project (in git, with a cover letter), workdir, dev tree, release tree, results."""
    project = Project(make_project(tmp / "project"))
    (project.patches / "cover-letter").write_text(LETTER)
    git(project.root, "init", "-q")
    commit_project(project, "the project")
    tarball = tiny_tarball(tmp)
    work = tmp / "work"
    dev = new_tree(tarball, work, tmp / "dev")
    commit_change(dev, "mm/mmap.c", "int mmap;\nint grows;\n", "mm: add grows")
    commit_change(dev, "mm/stack.c", "int stack;\n", "mm: add stack")
    series.export(dev, project)
    commit_project(project, "the series")
    release = new_tree(tarball, work, tmp / "release")
    write_results(work, dev)
    return {"project": project.root, "work": work, "dev": dev, "release": release,
            "tarball": tarball}


def write_results(work: Path, tested: Path, arch: str = "um") -> Path:
    """results/<arch>.json as `growstack test` writes it, for a run on `tested`."""
    path = work / "results" / f"{arch}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report.write_json(ktap.parse(KTAP), path, {"arch": arch,
                                              **pipeline.evidence_metadata(tested, arch)})
    return path


def context(paths: dict[str, Path]) -> pipeline.Context:
    return pipeline.Context(Project(paths["project"]), paths["work"], status())


def letter(paths: dict[str, Path]) -> cover.CoverLetter:
    return cover.load(paths["project"] / "patches" / "cover-letter")


def results_counts(path: Path) -> dict[str, int]:
    return json.loads(path.read_text())["counts"]
