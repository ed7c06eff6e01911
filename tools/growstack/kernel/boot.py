"""Boot a kernel to a program of ours and judge what it printed.

The program is static C from guest/, run as init: on UML from a hostfs root
that growstack makes in the workdir, so UML needs no disk image; on x86_64
under QEMU from an initramfs holding the same files. It reports in KTAP,
which is parsed like KUnit's, and powers the machine off. growstack adds
one verdict of its own: the machine shut down cleanly, in time.

A crash boot turns that around: the program provokes a crash with LKDTM, and
the verdicts are that the console showed the expected report, in order, and
that the kernel stopped instead of hanging or carrying on. Each arch reports
a crash in its own words, so the expected lines are per arch (`Machine`).

Figures the program prints as "# growstack: NAME=VALUE" are collected for
scripts/bench-kstack.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .. import deps
from ..errors import UsageError
from ..progress import Status
from ..results import ktap
from . import build, config, initramfs, selftests

GUEST = selftests.GUEST
BOOT_CONFIG = "boot/{arch}.config"  # in the project's kunit/
GUEST_MODULES = GUEST / "modules"  # out-of-tree modules the programs load, built together
BENCH_MODULE = "kstack_bench"
DEEP_MODULE = "kstack_deep"  # takes the writer's kernel stack N bytes deep
_FIGURE = re.compile(r"# growstack: (\w+)=(-?\d+)\s*$")
# UML 6.12 kills every process it runs on a host whose XSAVE area outgrows its own (AMX).
_FP_REGS_FAILED = "ptrace set fp regs failed"


@dataclass(frozen=True)
class Crash:
    """A crash to provoke: the LKDTM type, and what the program sets up first."""

    lkdtm: str
    env: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()  # loaded first, where the boot kernel builds modules


CRASHES = {
    "overflow": Crash("EXHAUST_STACK"),
    # The injected failure takes the next stack fault, wherever it is. The
    # program first maps 8 KiB of its stack through kstack_deep.ko, so that
    # the next one is the recursion's, not one in a printk on the way there
    # (whose report, made with the console held, can be lost).
    "empty-reserve": Crash("EXHAUST_STACK", ("fail_fault=1", "deep=8192"), modules=(DEEP_MODULE,)),
    "guard-leading": Crash("STACK_GUARD_PAGE_LEADING"),  # a read of the page below the stack
    "guard-trailing": Crash("STACK_GUARD_PAGE_TRAILING"),  # a read of the page above it
}

# The console lines (verdict name, regex), in order, that a crash must print.
Expectation = tuple[tuple[str, str], ...]
# mm/kstack.c's kstack_report_fault(): what happened, naming the task, then the stack.
_STACK = (
    "names_the_stack",
    r"kstack:  stack \[0x[0-9a-f]+-0x[0-9a-f]+\), mapped from "
    r"0x[0-9a-f]+; fault at 0x[0-9a-f]+, sp 0x[0-9a-f]+",
)
_OVERFLOW = (
    ("names_the_task", r"kstack: overflow of the kernel stack of crash\[1\] on CPU \d+"),
    _STACK,
)
_EMPTY_RESERVE = (
    (
        "names_the_task",
        r"kstack: cannot grow the kernel stack of crash\[1\]: the reserve of "
        r"CPU \d+ holds 0 pages, \d+ needed \(injected by fail_kstack_fault\)",
    ),
    _STACK,
)
# Which panic follows depends on the context the fault was taken in.
_PANIC = ("kernel_stops", r"Kernel panic - not syncing")

UML_CRASHES: dict[str, Expectation] = {
    "overflow": (*_OVERFLOW, _PANIC),
    "empty-reserve": (
        *_EMPTY_RESERVE,
        ("kernel_stops", r"Kernel panic - not syncing: Kernel stack of crash\[1\] cannot grow"),
    ),
    # UML's fault path calls kstack_report_bad_fault(): below the stack is an overflow.
    "guard-leading": (*_OVERFLOW, _PANIC),
    # Above the stack is no stack's: only UML's show_regs() names the task.
    "guard-trailing": (("names_the_task", r"Pid: 1, comm: crash "), _PANIC),
}

# x86_64 dies in die(): the oops names the task in show_regs()'s first line.
_X86_TASK = ("names_the_task", r"CPU: \d+ UID: \d+ PID: 1 Comm: crash ")
# handle_stack_overflow(), for a fault in the page below current's stack. An
# overflow ends there too: mm/kstack.c resolves only faults within the stack,
# and the #PF entry's copy of the frame below it faults into the guard page.
_X86_GUARD = (
    ("hits_the_guard_page", r"BUG: TASK stack guard page was hit at \S+ \(stack is \S+\.\.\S+\)"),
    _X86_TASK,
    _PANIC,
)
X86_64_CRASHES: dict[str, Expectation] = {
    "overflow": _X86_GUARD,
    # die() in NMI context: "Fatal exception in interrupt".
    "empty-reserve": (*_EMPTY_RESERVE, _PANIC),
    "guard-leading": _X86_GUARD,
    # x86 names a guard page only below a stack: above it is an ordinary oops.
    "guard-trailing": (
        ("faults_above_the_stack", r"BUG: unable to handle page fault for address: [0-9a-f]+"),
        _X86_TASK,
        _PANIC,
    ),
}


@dataclass(frozen=True)
class Stress:
    """A load under which kernel stacks grow while memory is tight."""

    env: tuple[str, ...]  # for guest/stress.c
    kernel_args: tuple[str, ...]
    mem: str


STRESS_CONFIG = "boot/stress.config"  # added to the boot config of any arch
MODULES_CONFIG = "boot/modules.config"  # for --bench, on an arch whose boot config has none
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
# A KCSAN report: the header, the accesses with their stacks, up to a rule of '='.
_KCSAN_REPORT = re.compile(r"BUG: KCSAN: ")
_KCSAN_END = re.compile(r"^={20,}\s*$")
_KSTACK_CODE = re.compile(r"\bkstack\w*\+0x")  # a frame in a kstack_* function
_KCSAN_ACCESS = re.compile(r"(read|write)\b.* to 0x[0-9a-f]+ of \d+ bytes by ")


@dataclass
class Request:
    tree: Path
    build_dir: Path
    root: Path  # the hostfs root the program runs in; the initramfs's files
    config_fragment: Path
    arch: str = "um"
    program: str = "workload"
    env: list[str] = field(default_factory=list)  # NAME=VALUE for the program
    kernel_args: list[str] = field(default_factory=list)
    crash: str | None = None
    stress: str | None = None
    duration: int = 60  # seconds of stress load
    extra_fragments: list[Path] = field(default_factory=list)
    modules: tuple[str, ...] = ()  # of GUEST_MODULES, built and put in the root
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


@dataclass(frozen=True)
class Machine:
    """What differs between the arches growstack boots, as data."""

    arch: str
    image: str  # the kernel, in the build directory
    argv: Callable[[Request, str, list[str]], list[str]]  # (request, mem, kernel args)
    crashes: dict[str, Expectation]
    packages: tuple[str, ...] = ()  # Debian packages that boot it
    initramfs: bool = False  # the programs come in an initramfs, not from a hostfs root
    modules: bool = True  # its boot config builds modules (the benchmark module needs them)
    host_warnings: tuple[tuple[str, str], ...] = ()  # (console text, what it means)
    shutdown: str = "reboot: Power down"  # what the kernel prints when the program ends
    shutdown_env: tuple[str, ...] = ()  # how the program must end, for guest.h's shut_down()
    stress_configs: tuple[str, ...] = ()  # what --stress adds on this arch, after STRESS_CONFIG
    stress_modules: tuple[str, ...] = ()  # what guest/stress.c loads on this arch
    stress_env: tuple[str, ...] = ()  # and what it is told


def kernel_image(request: Request) -> Path:
    return request.build_dir / MACHINES[request.arch].image


def _uml_argv(request: Request, mem: str, args: list[str]) -> list[str]:
    return [
        str(kernel_image(request)),
        f"mem={mem}",
        "console=tty",
        "rootfstype=hostfs",
        f"rootflags={request.root}",
        "rw",
        f"init=/{request.program}",
        *args,
    ]


QEMU_CPUS = 4  # per-CPU reserves and kstackd are only exercised with several CPUs


def _qemu_argv(request: Request, mem: str, args: list[str]) -> list[str]:
    # rdinit=: with init= the kernel looks for /init in the initramfs and, not
    # finding it, mounts a root device. panic=-1 and -no-reboot: a panic ends QEMU.
    line = ["console=ttyS0", "panic=-1", f"rdinit=/{request.program}", *args]
    return [
        "qemu-system-x86_64",
        "-nodefaults",
        "-nographic",
        "-no-reboot",
        "-bios",
        "qboot.rom",
        "-smp",
        str(QEMU_CPUS),
        "-m",
        mem,
        # TCG, not KVM: /dev/kvm is missing or unusable on the machines this
        # runs on. thread=multi runs the guest CPUs on host threads, in parallel.
        "-accel",
        "tcg,thread=multi",
        "-serial",
        "stdio",
        "-kernel",
        str(kernel_image(request)),
        "-initrd",
        str(initramfs_path(request)),
        "-append",
        " ".join(line),
    ]


MACHINES = {
    "um": Machine(
        "um",
        "linux",
        _uml_argv,
        UML_CRASHES,
        host_warnings=(
            (
                _FP_REGS_FAILED,
                "UML could not load a process's FP registers: the host's "
                "XSAVE area is larger than UML 6.12's; boot a tree with "
                "patches/local/ applied (`growstack apply` without --no-local)",
            ),
        ),
    ),
    "x86_64": Machine(
        "x86_64",
        "arch/x86/boot/bzImage",
        _qemu_argv,
        X86_64_CRASHES,
        packages=("qemu-system-x86",),
        initramfs=True,
        modules=False,
        # No ACPI under qboot, so no power-off; -no-reboot ends QEMU on a restart.
        shutdown="reboot: Restarting system",
        shutdown_env=("shutdown=reboot",),
        stress_configs=("boot/kcsan.config",),
        # x86-64 system calls rarely leave a stack's first page, even under
        # reclaim: the stress threads also go 12 KiB deep through a module.
        stress_modules=(DEEP_MODULE,),
        stress_env=("deep=12288",),
    ),
}


def guest_modules(
    arch: str, *, bench: bool, stress: bool, crash: str | None, deep: bool = False
) -> tuple[str, ...]:
    """The modules of GUEST_MODULES a boot loads: the benchmark's and the deep
    workload's, its stress load's, or its crash's where the boot kernel builds
    modules."""
    target = machine(arch)
    if bench or deep:
        return tuple(
            name for name, wanted in ((BENCH_MODULE, bench), (DEEP_MODULE, deep)) if wanted
        )
    if stress:
        return target.stress_modules
    return CRASHES[crash].modules if crash and target.modules else ()


def machine(arch: str) -> Machine:
    if arch not in MACHINES:
        raise UsageError(
            f"growstack boot cannot boot arch {arch!r}", f"pass --arch {' or '.join(MACHINES)}"
        )
    return MACHINES[arch]


def kernel_configs(
    project_kunit: Path, arch: str, *, stress: bool, bench: bool, deep: bool = False
) -> list[Path]:
    """The config fragments of the kernel to boot: the arch's, and those a load adds."""
    target = machine(arch)
    extra = [STRESS_CONFIG, *target.stress_configs] if stress else []
    if (bench or deep or (stress and target.stress_modules)) and not target.modules:
        extra.append(MODULES_CONFIG)
    return [boot_config(project_kunit, arch), *(project_kunit / name for name in extra)]


def build_dir_name(configs: list[Path], arch: str) -> str:
    """boot-ARCH, and -stress, -modules for each fragment added: each kernel its own."""
    return "-".join(["boot", arch, *(path.stem for path in configs[1:])])


def boot_config(project_kunit: Path, arch: str, pattern: str = BOOT_CONFIG) -> Path:
    path = project_kunit / pattern.format(arch=arch)
    if not path.is_file():
        configs = (project_kunit / "boot").glob("*.config")
        known = sorted(p.stem for p in configs if p.stem in MACHINES)
        raise UsageError(
            f"growstack boot has no kernel config for arch {arch!r}",
            f"boot one of: {', '.join(known) or 'none'}",
        )
    return path


def prepare_kernel(request: Request, status: Status) -> None:
    """Configure with kconfiglib and build, unless the kernel is up to date."""
    arch = request.arch
    deps.ensure(list(deps.BUILD_PACKAGES), status, why=f"building the {arch} kernel to boot")
    request.build_dir.mkdir(parents=True, exist_ok=True)
    status.update(f"configuring {arch} with kconfiglib", topic="config")
    config.configure(
        request.tree, request.build_dir, arch, [request.config_fragment, *request.extra_fragments]
    )
    status.clear()
    build.make(
        request.tree, request.build_dir, arch, status, request.build_dir / "growstack-build.log"
    )
    if request.modules:
        _build_modules(request, status)


def _module_dir(request: Request) -> Path:
    return request.build_dir / "growstack-module"


def _build_modules(request: Request, status: Status) -> None:
    """The guest modules, built out of tree in a copy in the build directory."""
    workdir = _module_dir(request)
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(GUEST_MODULES, workdir)
    build.make(
        request.tree,
        request.build_dir,
        request.arch,
        status,
        request.build_dir / "growstack-module.log",
        extra=(f"M={workdir}",),
        targets=("modules",),
    )


def _install_module(request: Request, name: str) -> Path:
    module = _module_dir(request) / f"{name}.ko"
    if not module.is_file():
        raise UsageError(f"no module {name} in {module.parent}", "boot once with a build")
    shutil.copy2(module, request.root / module.name)
    return request.root / module.name


def prepare_root(request: Request, status: Status) -> dict[str, Path]:
    """The root: a few empty mount points and the program, statically linked.

    UML boots it as a hostfs root; QEMU gets an initramfs of the files this
    returns (path in the root -> file). The selftests program also gets the
    tree's selftests, in /kselftests.
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
    programs = [request.program]
    if request.program == selftests.INIT:
        names = selftests.install(request.tree, request.root, gcc)
        programs += [f"{selftests.TESTS}/{name}" for name in names]
    else:
        selftests.compile_static(gcc, source, request.root / request.program)
    return {name: request.root / name for name in programs}


def initramfs_path(request: Request) -> Path:
    return request.build_dir / f"growstack-boot-{run_name(request)}.cpio"


def command(request: Request) -> list[str]:
    env, args, mem = list(request.env), list(request.kernel_args), request.mem
    if request.crash:
        crash = CRASHES[request.crash]
        env += [f"crash={crash.lkdtm}", *crash.env]
    machine = MACHINES[request.arch]
    if request.stress:
        stress = STRESSES[request.stress]
        env += [*stress.env, *machine.stress_env, f"duration={request.duration}"]
        args += stress.kernel_args
        mem = stress.mem
    return machine.argv(request, mem, [*args, *env, *machine.shutdown_env])


def boot(request: Request, status: Status) -> Outcome:
    """Build what is missing, boot, and turn the console into a judged run."""
    target = machine(request.arch)
    if request.crash and request.crash not in target.crashes:
        raise UsageError(
            f"unknown crash {request.crash!r} on {request.arch}",
            f"pick one of {', '.join(target.crashes)}",
        )
    if request.stress and request.stress not in STRESSES:
        raise UsageError(f"unknown stress {request.stress!r}", f"pick one of {', '.join(STRESSES)}")
    if request.crash:
        request.program = "crash"
    if request.stress:
        request.program = "stress"
    # Before the build: a machine that cannot boot the kernel should not wait for it.
    deps.ensure(list(target.packages), status, why=f"booting the {request.arch} kernel")
    marks = {"build": time.monotonic()}
    files = prepare_root(request, status)
    if request.build:
        prepare_kernel(request, status)
    elif not kernel_image(request).is_file():
        raise UsageError(f"no kernel in {request.build_dir} to boot", "boot once with a build")
    for name in request.modules:
        module = _install_module(request, name)
        files[module.name] = module
    if target.initramfs:
        initramfs.write(initramfs_path(request), files)
    marks["boot"] = time.monotonic()
    argv = command(request)
    log_path = request.build_dir / f"growstack-boot-{run_name(request)}.log"
    what = f"booting {request.arch} to {request.program}"
    lines, returncode = _console(argv, request.timeout, log_path, status, what)
    marks["end"] = time.monotonic()
    figures = {m.group(1): int(m.group(2)) for m in map(_FIGURE.search, lines) if m}
    if request.crash:
        run = judge_crash(lines, returncode, request.crash, request.arch)
    else:
        kcsan = bool(request.stress) and _has_kcsan(request.build_dir)
        run = judge_program(
            lines, returncode, checkers=bool(request.stress), arch=request.arch, kcsan=kcsan
        )
        if kcsan:
            figures["kcsan_reports"] = len(kcsan_reports(lines))
    seconds = {"build": marks["boot"] - marks["build"], "boot": marks["end"] - marks["boot"]}
    return Outcome(run, log_path, argv, returncode, figures, seconds)


def _console(
    argv: list[str], timeout: int, log_path: Path, status: Status, what: str
) -> tuple[list[str], int | None]:
    """Run the kernel with a deadline; its console lines and exit status (None: killed)."""
    lines: list[str] = []
    killed = threading.Event()
    status.update(what, topic="boot")
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
                lines.append(line.rstrip("\r\n"))  # a serial console ends lines in CR LF
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


def judge_program(
    lines: list[str],
    returncode: int | None,
    checkers: bool = False,
    arch: str = "um",
    kcsan: bool = False,
) -> ktap.Run:
    """The program's own KTAP, plus whether the machine then shut down cleanly.

    With `checkers`, also that no lockdep, DEBUG_VM or might_sleep report, and
    no panic, came on the console. With `kcsan`, that no KCSAN report has a
    kstack function in its stacks; reports elsewhere in the kernel are not
    ours to judge. What the console says about the host is named apart, as a
    host warning.
    """
    run = ktap.parse(lines, timed_out=returncode is None)
    if returncode is None:
        shutdown = ktap.TestResult(
            "clean_shutdown",
            ktap.Status.TIMEOUT,
            reason="the kernel was still running at the timeout",
        )
    else:
        expected = MACHINES[arch].shutdown
        powered_down = any(expected in line for line in lines)
        shutdown = _verdict(
            "clean_shutdown",
            powered_down and returncode == 0,
            f"no '{expected}' (exit status {returncode})",
            [line for line in lines if "panic" in line.lower()][:20],
        )
    run.tests.append(shutdown)
    if kcsan:
        ours = [r[0] for r in kcsan_reports(lines) if any(map(_KSTACK_CODE.search, _racing(r)))]
        run.tests.append(
            _verdict(
                "no_kstack_data_races",
                not ours,
                f"KCSAN reported {len(ours)} data race(s) in kstack code, the first: {ours[:1]}",
                ours[:20],
            )
        )
    if checkers:
        complaints = [
            line
            for line in lines
            if _KERNEL_COMPLAINT.search(line) and not _KCSAN_REPORT.search(line)
        ]
        run.tests.append(
            _verdict(
                "no_kernel_warnings",
                not complaints,
                f"{len(complaints)} warning line(s), the first: {complaints[:1]}",
                complaints[:20],
            )
        )
    for text, meaning in MACHINES[arch].host_warnings:
        if any(text in line for line in lines):
            run.host_warnings.append(meaning)
    return run


def _has_kcsan(build_dir: Path) -> bool:
    dot_config = build_dir / ".config"
    return dot_config.is_file() and "CONFIG_KCSAN=y\n" in dot_config.read_text()


def kcsan_reports(lines: list[str]) -> list[list[str]]:
    """Each KCSAN report on the console, as its lines from the header on."""
    reports: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        if _KCSAN_REPORT.search(line):
            current = [line]
            reports.append(current)
        elif current is not None:
            if _KCSAN_END.search(line.split("] ", 1)[-1]):
                current = None
            else:
                current.append(line)
    return reports


def _racing(report: list[str]) -> list[str]:
    """The lines of a KCSAN report that name the racing code: its header and
    the top frame of each access. Deeper frames are callers, or, below an
    entry frame, the context an interrupt came in on: a race in reclaim or
    printk called from kstack code is not a race in kstack code."""
    kept = report[:1]
    top = False
    for line in report[1:]:
        text = line.split("] ", 1)[-1].strip()
        if _KCSAN_ACCESS.match(text):
            top = True
        elif top and text:
            kept.append(line)
            top = False
    return kept


def judge_crash(lines: list[str], returncode: int | None, crash: str, arch: str = "um") -> ktap.Run:
    """Whether the expected report came, in order, and the kernel stopped by itself."""
    tests = []
    position = 0
    for name, pattern in MACHINES[arch].crashes[crash]:
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
