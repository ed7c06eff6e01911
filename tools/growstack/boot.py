"""Boot a kernel to a program of ours and judge what it printed.

The program is static C from guest/, run as init from a hostfs root that
growstack makes in the workdir, so UML needs no disk image. It reports in
KTAP, which is parsed like KUnit's, and powers the machine off. growstack
adds one verdict of its own: the machine shut down cleanly, in time.

A crash boot turns that around: the program provokes a crash with LKDTM, and
the verdicts are that the console showed the expected report, in order, and
that the kernel stopped instead of hanging or carrying on.

Figures the program prints as "# growstack: NAME=VALUE" are collected for
scripts/bench-kstack.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import build, config, deps, ktap, selftests
from .errors import UsageError
from .progress import Status

GUEST = selftests.GUEST
BOOT_CONFIG = "boot/{arch}.config"  # in the project's kunit/
BENCH_MODULE = "kstack_bench"
_FIGURE = re.compile(r"# growstack: (\w+)=(-?\d+)\s*$")
_POWER_DOWN = "reboot: Power down"
# UML 6.12 kills every process it runs on a host whose XSAVE area outgrows its own (AMX).
_FP_REGS_FAILED = "ptrace set fp regs failed"


@dataclass(frozen=True)
class Crash:
    """A crash to provoke, and the console lines (regexes, in order) that must follow."""

    lkdtm: str
    env: tuple[str, ...]
    expect: tuple[tuple[str, str], ...]  # (verdict name, regex)


CRASHES = {
    "overflow": Crash(
        "EXHAUST_STACK",
        (),
        (
            ("names_the_task", r"kstack: overflow of the kernel stack of crash\[1\] on CPU \d+"),
            (
                "names_the_stack",
                r"kstack:  stack \[0x[0-9a-f]+-0x[0-9a-f]+\), mapped from "
                r"0x[0-9a-f]+; fault at 0x[0-9a-f]+, sp 0x[0-9a-f]+",
            ),
            ("kernel_stops", r"Kernel panic - not syncing"),
        ),
    ),
    "empty-reserve": Crash(
        "EXHAUST_STACK",
        ("fail_fault=1",),
        (
            (
                "names_the_task",
                r"kstack: cannot grow the kernel stack of crash\[1\]: the reserve of "
                r"CPU \d+ holds 0 pages, \d+ needed \(injected by fail_kstack_fault\)",
            ),
            (
                "names_the_stack",
                r"kstack:  stack \[0x[0-9a-f]+-0x[0-9a-f]+\), mapped from "
                r"0x[0-9a-f]+; fault at 0x[0-9a-f]+, sp 0x[0-9a-f]+",
            ),
            ("kernel_stops", r"Kernel panic - not syncing: Kernel stack of crash\[1\] cannot grow"),
        ),
    ),
}


@dataclass(frozen=True)
class Stress:
    """A load under which kernel stacks grow while memory is tight."""

    env: tuple[str, ...]  # for guest/stress.c
    kernel_args: tuple[str, ...]
    mem: str


STRESS_CONFIG = "boot/stress.config"  # added to the boot config of any arch
STRESSES = {
    "memcg": Stress(("memcg=96M",), (), "1G"),
    "pressure": Stress((), (), "160M"),
    # Armed by the program once the pools are full: at boot it would turn the feature off.
    "storm": Stress(("fail_refill=90",), (), "160M"),
    "rt": Stress(("memcg=96M", "rt=1"), ("threadirqs",), "1G"),
}
# What the kernel's checkers (lockdep, DEBUG_VM, might_sleep) and a panic print.
_KERNEL_COMPLAINT = re.compile(
    r"WARNING:|BUG:|possible circular locking|inconsistent lock state|Kernel panic"
)


@dataclass
class Request:
    tree: Path
    build_dir: Path
    root: Path  # the hostfs root the program runs in
    config_fragment: Path
    program: str = "workload"
    env: list[str] = field(default_factory=list)  # NAME=VALUE for the program
    kernel_args: list[str] = field(default_factory=list)
    crash: str | None = None
    stress: str | None = None
    duration: int = 60  # seconds of stress load
    extra_fragments: list[Path] = field(default_factory=list)
    bench_module: bool = False
    mem: str = "1G"
    timeout: int = 300
    build: bool = True  # False: boot the kernel and module already built, as they are


@dataclass
class Outcome:
    run: ktap.Run
    log: Path
    command: list[str]
    returncode: int | None  # None: killed after the timeout
    figures: dict[str, int]
    seconds: dict[str, float]


def boot_config(project_kunit: Path, arch: str, pattern: str = BOOT_CONFIG) -> Path:
    path = project_kunit / pattern.format(arch=arch)
    if not path.is_file():
        known = sorted(p.stem for p in (project_kunit / "boot").glob("*.config"))
        raise UsageError(
            f"growstack boot has no kernel config for arch {arch!r}",
            f"boot one of: {', '.join(known) or 'none'}",
        )
    return path


def prepare_kernel(request: Request, status: Status) -> None:
    """Configure with kconfiglib and build, unless the kernel is up to date."""
    deps.ensure(list(deps.BUILD_PACKAGES), status, why="building the UML kernel to boot")
    request.build_dir.mkdir(parents=True, exist_ok=True)
    status.update("configuring um with kconfiglib", topic="config")
    config.configure(
        request.tree, request.build_dir, "um", [request.config_fragment, *request.extra_fragments]
    )
    status.clear()
    build.make(
        request.tree, request.build_dir, "um", status, request.build_dir / "growstack-build.log"
    )
    if request.bench_module:
        _build_module(request, status)


def _module_dir(request: Request) -> Path:
    return request.build_dir / "growstack-module"


def _build_module(request: Request, status: Status) -> None:
    """The benchmark module, built out of tree in a copy in the build directory."""
    workdir = _module_dir(request)
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(GUEST / BENCH_MODULE, workdir)
    build.make(
        request.tree,
        request.build_dir,
        "um",
        status,
        request.build_dir / "growstack-module.log",
        extra=(f"M={workdir}",),
        targets=("modules",),
    )


def _install_module(request: Request) -> None:
    module = _module_dir(request) / f"{BENCH_MODULE}.ko"
    if not module.is_file():
        raise UsageError(f"no benchmark module in {module.parent}", "boot once with a build")
    shutil.copy2(module, request.root / module.name)


def prepare_root(request: Request, status: Status) -> None:
    """The hostfs root: a few empty mount points and the program, statically linked.

    The selftests program also gets the tree's selftests, in /kselftests.
    """
    for sub in ("proc", "sys", "tmp", "dev"):
        (request.root / sub).mkdir(parents=True, exist_ok=True)
    source = GUEST / f"{request.program}.c"
    if not source.is_file():
        known = sorted(p.stem for p in GUEST.glob("*.c"))
        raise UsageError(f"no guest program {request.program!r}", f"pick one of {', '.join(known)}")
    gcc = deps.require_command(
        "gcc", "build-essential", status, why="compiling the program the kernel boots to"
    )
    if request.program == selftests.INIT:
        selftests.install(request.tree, request.root, gcc)
    else:
        selftests.compile_static(gcc, source, request.root / request.program)


def command(request: Request) -> list[str]:
    env, args, mem = list(request.env), list(request.kernel_args), request.mem
    if request.crash:
        crash = CRASHES[request.crash]
        env += [f"crash={crash.lkdtm}", *crash.env]
    if request.stress:
        stress = STRESSES[request.stress]
        env += [*stress.env, f"duration={request.duration}"]
        args += stress.kernel_args
        mem = stress.mem
    return [
        str(request.build_dir / "linux"),
        f"mem={mem}",
        "console=tty",
        "rootfstype=hostfs",
        f"rootflags={request.root}",
        "rw",
        f"init=/{request.program}",
        *args,
        *env,
    ]


def boot(request: Request, status: Status) -> Outcome:
    """Build what is missing, boot, and turn the console into a judged run."""
    if request.crash and request.crash not in CRASHES:
        raise UsageError(f"unknown crash {request.crash!r}", f"pick one of {', '.join(CRASHES)}")
    if request.stress and request.stress not in STRESSES:
        raise UsageError(f"unknown stress {request.stress!r}", f"pick one of {', '.join(STRESSES)}")
    if request.crash:
        request.program = "crash"
    if request.stress:
        request.program = "stress"
    marks = {"build": time.monotonic()}
    prepare_root(request, status)
    if request.build:
        prepare_kernel(request, status)
    elif not (request.build_dir / "linux").is_file():
        raise UsageError(f"no kernel in {request.build_dir} to boot", "boot once with a build")
    if request.bench_module:
        _install_module(request)
    marks["boot"] = time.monotonic()
    argv = command(request)
    log_path = request.build_dir / f"growstack-boot-{run_name(request)}.log"
    lines, returncode = _console(argv, request.timeout, log_path, status)
    marks["end"] = time.monotonic()
    figures = {m.group(1): int(m.group(2)) for m in map(_FIGURE.search, lines) if m}
    if request.crash:
        run = judge_crash(lines, returncode, request.crash)
    else:
        run = judge_program(lines, returncode, checkers=bool(request.stress))
    seconds = {"build": marks["boot"] - marks["build"], "boot": marks["end"] - marks["boot"]}
    return Outcome(run, log_path, argv, returncode, figures, seconds)


def _console(
    argv: list[str], timeout: int, log_path: Path, status: Status
) -> tuple[list[str], int | None]:
    """Run the kernel with a deadline; its console lines and exit status (None: killed)."""
    lines: list[str] = []
    killed = threading.Event()
    status.update(f"booting {Path(argv[0]).name} to {argv[6]}", topic="boot")
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(argv) + "\n")
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="backslashreplace",
            start_new_session=True,
        )

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                lines.append(line.rstrip("\n"))
            proc.wait()
        finally:
            timer.cancel()
            status.clear()
    return lines, None if killed.is_set() else proc.returncode


def _verdict(
    name: str, ok: bool, reason: str = "", log: list[str] | None = None
) -> ktap.TestResult:
    status = ktap.Status.PASS if ok else ktap.Status.FAIL
    return ktap.TestResult(name, status, reason="" if ok else reason, log=log or [])


def run_name(request: Request) -> str:
    """What the boot ran, for its log and results file: workload, crash-overflow, …"""
    if request.crash:
        return f"crash-{request.crash}"
    if request.stress:
        return f"stress-{request.stress}"
    return request.program


def judge_program(lines: list[str], returncode: int | None, checkers: bool = False) -> ktap.Run:
    """The program's own KTAP, plus whether the machine then shut down cleanly.

    With `checkers`, also that no lockdep, DEBUG_VM or might_sleep report, and
    no panic, came on the console.
    """
    run = ktap.parse(lines, timed_out=returncode is None)
    if returncode is None:
        shutdown = ktap.TestResult(
            "clean_shutdown",
            ktap.Status.TIMEOUT,
            reason="the kernel was still running at the timeout",
        )
    else:
        powered_down = any(_POWER_DOWN in line for line in lines)
        shutdown = _verdict(
            "clean_shutdown",
            powered_down and returncode == 0,
            f"no '{_POWER_DOWN}' (exit status {returncode})",
            [line for line in lines if "panic" in line.lower()][:20],
        )
    run.tests.append(shutdown)
    if checkers:
        complaints = [line for line in lines if _KERNEL_COMPLAINT.search(line)]
        run.tests.append(
            _verdict(
                "no_kernel_warnings",
                not complaints,
                f"{len(complaints)} warning line(s), the first: {complaints[:1]}",
                complaints[:20],
            )
        )
    if any(_FP_REGS_FAILED in line for line in lines):
        run.host_warnings.append(
            "UML could not load a process's FP registers: the host's "
            "XSAVE area is larger than UML 6.12's; boot a tree with "
            "patches/local/ applied (`growstack apply` without --no-local)"
        )
    return run


def judge_crash(lines: list[str], returncode: int | None, crash: str) -> ktap.Run:
    """Whether the expected report came, in order, and the kernel stopped by itself."""
    tests = []
    position = 0
    for name, pattern in CRASHES[crash].expect:
        regex = re.compile(pattern)
        found = next((i for i in range(position, len(lines)) if regex.search(lines[i])), None)
        tests.append(
            _verdict(
                name,
                found is not None,
                f"no line matching /{pattern}/" + (" after the previous one" if position else ""),
            )
        )
        if found is not None:
            position = found + 1
    survived = [line for line in lines if "the kernel survived" in line]
    tests.append(
        _verdict(
            "does_not_continue",
            not survived and returncode is not None,
            "the kernel survived the crash"
            if survived
            else "the kernel hung: still running at the timeout",
        )
    )
    suite = ktap.TestResult(
        f"crash_{crash.replace('-', '_')}",
        ktap.worst(t.status for t in tests),
        subtests=tests,
        plan=len(tests),
        log=lines[-60:],
    )
    return ktap.Run(tests=[suite], warnings=[], found_ktap=True, timed_out=returncode is None)
