"""TuxSuite plans: what one machine cannot build, described for TuxSuite's cloud.

A plan names the base as a git tree and ref (the upstream stable tree at the
pinned kernel version, the same source as Debian's package) and each build's
patches as a patch series: an mbox of the patches that build carries,
written next to the plan. TuxSuite builds with tuxmake, so a build is
described by arch, toolchain, kconfig and targets, as engines/tuxmake.py
describes ours. A prefix build's kconfig is a named base config followed by
the lines of growstack's merged kunitconfig: alldefconfig and then the
fragments is what kunit.py's olddefconfig of those lines gives. A KUnit
job's builds start from defconfig instead, so that tuxrun's QEMU machine
finds its root disk, and build modules for tuxrun's kunit test. The test
jobs are the least checked part of a plan: the client's schema takes any
device and test names, so those are growstack's reading of tuxrun's.

The plan is checked offline with the tuxsuite client's own code: its plan
schema, and every build as the client would turn it into a request,
reading its patch series. The client does not know which arch and
toolchain pairs exist; tuxmake does, from the container images TuxSuite
builds in, so that is checked with tuxmake. Submission hands the file to
the client.
"""

from __future__ import annotations

import mimetypes
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ..errors import Exit, GrowstackError, MissingDependency, UsageError

STABLE_TREE = "https://git.kernel.org/pub/scm/linux/kernel/git/stable/linux.git"
BASE_CONFIG = "alldefconfig"
# A kernel tuxrun boots needs the drivers of its QEMU machine's root disk,
# which alldefconfig lacks, and tuxrun's kunit test loads modules.
BOOT_CONFIG = "defconfig"
TARGETS = ("config", "kernel")
# tuxrun's QEMU device for each arch growstack boots KUnit on; UML and
# parisc have none, so their jobs only build.
DEVICES = {"x86_64": "qemu-x86_64", "arm64": "qemu-arm64"}


@dataclass(frozen=True)
class Base:
    git_repo: str
    git_ref: str


@dataclass(frozen=True)
class Build:
    """One tuxmake build: what it carries (an mbox) and how it is built."""

    arch: str
    toolchain: str
    kconfig: list[str]  # the lines merged on top of `base`
    patches: Path  # the mbox of the patches this build carries
    base: str = BASE_CONFIG
    modules: bool = False

    def entry(self, base: Base) -> dict[str, Any]:
        return {
            "git_repo": base.git_repo,
            "git_ref": base.git_ref,
            "patch_series": str(self.patches.resolve()),  # else the client runs b4 on it
            "target_arch": self.arch,
            "toolchain": self.toolchain,
            "kconfig": [self.base, *self.kconfig],
            "targets": [*TARGETS, *(["modules"] if self.modules else [])],
        }


@dataclass(frozen=True)
class Job:
    name: str
    builds: list[Build]
    kunit: bool = False  # boot each build's kernel and run KUnit

    def entry(self, base: Base) -> dict[str, Any]:
        job: dict[str, Any] = {"name": self.name, "builds": [b.entry(base) for b in self.builds]}
        if self.kunit:
            devices = {DEVICES[b.arch] for b in self.builds}
            if len(devices) != 1:
                raise ValueError("a KUnit job boots on one device")
            job["test"] = {"device": devices.pop(), "tests": ["kunit"]}
        return job


def document(name: str, description: str, jobs: list[Job], base: Base) -> dict[str, Any]:
    """The plan as tuxsuite reads it (version 1)."""
    return {
        "version": 1,
        "name": name,
        "description": description,
        "jobs": [job.entry(base) for job in jobs],
    }


def write(path: Path, plan: dict[str, Any]) -> None:
    import yaml  # tuxsuite's own dependency, for a plan people read

    path.write_text(yaml.safe_dump(plan, sort_keys=False, width=100))


def image_exists(arch: str, toolchain: str) -> bool:
    """Whether TuxSuite has a tuxmake image that builds `arch` with `toolchain`."""
    from tuxmake.arch import Architecture
    from tuxmake.exceptions import TuxMakeException
    from tuxmake.runtime import Runtime
    from tuxmake.toolchain import Toolchain

    try:
        return bool(Runtime.get("docker").is_supported(Architecture(arch), Toolchain(toolchain)))
    except TuxMakeException:  # an arch or toolchain tuxmake does not know
        return False


def _client() -> Any:
    try:
        import tuxsuite.build
        import tuxsuite.config
    except ImportError:
        raise MissingDependency(
            "the tuxsuite client is not installed", "pip install 'tuxsuite>=1.46,<2'"
        ) from None
    return tuxsuite


def validate(path: Path) -> int:
    """Check the plan with the tuxsuite client, offline; the number of builds, or UsageError."""
    client = _client()
    mimetypes.add_type(*_MBOX)
    try:
        config = client.config.PlanConfig(None, None, str(path))
    except Exception as err:  # the client reads fields unchecked: KeyError, TypeError
        raise UsageError(
            f"tuxsuite cannot read {path}: {err!r}", "write it again with growstack plan"
        ) from None
    if config.schema_warning:
        raise UsageError(
            f"{path} does not match tuxsuite's plan schema: {config.schema_warning}",
            "write it again with growstack plan",
        )
    builds = [entry["build"] for entry in config.plan if entry["build"] is not None]
    for number, entry in enumerate(builds, 1):
        try:
            build = client.build.Build(  # its constructor verifies the parameters too
                token="offline", kbapi_url=None, tuxapi_url="", group="", project="", **entry
            )
            build.verify_build_parameters()
            build.generate_build_request()  # reads the patch series as a submission would
        except SystemExit:  # the client reports with error(), which exits
            raise UsageError(
                f"tuxsuite refuses build {number} of {path} (its message is above)",
                "write the plan again with growstack plan",
            ) from None
        except Exception as err:  # handle_patch raises bare Exceptions
            raise UsageError(
                f"tuxsuite cannot read the patches of build {number} of {path}: {err}",
                "write the plan again with growstack plan",
            ) from None
        if not image_exists(entry["target_arch"], entry["toolchain"]):
            raise UsageError(
                f"TuxSuite cannot run build {number} of {path}: tuxmake has no "
                f"{entry['toolchain']} image for {entry['target_arch']}",
                "write the plan again with growstack plan, with a --toolchain it has",
            )
    return len(builds)


# The client reads a patch series only when its MIME type is one it knows,
# and .mbox is known only through /etc/mime.types; so growstack tells it,
# in its own process (validate) and in the client's (submit).
_MBOX = ("application/mbox", ".mbox")
_CLIENT = (
    f"import mimetypes, sys; mimetypes.add_type{_MBOX!r}; "
    "from tuxsuite.cli import main; sys.argv[0] = 'tuxsuite'; main()"
)


def submit(path: Path) -> None:
    """Hand the plan to the tuxsuite client without waiting for its results.

    The client's own configuration check comes first, so that no account is
    one line: it asks the service for the group and project when they are
    not set, which needs the network.
    """
    client = _client()
    try:
        client.config.Config()
    except client.exceptions.TokenNotFound as err:
        raise GrowstackError(
            f"no TuxSuite token: {err}",
            "set TUXSUITE_TOKEN, or write the plan without --submit",
            exit_code=Exit.TUXSUITE_NO_TOKEN,
        ) from None
    except client.exceptions.TuxSuiteError as err:  # a rejected token, a bad config.ini
        raise GrowstackError(
            f"the TuxSuite configuration does not work: {err}",
            "check TUXSUITE_TOKEN and ~/.config/tuxsuite/config.ini",
            exit_code=Exit.TUXSUITE_NO_TOKEN,
        ) from None
    except requests.RequestException as err:
        raise GrowstackError(
            f"cannot reach TuxSuite: {err}",
            "check the network, or set TUXSUITE_GROUP and TUXSUITE_PROJECT",
            exit_code=Exit.TUXSUITE_FAILED,
        ) from None
    argv = [sys.executable, "-c", _CLIENT, "plan", "submit", "--no-wait", str(path)]
    if subprocess.run(argv, env=dict(os.environ)).returncode != 0:
        raise GrowstackError(
            f"tuxsuite did not accept {path} (its message is above)",
            "fix what it names, then submit again",
            exit_code=Exit.TUXSUITE_FAILED,
        )
