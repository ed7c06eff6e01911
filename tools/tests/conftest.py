"""Shared fixtures for the kernel integration tests (marker `kernel`).

They run on the real pinned base, made by growstack's own tree stage in a
workdir of their own (GROWSTACK_TEST_HOME, default ~/.cache/growstack-test),
so they never touch a developer's trees. The base cache persists there, so
only the first run pays for extracting the tarball.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from growstack import pipeline
from growstack.progress import Status
from growstack.project import Project
from growstack.source import tree

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def project() -> Project:
    return Project(REPO)


@pytest.fixture(scope="session")
def kernel_workspace() -> Path:
    path = Path(os.environ.get("GROWSTACK_TEST_HOME", Path.home() / ".cache" / "growstack-test"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _status() -> Status:
    return Status(tty=False, quiet_interval=60)


@pytest.fixture(scope="session")
def kernel_tree(kernel_workspace: Path, project: Project) -> Path:
    """A pristine work tree of the pinned base. Tests must not modify it."""
    override = os.environ.get("GROWSTACK_KERNEL_TREE")
    if override:
        return Path(override)
    spec = tree.BaseSpec.load(project.base_file)
    path, _ = tree.get_tree(
        spec, tree.Source(), kernel_workspace, kernel_workspace / "trees" / "pristine", _status()
    )
    assert (
        subprocess.run(
            ["git", "status", "--porcelain"], cwd=path, capture_output=True, text=True
        ).stdout
        == ""
    ), f"{path} was modified by a test"
    return path


@pytest.fixture(scope="session")
def kernel_context(kernel_workspace: Path, project: Project) -> pipeline.Context:
    return pipeline.Context(project, kernel_workspace, _status())


@pytest.fixture(scope="session")
def series_tree(kernel_context: pipeline.Context) -> Path:
    """The tree `growstack run` uses in the test workdir, with the series applied.

    Tests share it (and so its build directory) with the main-job test, so
    CI builds the UML kernel once.
    """
    path = pipeline.make_tree(kernel_context, tree.Source())
    pipeline.apply_series(kernel_context, path)
    return path
