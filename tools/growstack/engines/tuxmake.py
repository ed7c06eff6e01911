"""tuxmake as a build engine: the build described as TuxSuite runs it, run here.

A tuxmake build is named by its target arch, toolchain, kconfig and make
variables, the same fields a TuxSuite plan gives. Locally it runs with the
null runtime on the host toolchain, in growstack's own build directory, so
kunit.py boots the kernel it leaves there and ccache serves both engines.
tuxmake writes its artefacts, build.log and metadata.json to
BUILD_DIR/tuxmake/.

tuxmake configures only a build directory without a .config: it copies its
--kconfig file there (and runs olddefconfig only when fragments are merged
on top). growstack hands it the .config it configured, under another name,
and make's own syncconfig brings that up to date with the tree.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import BuildFailed, MissingDependency, UsageError
from ..kernel import build
from ..kernel.targets import Target
from ..progress import Status

OUTPUT = "tuxmake"  # in the build directory
KCONFIG = "growstack-tuxmake.config"  # the .config handed to tuxmake
# The kernel image and the rest of `make all`: tuxmake's kernel target depends
# on its default target, which is plain make.
TARGETS = ("config", "kernel")
_MAKE_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Make variables the caller may not set: tuxmake 1.45 refuses these
# (Build.MAKE_VARIABLES_REJECTLIST) before it logs anything, and growstack
# sets CROSS_COMPILE itself.
_TUXMAKE_OWNS = {
    "ARCH",
    "CC",
    "HOSTCC",
    "INSTALL_DTBS_PATH",
    "INSTALL_MOD_PATH",
    "O",
    "CROSS_COMPILE",
}


class Tuxmake:
    """tuxmake with the null runtime and the host's gcc."""

    name = "tuxmake"
    toolchain = "gcc"

    def command(
        self, tree: Path, build_dir: Path, target: Target, make_args: tuple[str, ...] = ()
    ) -> list[str]:
        """The tuxmake command line that builds `tree` into `build_dir` for `target`."""
        jobs = os.cpu_count() or 1
        variables = []
        for arg in make_args:
            if arg.startswith("-j") and arg[2:].isdigit():
                jobs = int(arg[2:])
            elif _MAKE_VARIABLE.match(arg) and arg.split("=")[0] not in _TUXMAKE_OWNS:
                variables.append(arg)
            else:
                raise UsageError(
                    f"tuxmake takes no make option {arg!r}",
                    "give make variables (NAME=value) other than "
                    f"{', '.join(sorted(_TUXMAKE_OWNS))}, or -jN, or use --engine make",
                )
        argv = [
            sys.executable,
            "-m",
            "tuxmake",
            "--runtime=null",
            f"--directory={tree}",
            f"--build-dir={build_dir}",
            f"--output-dir={build_dir / OUTPUT}",
            f"--target-arch={target.arch}",
            f"--toolchain={self.toolchain}",
            f"--kconfig={build_dir / KCONFIG}",
            f"--jobs={jobs}",
            "--compression-type=none",
        ]
        if shutil.which("ccache"):
            argv.append("--wrapper=ccache")
        # growstack's own choice of cross compiler (none for the host's arch),
        # not tuxmake's per-arch default.
        argv.append(f"CROSS_COMPILE={target.cross_compile or ''}")
        return argv + variables + list(TARGETS)

    def build(
        self,
        tree: Path,
        build_dir: Path,
        target: Target,
        status: Status,
        log_path: Path,
        make_args: tuple[str, ...] = (),
    ) -> None:
        if importlib.util.find_spec("tuxmake") is None:
            raise MissingDependency(
                "tuxmake is not installed", "pip install 'tuxmake>=1.45,<2', or use --engine make"
            )
        require_arch(target.arch)
        argv = self.command(tree, build_dir, target, make_args)
        output = build_dir / OUTPUT
        for stale in ("metadata.json", "build.log"):  # a run that stops early writes neither
            (output / stale).unlink(missing_ok=True)
        config = build_dir / ".config"
        os.replace(config, build_dir / KCONFIG)
        watch = build.BuildWatch(build_dir, status, f"{target.arch} kernel with tuxmake")
        watch.start()
        try:
            with open(log_path, "w") as log:
                log.write("$ " + " ".join(argv) + "\n")
                log.flush()
                result = subprocess.run(
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=build.environment(),
                )
        finally:
            if not config.is_file():  # tuxmake stopped, or was stopped, before configuring
                shutil.copyfile(build_dir / KCONFIG, config)
        failed = failed_targets(output)
        watch.finish(ok=result.returncode == 0 and not failed)
        status.clear()
        if result.returncode != 0 or failed:
            tuxmake_log = build_dir / OUTPUT / "build.log"
            error = build.failure(tuxmake_log if tuxmake_log.is_file() else log_path)
            raise BuildFailed(
                f"tuxmake {' and '.join(failed) or 'build'} failed: "
                f"{error.what.removeprefix('kernel build failed: ')}",
                error.todo,
            )


TUXMAKE = Tuxmake()


def require_arch(arch: str) -> None:
    """Refuse an ARCH tuxmake does not know (parisc64: its parisc is 32-bit),
    which it would report as a failed build."""
    from tuxmake.arch import Architecture  # installed: checked by the caller

    known = Architecture.supported()
    if arch not in known:
        raise UsageError(
            f"tuxmake cannot build ARCH={arch}",
            f"use --engine make for {arch}; tuxmake builds {', '.join(sorted(known))}",
        )


def metadata(output_dir: Path) -> dict[str, Any]:
    """tuxmake's metadata.json of the last build into `output_dir`, or {}."""
    try:
        loaded = json.loads((output_dir / "metadata.json").read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def failed_targets(output_dir: Path) -> list[str]:
    """The targets tuxmake's metadata reports as failed, in build order."""
    targets = metadata(output_dir).get("results", {}).get("targets", {})
    return [name for name, result in targets.items() if result.get("status") == "FAIL"]
