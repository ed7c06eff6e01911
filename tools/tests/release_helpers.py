"""A tiny release setup for the check and send tests: a growstack project in
git, a tiny base tarball with its own scripts/checkpatch.pl and
scripts/get_maintainer.pl (the two scripts b4 looks for in a kernel tree),
a developer tree whose commits are exported to patches/, and test results
of that tree. b4 itself is real."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from growstack import pipeline
from growstack.progress import Status
from growstack.project import Project
from growstack.results import ktap, report
from growstack.series import cover, series
from growstack.source import tree

from helpers import SERIES, commit_change, git, make_project, make_tarball

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
LOCAL_SUBJECT = "local: make the tiny emulator boot"
KTAP = [
    "KTAP version 1",
    "1..1",
    "    KTAP version 1",
    "    # Subtest: tiny",
    "    1..2",
    "    ok 1 tiny_one",
    "    ok 2 tiny_two # SKIP not here",
    "ok 1 tiny",
]
LETTER = """\
Subject: mm: grow the tiny things
Version: 1

The tiny things grow, and this series says how.

Cc: Reviewer <reviewer@example.org>
"""


def status() -> Status:
    return Status(tty=False, quiet_interval=1e9)


def tiny_tarball(tmp: Path, checkpatch: str = CHECKPATCH) -> Path:
    scripts = {"scripts/checkpatch.pl": checkpatch, "scripts/get_maintainer.pl": GET_MAINTAINER}
    return make_tarball(tmp, {"Kconfig": "# tiny\n", **scripts}, executable=tuple(scripts))


def new_tree(tarball: Path, workspace: Path, dest: Path) -> Path:
    spec = tree.BaseSpec(
        kernel="6.12.7", package="none", package_version="1", tarball="/none", sha256="00"
    )
    path, _ = tree.get_tree(spec, tree.Source(tarball=str(tarball)), workspace, dest, status())
    return path


def commit_project(project: Project, message: str) -> None:
    git(project.root, "add", "-A")
    git(
        project.root,
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.org",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        message,
    )


def make_release(tmp: Path, checkpatch: str = CHECKPATCH) -> dict[str, Path]:
    """Project (in git, with a cover letter), workdir, dev tree, release tree, results."""
    project = Project(make_project(tmp / "project"))
    (project.patches / SERIES / "cover-letter").write_text(LETTER)
    git(project.root, "init", "-q")
    commit_project(project, "the project")
    tarball = tiny_tarball(tmp, checkpatch)
    work = tmp / "work"
    dev = new_tree(tarball, work, tmp / "dev")
    commit_change(dev, "mm/mmap.c", "int mmap;\nint grows;\n", "mm: add grows")
    commit_change(dev, "mm/stack.c", "int stack;\n", "mm: add stack")
    commit_change(dev, "mm/local.c", "int local;\n", LOCAL_SUBJECT)
    series.export(dev, project)
    # The last commit is a test-environment patch: it moves to patches/local/.
    mailed = (project.patches / SERIES / "series").read_text().splitlines()
    local = mailed.pop()
    shutil.move(project.patches / SERIES / local, project.local_patches / local)
    (project.patches / SERIES / "series").write_text("\n".join(mailed) + "\n")
    (project.local_patches / "series").write_text(local + "\n")
    commit_project(project, "the series")
    release = new_tree(tarball, work, tmp / "release")
    write_results(work, dev, project)
    return {
        "project": project.root,
        "work": work,
        "dev": dev,
        "release": release,
        "tarball": tarball,
    }


def write_results(work: Path, tested: Path, project: Project, arch: str = "um") -> Path:
    """results/<arch>.json as `growstack test` writes it, for a run on `tested`."""
    path = work / "results" / f"{arch}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report.write_json(
        ktap.parse(KTAP), path, {"arch": arch, **pipeline.evidence_metadata(tested, project, arch)}
    )
    return path


def context(paths: dict[str, Path]) -> pipeline.Context:
    return pipeline.Context(Project(paths["project"]), paths["work"], status())


def letter(paths: dict[str, Path]) -> cover.CoverLetter:
    return cover.load(paths["project"] / "patches" / SERIES / "cover-letter")


def results_counts(path: Path) -> dict[str, int]:
    return json.loads(path.read_text())["counts"]


def isolated_env(tmp: Path, *, identity: bool = True, extra_config: str = "") -> dict[str, str]:
    """Environment variables for a user with only the given git configuration."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    config = tmp / "gitconfig"
    user = "[user]\n\tname = Dev\n\temail = dev@example.org\n" if identity else ""
    config.write_text(user + extra_config)
    env = {
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(config),
        "GIT_CONFIG_NOSYSTEM": "1",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local/share"),
    }
    if not identity:
        env.update(
            {
                v: ""
                for v in (
                    "GIT_COMMITTER_NAME",
                    "GIT_AUTHOR_NAME",
                    "EMAIL",
                    "GIT_COMMITTER_EMAIL",
                    "GIT_AUTHOR_EMAIL",
                )
            }
        )
    return env
