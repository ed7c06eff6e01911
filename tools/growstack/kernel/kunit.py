"""Build and run KUnit through the tree's own kunit.py, with live progress.

growstack configures with kconfiglib first and records the kunitconfig it
configured for, exactly as kunit.py would; kunit.py then finds nothing to
reconfigure and goes on to build and boot. kunit.py runs with
--raw_output=all, so growstack sees every console line and parses KTAP
itself (see ktap.py), while kunit.py keeps its own booting, timeout and
test.log. Its make output is discarded by kunit.py, so build progress comes
from counting object files in the build directory. For targets kunit.py
cannot build (targets.Target.kunit_builds), and whenever the request names a
build engine (build.Engine: tuxmake), the kernel is built by growstack's
make or by that engine, and kunit.py only boots it (`kunit.py exec`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
import hashlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .. import deps
from ..errors import BuildFailed, ConfigFailed, MissingDependency, UsageError
from ..progress import Status
from ..results import ktap
from . import build, config, kunitconfig
from .targets import Target

_KUNIT_MESSAGE = re.compile(r"^\[\d\d:\d\d:\d\d\] (.*)$")
_TIMED_OUT = re.compile(r"timed out after [\d.]+ seconds")
_USAGE = re.compile(r"^kunit\.py(?: \w+)?: error: (.*)$")
_BUILD_RECORD = ".growstack-build"


@dataclass
class Request:
    tree: Path
    build_dir: Path
    target: Target
    fragments: list[Path]
    timeout: int = 300
    jobs: int = os.cpu_count() or 1
    passthrough: list[str] = field(default_factory=list)
    initrd: Path | None = None  # what QEMU boots on to after KUnit (Target.runs_init)
    engine: build.Engine | None = None  # None: kunit.py builds (Target.kunit_builds)


@dataclass
class Outcome:
    run: ktap.Run
    log: Path
    command: list[str]
    seconds: dict[str, float]  # per phase: config, build, run


_PATH_OPTIONS = ("--kunitconfig", "--qemu_config")


def absolute_paths(args: list[str]) -> list[str]:
    """kunit.py's path options made absolute: it changes into the tree first.

    --json takes its file only as --json=FILE: kunit.py reads a bare --json
    as --json=stdout, so the word after it is a filter glob.
    """
    out: list[str] = []
    for arg in args:
        if out and out[-1] in _PATH_OPTIONS and not arg.startswith("-"):
            arg = os.path.abspath(arg)
        else:
            option, sep, value = arg.partition("=")
            if sep and (option in _PATH_OPTIONS or (option == "--json" and value != "stdout")):
                arg = f"{option}={os.path.abspath(value)}"
        out.append(arg)
    return out


def _passthrough_config(args: list[str]) -> tuple[list[Path], list[str]]:
    """The --kunitconfig and --kconfig_add values among kunit.py's own arguments."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--kunitconfig", action="append", default=[])
    parser.add_argument("--kconfig_add", action="append", default=[])
    known, _ = parser.parse_known_args(args)
    return [Path(p).resolve() for p in known.kunitconfig], known.kconfig_add


def split_build_options(args: list[str]) -> tuple[list[str], list[str]]:
    """make's arguments from kunit.py's --make_options and --jobs, and the other arguments."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--make_options", action="append", default=[])
    parser.add_argument("--jobs")
    known, rest = parser.parse_known_args(args)
    make_args = list(known.make_options)
    if known.jobs:
        make_args.append(f"-j{known.jobs}")
    return make_args, rest


def configure(request: Request, status: Status) -> Path:
    """Write .config with kconfiglib and the record that tells kunit.py it is current."""
    extra_fragments, kconfig_add = _passthrough_config(request.passthrough)
    fragments = [p if p.is_file() else p / ".kunitconfig" for p in extra_fragments]
    for path in fragments:
        if not path.is_file():
            raise ConfigFailed(f"kunitconfig {path} does not exist", "pass an existing file")
    entries = kunitconfig.merge(request.fragments + fragments, kconfig_add, request.target.kconfig)
    request.build_dir.mkdir(parents=True, exist_ok=True)
    status.update(f"configuring {request.target.arch} with kconfiglib", topic="config")
    result = config.configure(
        request.tree,
        request.build_dir,
        request.target.arch,
        kunitconfig.render(entries),
        cross_compile=request.target.cross_compile,
    )
    (request.build_dir / "last_used_kunitconfig").write_text(kunitconfig.render(entries))
    status.clear()
    return result.path


def command(request: Request, *, build: bool = True) -> list[str]:
    """kunit.py run, or kunit.py exec when the kernel is known to be up to date."""
    kunit_py = request.tree / "tools/testing/kunit/kunit.py"
    argv = [
        sys.executable,
        str(kunit_py),
        "run" if build else "exec",
        f"--build_dir={request.build_dir}",
        f"--timeout={request.timeout}",
        "--raw_output=all",
    ]
    if build:
        argv.append(f"--jobs={request.jobs}")
    target = request.target
    if target.qemu_config:
        argv.append(f"--qemu_config={target.qemu_config}")
    else:
        argv.append(f"--arch={target.arch}")
    if target.cross_compile:
        argv.append(f"--cross_compile={target.cross_compile}")
    if request.initrd:
        argv.append(f"--qemu_args=-initrd {request.initrd}")
    argv += [f"--kunitconfig={p}" for p in request.fragments]
    return argv + request.passthrough


def build_fingerprint(request: Request) -> str | None:
    """What the kernel binary was built from, when growstack can know it.

    A clean tree at a given commit, a given .config and the same kunit.py
    arguments give the same kernel, so a match lets growstack skip the no-op
    make (several seconds); a dirty tree or make options always build.
    """
    if any(a.startswith(("--make_options", "--jobs")) for a in request.passthrough):
        return None
    vmlinux = request.build_dir / "vmlinux"
    config_file = request.build_dir / ".config"
    git = ["git", "-C", str(request.tree)]
    status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
    if (
        status.returncode != 0
        or status.stdout
        or not vmlinux.is_file()
        or not config_file.is_file()
    ):
        return None
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    stat = vmlinux.stat()
    target = request.target
    builder = builder_of(request)
    digest = hashlib.sha256()
    for part in (
        head,
        config_file.read_text(),
        f"{stat.st_size} {stat.st_mtime_ns}",
        f"{target.arch} {target.cross_compile} {target.qemu_config}",
        # the results name the engine: a kernel another engine built is built again
        builder.name if builder else "kunit.py",
    ):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def builder_of(request: Request) -> build.Engine | None:
    """The engine that builds the kernel; None when kunit.py builds it."""
    return request.engine or (None if request.target.kunit_builds else build.MAKE)


def _require_config(build_dir: Path, configured: str, engine: str) -> None:
    """The kernel was built from the .config growstack configured, or ConfigFailed.

    olddefconfig on a configuration kconfiglib resolved changes nothing when
    both evaluated the same tree with the same compiler; a difference means
    the engine's compiler or tree is not the one growstack configured for.
    """
    ours = kunitconfig.parse(configured, "growstack's .config")
    theirs = kunitconfig.parse((build_dir / ".config").read_text(), f"{engine}'s .config")
    changed = sorted({name for name, _ in set(ours.items()) ^ set(theirs.items())})
    if changed:
        name = changed[0]
        raise ConfigFailed(
            f"{engine} built with CONFIG_{name}={theirs.get(name, 'n')} where growstack "
            f"configured {ours.get(name, 'n')} ({len(changed)} symbol(s) differ)",
            f"build with the compiler growstack configured for; see {build_dir}/.config",
        )


def _up_to_date(request: Request) -> bool:
    record = request.build_dir / _BUILD_RECORD
    fingerprint = build_fingerprint(request)
    return fingerprint is not None and record.is_file() and record.read_text() == fingerprint


def _record_build(request: Request) -> None:
    fingerprint = build_fingerprint(request)
    record = request.build_dir / _BUILD_RECORD
    if fingerprint:
        record.write_text(fingerprint)
    else:
        record.unlink(missing_ok=True)


def check_tools(request: Request, status: Status) -> None:
    deps.ensure(
        list(deps.BUILD_PACKAGES) + request.target.packages,
        status,
        why=f"building and booting {request.target.arch} kernels",
    )
    compiler = f"{request.target.cross_compile or ''}gcc"
    if not shutil.which(compiler):
        raise MissingDependency(
            f"no C compiler: {compiler} is not on PATH",
            "install build-essential (or the cross gcc for this arch)",
        )
    if request.target.qemu_arch and not shutil.which(f"qemu-system-{request.target.qemu_arch}"):
        raise MissingDependency(
            f"qemu-system-{request.target.qemu_arch} is not on PATH",
            f"install {request.target.packages[-1]}",
        )


class _RunWatch:
    """Feeds console lines to the KTAP parser and shows what is running."""

    def __init__(self, status: Status, what: str) -> None:
        self.status = status
        self.what = what  # e.g. "um KUnit"
        self.parser = ktap.KtapParser(on_result=self._on_result)
        self.done = 0
        self.failed = 0

    def start(self) -> None:
        """The kernel is booting: a CI log says so before the first result arrives."""
        self.parser.start_document()
        self.status.update(f"running {self.what}: kernel started", topic="run")

    def _on_result(self, test: ktap.TestResult, depth: int) -> None:
        if test.subtests:
            return
        self.done += 1
        if test.status in (ktap.Status.FAIL, ktap.Status.CRASHED, ktap.Status.TIMEOUT):
            self.failed += 1
            where = ".".join((*self.parser.current_path, test.label))
            self.status.log(f"  {test.status.name}: {where}")
        tests = "test" if self.done == 1 else "tests"
        self.status.update(
            f"running {self.what}: {self.done} {tests} done, {self.failed} failed", topic="run"
        )


@dataclass
class _Stream:
    """What one kunit.py process printed: phase start times, the run's KTAP, a timeout."""

    marks: dict[str, float]
    run: ktap.Run
    returncode: int


def _stream(argv: list[str], request: Request, status: Status, log: TextIO, what: str) -> _Stream:
    """Run kunit.py, log everything, show progress and feed the console to the parser."""
    marks = {"config": time.monotonic()}
    runner = _RunWatch(status, what)
    watch: build.BuildWatch | None = None
    timed_out = False
    log.write("$ " + " ".join(argv) + "\n")
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="backslashreplace",
        env=build.environment(),
        start_new_session=True,
    )
    guard = _Guard(proc, request.timeout)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            line = line.rstrip("\n")
            message = _KUNIT_MESSAGE.match(line)
            phase = _phase_of(message.group(1)) if message else None
            if phase == "build" and "build" not in marks:
                watch = build.BuildWatch(request.build_dir, status, f"{request.target.arch} kernel")
                watch.start()
            elif phase == "run":
                if watch:
                    watch.finish(ok=True)
                    watch = None
                runner.start()
                guard.arm()
            if phase:
                marks.setdefault(phase, time.monotonic())
            elif "run" in marks and _TIMED_OUT.search(line):
                timed_out = True
            elif "run" in marks and not message:
                guard.arm()
                runner.parser.feed(line)
        proc.wait()
    except KeyboardInterrupt:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        raise
    finally:
        guard.cancel()
        if watch:
            watch.finish(ok=False)
        status.clear()
    marks["end"] = time.monotonic()
    return _Stream(marks, runner.parser.finish(timed_out=timed_out or guard.fired), proc.returncode)


def run(request: Request, status: Status) -> Outcome:
    """Configure, build, boot and parse, then any reruns; raises on config and build failure."""
    check_tools(request, status)
    start = time.monotonic()
    configure(request, status)
    built = not _up_to_date(request)
    if not built:
        status.log("kernel up to date (clean tree, same commit and .config): skipping the build")
    own_build: dict[str, float] = {}
    engine = builder_of(request)
    if built and engine:
        own_build["build"] = time.monotonic()
        make_args, rest = split_build_options(request.passthrough)
        configured = (request.build_dir / ".config").read_text()
        engine.build(
            request.tree,
            request.build_dir,
            request.target,
            status,
            request.build_dir / "growstack-build.log",
            tuple(make_args),
        )
        _require_config(request.build_dir, configured, engine.name)
        argv = command(dataclasses.replace(request, passthrough=rest), build=False)
    else:
        argv = command(request, build=built)
    log_path = request.build_dir / "growstack-kunit.log"
    with open(log_path, "w") as log:
        main = _stream(argv, request, status, log, f"{request.target.arch} KUnit")
        marks = {**main.marks, **own_build, "config": start}
        if "run" not in marks and main.returncode != 0:
            log.flush()
            _raise_for("build" if "build" in marks else "config", log_path)
        if built and "run" in marks:
            _record_build(request)
        order = [p for p in ("config", "build", "run", "end") if p in marks]
        seconds: dict[str, float] = {a: marks[b] - marks[a] for a, b in itertools.pairwise(order)}
        result = main.run
        for rerun in selected_reruns(request):
            status.log(f"booting again for {rerun}")
            again = _stream(
                rerun_command(request, rerun),
                request,
                status,
                log,
                f"{request.target.arch} KUnit again for {rerun}",
            )
            result = merge_rerun(result, again.run, rerun)
            seconds["rerun"] = (
                seconds.get("rerun", 0.0) + again.marks["end"] - again.marks["config"]
            )
    return Outcome(result, log_path, argv, seconds)


_VALUE_OPTIONS = (
    "--build_dir",
    "--make_options",
    "--kunitconfig",
    "--kconfig_add",
    "--arch",
    "--cross_compile",
    "--qemu_config",
    "--qemu_args",
    "--jobs",
    "--timeout",
    "--kernel_args",
    "--run_isolated",
    "--raw_output",
    "--filter",
    "--filter_action",
)


def filter_glob(args: list[str]) -> str | None:
    """The positional filter glob among kunit.py's arguments, if any."""
    parser = argparse.ArgumentParser(add_help=False)
    for option in _VALUE_OPTIONS:
        parser.add_argument(option, action="append")
    parser.add_argument("filter_glob", nargs="?")
    known, _ = parser.parse_known_args(args)
    return known.filter_glob


def selected_reruns(request: Request) -> list[kunitconfig.Rerun]:
    """The fragments' reruns, less those a filter glob of the user's leaves out."""
    wanted = filter_glob(request.passthrough)
    suite = (wanted or "*").split(".")[0]
    return [
        r
        for r in kunitconfig.reruns(request.fragments)
        if fnmatch.fnmatchcase(r.glob, suite) or fnmatch.fnmatchcase(suite, r.glob)
    ]


def rerun_command(request: Request, rerun: kunitconfig.Rerun) -> list[str]:
    """kunit.py exec of the kernel just built, with the rerun's arguments and glob."""
    argv = command(dataclasses.replace(request, passthrough=[]), build=False)
    return [*argv, *(f"--kernel_args={arg}" for arg in rerun.kernel_args), rerun.glob]


def merge_rerun(main: ktap.Run, again: ktap.Run, rerun: kunitconfig.Rerun) -> ktap.Run:
    """The main run with the suites the rerun ran replaced by the rerun's results."""
    note = f"booted again with {' '.join(rerun.kernel_args)}"
    fresh = {suite.name: suite for suite in again.tests if suite.name}
    for suite in fresh.values():
        suite.diagnostics.insert(0, note)
    tests = [fresh.pop(suite.name, suite) for suite in main.tests]
    tests += fresh.values()
    tests += [suite for suite in again.tests if not suite.name]
    return ktap.Run(
        tests=tests,
        warnings=main.warnings + [f"{note}: {w}" for w in again.warnings],
        found_ktap=main.found_ktap and again.found_ktap,
        timed_out=main.timed_out or again.timed_out,
        oops=main.oops + again.oops,
        documents=main.documents + again.documents,
    )


def _phase_of(message: str) -> str | None:
    if message.startswith("Configuring KUnit Kernel"):
        return "config"
    if message.startswith("Building KUnit Kernel"):
        return "build"
    if message.startswith("Starting KUnit Kernel"):
        return "run"
    return None


class _Guard:
    """Kills kunit.py when the kernel goes silent well past kunit.py's own timeout."""

    GRACE = 60

    def __init__(self, proc: subprocess.Popen, timeout: int) -> None:
        self.proc = proc
        self.timeout = timeout
        self.fired = False
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer:
            self._timer.cancel()
        self._timer = threading.Timer(self.timeout + self.GRACE, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer:
            self._timer.cancel()

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _raise_for(phase: str, log_path: Path) -> None:
    lines = log_path.read_text(errors="replace").splitlines()
    usage = [m.group(1) for m in map(_USAGE.match, lines) if m]
    if usage:
        raise UsageError(
            f"kunit.py rejected its arguments: {usage[0]}", "check what you passed after --"
        )
    errors = [line.strip() for line in lines if re.search(r"\berror\b|Error \d|\*\*\*", line)]
    first = errors[0] if errors else (lines[-1].strip() if lines else "no output")
    if phase == "build":
        raise BuildFailed(f"kernel build failed: {first}", f"see the full log in {log_path}")
    raise ConfigFailed(
        f"kunit.py could not configure the kernel: {first}", f"see the full log in {log_path}"
    )
