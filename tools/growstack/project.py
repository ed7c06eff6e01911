"""Where the growstack repository and its working space are.

The repository holds what is versioned (patches/, kunit/); the workspace
holds what is derived and large (base-tree caches, kernel trees, build
directories, downloads), outside any source tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

# The installed package sits at <repo>/tools/growstack in an editable install.
_PACKAGE_REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def patches(self) -> Path:
        return self.root / "patches"

    @property
    def local_patches(self) -> Path:
        return self.patches / "local"

    @property
    def kunit(self) -> Path:
        return self.root / "kunit"

    @property
    def base_file(self) -> Path:
        return self.patches / "base.toml"


def _is_project(path: Path) -> bool:
    return (path / "patches" / "base.toml").is_file() and (path / "kunit").is_dir()


def find_project(explicit: str | os.PathLike[str] | None = None) -> Project:
    """The repository named explicitly, by GROWSTACK_PROJECT, above cwd, or ours."""
    named = explicit or os.environ.get("GROWSTACK_PROJECT")
    if named:
        path = Path(named).resolve()
        if not _is_project(path):
            raise UsageError(
                f"{path} is not a growstack repository (no patches/base.toml or kunit/)",
                "pass --project with the path of a growstack checkout",
            )
        return Project(path)
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents, _PACKAGE_REPO):
        if _is_project(candidate):
            return Project(candidate)
    raise UsageError(
        "no growstack repository found above the current directory",
        "run growstack inside a growstack checkout or pass --project",
    )


def workspace(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The directory for caches, kernel trees and build output."""
    named = explicit or os.environ.get("GROWSTACK_HOME")
    if named:
        path = Path(named)
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(cache) / "growstack"
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
