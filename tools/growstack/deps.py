"""Install the Debian packages a stage needs, or say exactly what to install."""

from __future__ import annotations

import os
import shutil
import subprocess

from .errors import MissingDependency
from .progress import Status

# What every kernel build needs, beyond the compiler of the target.
BUILD_PACKAGES = ("build-essential", "flex", "bison", "bc", "libelf-dev", "libssl-dev")
# scripts/checkpatch.pl runs spdxcheck.py with the python3 first on PATH,
# which must be Debian's with these (not a virtual environment's).
CHECKPATCH_PACKAGES = ("perl", "python3-ply", "python3-git")


def checkpatch_env(status: Status) -> dict[str, str]:
    """The environment to run checkpatch.pl in (directly or through b4)."""
    ensure(CHECKPATCH_PACKAGES, status, why="scripts/checkpatch.pl and its spdxcheck.py")
    return {**os.environ, "PATH": f"/usr/bin:{os.environ.get('PATH', '')}"}


def as_root(argv: list[str]) -> list[str]:
    """`argv` run as root: directly, through password-less sudo, or not at all."""
    if os.geteuid() == 0:
        return argv
    if (
        shutil.which("sudo")
        and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
    ):
        return ["sudo", "-n", *argv]
    raise MissingDependency(
        f"this needs root: {' '.join(argv)}", "run that command as root, then run growstack again"
    )


def missing_packages(packages: tuple[str, ...] | list[str]) -> list[str]:
    """Those of `packages` dpkg does not list as installed ([] off Debian)."""
    if not shutil.which("dpkg-query"):
        return []
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Status}\n", *packages],
        capture_output=True,
        text=True,
    ).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def apt_install(packages: list[str], status: Status, *, why: str) -> None:
    status.update(f"installing {' '.join(packages)} with apt-get ({why})", topic="apt")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = [
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "--allow-downgrades",
        *packages,
    ]
    result = subprocess.run(as_root(argv), capture_output=True, text=True, env=env)
    if result.returncode != 0:  # a stale package list is the usual cause
        subprocess.run(as_root(["apt-get", "update", "-q"]), capture_output=True, env=env)
        result = subprocess.run(as_root(argv), capture_output=True, text=True, env=env)
    status.clear()
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise MissingDependency(
            f"apt-get could not install {' '.join(packages)}: {last}",
            f"install them by hand ({why})",
        )
    status.log(f"installed {' '.join(packages)} ({why})")


def ensure(packages: tuple[str, ...] | list[str], status: Status, *, why: str) -> None:
    """Install whatever of `packages` is missing, as root; else say how."""
    missing = missing_packages(packages)
    if not missing:
        return
    try:
        as_root(["apt-get"])
    except MissingDependency:
        raise MissingDependency(
            f"{' '.join(missing)} not installed ({why})",
            f"run: sudo apt-get install {' '.join(missing)}",
        ) from None
    apt_install(missing, status, why=why)


def require_command(command: str, package: str, status: Status, *, why: str) -> str:
    """The path of `command`, installing `package` if it is missing."""
    found = shutil.which(command)
    if found:
        return found
    ensure([package], status, why=why)
    found = shutil.which(command)
    if not found:
        raise MissingDependency(
            f"{command} is not on PATH ({why})", f"install the package that provides it ({package})"
        )
    return found
