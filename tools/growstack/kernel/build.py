"""Kernel builds: ccache, live progress while make runs, and the engines that build.

make (or kunit.py, which discards make's output) gives no progress, so it is
measured: a thread counts object files in the build directory once a second
and compares with the count recorded after the previous successful build.

An Engine builds a kernel growstack has configured: MAKE runs make here, and
engines/ holds the others (tuxmake). Each starts from the .config in the
build directory, brings it up to date with the tree (make olddefconfig,
or make's own syncconfig) and builds everything, so every engine gives the
same kernel.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Protocol

from ..errors import BuildFailed
from ..progress import Status, human_seconds
from .targets import Target

_OBJECT_RECORD = ".growstack-objects"
CCACHE_DIR = "/usr/lib/ccache"


def environment() -> dict[str, str]:
    """The environment for kunit.py: ccache first on PATH when it is installed.

    No CCACHE_BASEDIR: ccache would rewrite the source paths but not Kbuild's
    -fmacro-prefix-map, and __FILE__ in the kernel would change.
    """
    env = dict(os.environ)
    if os.path.isdir(CCACHE_DIR) and CCACHE_DIR not in env.get("PATH", "").split(":"):
        env["PATH"] = f"{CCACHE_DIR}:{env.get('PATH', '')}"
    return env


class BuildWatch(threading.Thread):
    """Counts object files while make runs, against the count of the last build."""

    def __init__(self, build_dir: Path, status: Status, what: str) -> None:
        super().__init__(daemon=True)
        self.build_dir = build_dir
        self.status = status
        self.what = what  # e.g. "um kernel"
        self.stop = threading.Event()
        record = build_dir / _OBJECT_RECORD
        self.expected = int(record.read_text()) if record.is_file() else 0
        self.start_time = time.monotonic()

    def count(self) -> int:
        total = 0
        stack = [str(self.build_dir)]
        while stack:
            try:
                with os.scandir(stack.pop()) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.name.endswith(".o"):
                            total += 1
            except OSError:
                continue
        return total

    def run(self) -> None:
        while not self.stop.wait(1.0):
            done = self.count()
            elapsed = human_seconds(time.monotonic() - self.start_time)
            # A stale record (another configuration built last) is no estimate.
            if self.expected and done <= self.expected:
                share = min(99, 100 * done // self.expected)
                text = f"building {self.what}: {share}% ({done}/{self.expected} objects)"
            else:
                text = f"building {self.what}: {done} objects"
            self.status.update(f"{text}, {elapsed}", topic="build")

    def finish(self, ok: bool) -> None:
        self.stop.set()
        self.join()
        if ok:
            (self.build_dir / _OBJECT_RECORD).write_text(str(self.count()))


def make(
    tree: Path,
    build_dir: Path,
    arch: str,
    status: Status,
    log_path: Path,
    *,
    cross_compile: str | None = None,
    targets: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
) -> None:
    """make -C tree O=build_dir ARCH=arch [targets], logged, with progress; BuildFailed on error."""
    argv = [
        "make",
        "-C",
        str(tree),
        f"O={build_dir}",
        f"ARCH={arch}",
        f"-j{os.cpu_count() or 1}",
        *extra,
        *targets,
    ]
    if cross_compile:
        argv.insert(5, f"CROSS_COMPILE={cross_compile}")
    watch = BuildWatch(build_dir, status, f"{arch} kernel")
    watch.start()
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(argv) + "\n")
        log.flush()
        result = subprocess.run(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment()
        )
    watch.finish(ok=result.returncode == 0)
    status.clear()
    if result.returncode != 0:
        raise failure(log_path)


def failure(log_path: Path) -> BuildFailed:
    """The error of a failed build: its first error line, and where the full log is."""
    lines = log_path.read_text(errors="replace").splitlines()
    errors = [line.strip() for line in lines if re.search(r"\berror\b|Error \d", line)]
    first = errors[0] if errors else (lines[-1].strip() if lines else "no output")
    return BuildFailed(f"kernel build failed: {first}", f"see the full log in {log_path}")


class Engine(Protocol):
    """What builds a configured kernel: make here, or an engine of engines/."""

    name: str

    def build(
        self,
        tree: Path,
        build_dir: Path,
        target: Target,
        status: Status,
        log_path: Path,
        make_args: tuple[str, ...] = (),
    ) -> None:
        """Build all from build_dir/.config brought up to date with tree; BuildFailed on error.

        Make runs olddefconfig; tuxmake leaves that to make's own syncconfig.
        """


class Make:
    """make, run by growstack with object-counting progress."""

    name = "make"

    def build(
        self,
        tree: Path,
        build_dir: Path,
        target: Target,
        status: Status,
        log_path: Path,
        make_args: tuple[str, ...] = (),
    ) -> None:
        for goal in ("olddefconfig", "all"):
            make(
                tree,
                build_dir,
                target.arch,
                status,
                log_path,
                cross_compile=target.cross_compile,
                targets=(goal,),
                extra=make_args,
            )


MAKE = Make()
