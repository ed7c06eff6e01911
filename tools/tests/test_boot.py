"""growstack boot without a kernel: commands, the guest programs, and the verdicts."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from growstack.errors import UsageError
from growstack.kernel import boot, kunitconfig
from growstack.progress import Status
from growstack.results import ktap

from helpers import read_newc

REPO = Path(__file__).resolve().parents[2]


def request(tmp_path: Path, **changes: Any) -> boot.Request:
    fragment = tmp_path / "um.config"
    fragment.write_text("CONFIG_HOSTFS=y\n")
    return boot.Request(
        tree=tmp_path / "linux",
        build_dir=tmp_path / "build",
        root=tmp_path / "root",
        config_fragment=fragment,
        **changes,
    )


def test_command_boots_the_program_from_a_hostfs_root(tmp_path: Path) -> None:
    req = request(tmp_path, env=["threads=10"], kernel_args=["dynamic_stack=off"])
    assert boot.command(req) == [
        str(tmp_path / "build/linux"),
        "mem=1G",
        "console=tty",
        "rootfstype=hostfs",
        f"rootflags={tmp_path / 'root'}",
        "rw",
        "init=/workload",
        "dynamic_stack=off",
        "threads=10",
    ]


def test_a_crash_passes_its_lkdtm_type_and_injection_to_the_program(tmp_path: Path) -> None:
    req = request(tmp_path, crash="empty-reserve", program="crash")
    assert boot.command(req)[-3:] == ["crash=EXHAUST_STACK", "fail_fault=1", "deep=8192"]


def test_only_a_boot_kernel_that_builds_modules_loads_the_crash_s_module() -> None:
    # UML takes its stack 8 KiB deep first; x86-64's boot kernel has no modules.
    assert boot.guest_modules("um", bench=False, stress=False, crash="empty-reserve") == (
        "kstack_deep",
    )
    assert boot.guest_modules("x86_64", bench=False, stress=False, crash="empty-reserve") == ()
    assert boot.guest_modules("um", bench=False, stress=False, crash="overflow") == ()
    assert boot.guest_modules("um", bench=True, stress=False, crash=None) == (boot.BENCH_MODULE,)
    assert boot.guest_modules("x86_64", bench=False, stress=True, crash=None) == ("kstack_deep",)


def test_a_deep_workload_loads_kstack_deep_and_gets_modules_where_the_boot_kernel_has_none(
    tmp_path: Path,
) -> None:
    assert boot.guest_modules("um", bench=True, stress=False, crash=None, deep=True) == (
        boot.BENCH_MODULE,
        boot.DEEP_MODULE,
    )
    assert boot.guest_modules("x86_64", bench=False, stress=False, crash=None, deep=True) == (
        boot.DEEP_MODULE,
    )
    kunit = REPO / "kunit"
    assert boot.kernel_configs(kunit, "x86_64", stress=False, bench=False, deep=True)[1:] == [
        kunit / boot.MODULES_CONFIG
    ]
    assert boot.kernel_configs(kunit, "um", stress=False, bench=False, deep=True)[1:] == []


def test_a_stress_load_gets_its_memory_injection_and_duration(tmp_path: Path) -> None:
    req = request(tmp_path, stress="storm", duration=20, program="stress")
    argv = boot.command(req)
    assert "mem=160M" in argv and "mem=1G" not in argv
    assert argv[-2:] == ["fail_refill=90", "duration=20"]
    rt = boot.command(request(tmp_path, stress="rt", program="stress"))
    assert {"threadirqs", "memcg=96M", "rt=1", "duration=60"} <= set(rt)


def has_interpreter(binary: Path) -> bool:
    """Whether a 64-bit little-endian ELF file has a PT_INTERP program header."""
    data = binary.read_bytes()
    phoff = int.from_bytes(data[32:40], "little")
    size, count = int.from_bytes(data[54:56], "little"), int.from_bytes(data[56:58], "little")
    return any(
        int.from_bytes(data[phoff + i * size : phoff + i * size + 4], "little") == 3
        for i in range(count)
    )


@pytest.mark.parametrize("program", ["workload", "crash", "stress"])
def test_guest_programs_compile_statically_and_are_cached(tmp_path: Path, program: str) -> None:
    req = request(tmp_path, program=program)
    boot.prepare_root(req, Status(tty=False))
    binary = tmp_path / "root" / program
    assert binary.read_bytes()[:4] == b"\x7fELF"
    assert not has_interpreter(binary)  # static: the kernel runs it without a loader
    mtime = binary.stat().st_mtime_ns
    boot.prepare_root(req, Status(tty=False))
    assert binary.stat().st_mtime_ns == mtime
    assert {p.name for p in (tmp_path / "root").iterdir()} >= {"proc", "sys", "tmp", "dev"}


def test_an_unknown_program_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match="no guest program 'nope'; pick one of crash, selftests, stress, workload"
    ):
        boot.prepare_root(request(tmp_path, program="nope"), Status(tty=False))


def test_an_unknown_stress_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown stress 'swap'; pick one of memcg"):
        boot.boot(request(tmp_path, stress="swap"), Status(tty=False))


def test_a_stress_boot_fails_on_any_lockdep_or_vm_complaint() -> None:
    clean = [*WORKLOAD, "reboot: Power down"]
    assert boot.judge_program(clean, 0, checkers=True).status is ktap.Status.PASS
    for complaint in [
        "WARNING: CPU: 0 PID: 11 at include/linux/memcontrol.h:384 obj_cgroup_memcg+0x7c/0x84",
        "WARNING: possible circular locking dependency detected",
        "BUG: sleeping function called from invalid context at mm/page_alloc.c:4321",
    ]:
        run = boot.judge_program([*WORKLOAD, complaint, "reboot: Power down"], 0, checkers=True)
        assert run.tests[-1].name == "no_kernel_warnings"
        assert run.tests[-1].status is ktap.Status.FAIL
        assert complaint in run.tests[-1].log
    # Without the checkers, a workload boot is judged as before.
    assert [t.name for t in boot.judge_program(clean, 0).tests] == ["workload", "clean_shutdown"]


def kcsan_report(first: str, second: str) -> list[str]:
    return [
        "[   12.345678] ==================================================================",
        f"[   12.345679] BUG: KCSAN: data-race in {first} / {second}",
        "[   12.345680] ",
        "[   12.345681] write to 0xffff888003c1e000 of 4 bytes by task 9 on cpu 1:",
        f"[   12.345682]  {first}+0x1c/0x80",
        "[   12.345683]  ret_from_fork+0x2d/0x50",
        "[   12.345684] ",
        "[   12.345685] read to 0xffff888003c1e000 of 4 bytes by task 1 on cpu 3:",
        f"[   12.345686]  {second}+0x44/0x90",
        "[   12.345687] ==================================================================",
    ]


def test_kcsan_fails_a_stress_boot_only_for_a_race_in_kstack_code() -> None:
    elsewhere = kcsan_report("tick_sched_do_timer", "tick_nohz_next_event")
    ours = kcsan_report("kstack_pool_give", "kstack_grow")
    clean = [*WORKLOAD, *elsewhere, "reboot: Power down"]
    run = boot.judge_program(clean, 0, checkers=True, kcsan=True)
    assert run.status is ktap.Status.PASS
    assert [t.name for t in run.tests][-2:] == ["no_kstack_data_races", "no_kernel_warnings"]
    assert [len(r) for r in boot.kcsan_reports(clean)] == [8]
    # The top frame of an access counts, whatever the header says.
    top = [*elsewhere[:4], "[   12.3]  kstack_refill+0x10/0x60", *elsewhere[4:]]
    for lines in (ours, top):
        run = boot.judge_program([*WORKLOAD, *lines, "reboot: Power down"], 0, True, kcsan=True)
        race = next(t for t in run.tests if t.name == "no_kstack_data_races")
        assert race.status is ktap.Status.FAIL
        assert race.log == [lines[1]]
    # Deeper frames are callers (reclaim or printk called from kstack code),
    # or the context an interrupt came in on: not the racing code.
    for frame in ("kstack_pool_fill+0xa3/0xe0", "kstack_alloc+0x17c/0x720"):
        deeper = [*elsewhere[:5], f"[   12.3]  {frame}", *elsewhere[5:]]
        run = boot.judge_program([*WORKLOAD, *deeper, "reboot: Power down"], 0, True, kcsan=True)
        assert run.status is ktap.Status.PASS
    # A kernel without KCSAN gets no verdict about it.
    assert "no_kstack_data_races" not in [t.name for t in boot.judge_program(clean, 0, True).tests]


def test_an_unknown_crash_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown crash 'boom' on um; pick one of overflow"):
        boot.boot(request(tmp_path, crash="boom"), Status(tty=False))


def test_an_arch_it_cannot_boot_is_refused_with_those_it_can() -> None:
    with pytest.raises(UsageError, match="cannot boot arch 'vax'; pass --arch um or x86_64"):
        boot.machine("vax")


def test_no_boot_config_for_an_arch_names_those_there_are(tmp_path: Path) -> None:
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "um.config").write_text("")
    assert boot.boot_config(tmp_path, "um") == tmp_path / "boot" / "um.config"
    with pytest.raises(UsageError, match="no kernel config for arch 'vax'; boot one of: um"):
        boot.boot_config(tmp_path, "vax")


WORKLOAD = [
    "KTAP version 1",
    "1..1",
    "    KTAP version 1",
    "    # Subtest: workload",
    "    1..1",
    "    # growstack: threads=3",
    "    ok 1 threads_started",
    "ok 1 workload",
]


def test_a_program_that_powers_down_cleanly_passes() -> None:
    run = boot.judge_program([*WORKLOAD, "reboot: Power down"], 0)
    assert [t.name for t in run.tests] == ["workload", "clean_shutdown"]
    assert run.status is ktap.Status.PASS


@pytest.mark.parametrize(
    "arch, line, status",
    [
        ("um", "reboot: Power down", ktap.Status.PASS),
        ("x86_64", "reboot: Restarting system", ktap.Status.PASS),
        # QEMU's x86 machine halts instead of powering off: that never ends QEMU.
        ("x86_64", "reboot: Power off not available: System halted instead", ktap.Status.FAIL),
        ("um", "reboot: Restarting system", ktap.Status.FAIL),
    ],
)
def test_each_arch_ends_the_program_its_own_way(arch: str, line: str, status: ktap.Status) -> None:
    run = boot.judge_program([*WORKLOAD, line], 0, arch=arch)
    assert run.tests[-1].name == "clean_shutdown" and run.tests[-1].status is status


@pytest.mark.parametrize(
    "tail, returncode, status",
    [
        ([], 0, ktap.Status.FAIL),  # exited, never powered down
        (["reboot: Power down"], 1, ktap.Status.FAIL),  # powered down, bad status
        (["Kernel panic - not syncing: x"], None, ktap.Status.TIMEOUT),  # hung
    ],
)
def test_a_program_that_does_not_shut_down_cleanly_fails(
    tail: list[str], returncode: int | None, status: ktap.Status
) -> None:
    run = boot.judge_program([*WORKLOAD, *tail], returncode)
    assert run.tests[-1].name == "clean_shutdown" and run.tests[-1].status is status


def test_a_host_whose_fp_state_uml_cannot_load_is_named() -> None:
    lines = [
        "Run /workload as init process",
        "userspace - ptrace set fp regs failed, errno = 14",
        "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b",
    ]
    run = boot.judge_program(lines, 134)
    assert run.status is not ktap.Status.PASS
    assert any("XSAVE" in warning and "patches/local/" in warning for warning in run.host_warnings)
    assert not any("XSAVE" in warning for warning in run.warnings)  # not a parse warning
    assert not boot.judge_program([*WORKLOAD, "reboot: Power down"], 0).host_warnings


OVERFLOW = [
    "kstack: overflow of the kernel stack of crash[1] on CPU 0",
    "kstack:  stack [0xa7800000-0xa7804000), mapped from 0xa7800000; fault at 0xa77ffec0, "
    "sp 0xa77ffeb0",
    "Kernel panic - not syncing: Kernel tried to access user memory at addr 0xa77ffec0",
]


def verdicts(run: ktap.Run) -> dict[str, ktap.Status]:
    return {t.name: t.status for t in run.tests[0].subtests}


def test_the_expected_crash_report_passes() -> None:
    run = boot.judge_crash(["# growstack: provoking EXHAUST_STACK", *OVERFLOW], 134, "overflow")
    assert run.tests[0].name == "crash_overflow" and run.status is ktap.Status.PASS
    assert set(verdicts(run).values()) == {ktap.Status.PASS}


def test_a_report_out_of_order_or_missing_fails() -> None:
    run = boot.judge_crash([OVERFLOW[1], OVERFLOW[0], OVERFLOW[2]], 134, "overflow")
    assert verdicts(run)["names_the_stack"] is ktap.Status.FAIL
    run = boot.judge_crash(OVERFLOW[2:], 134, "overflow")
    assert verdicts(run)["names_the_task"] is ktap.Status.FAIL


def test_a_kernel_that_survives_or_hangs_fails() -> None:
    survived = boot.judge_crash(
        [*OVERFLOW, "not ok 1 crash # the kernel survived X"], 0, "overflow"
    )
    assert verdicts(survived)["does_not_continue"] is ktap.Status.FAIL
    hung = boot.judge_crash(OVERFLOW, None, "overflow")
    assert verdicts(hung)["does_not_continue"] is ktap.Status.FAIL and hung.timed_out


@pytest.mark.parametrize("arch", ["um", "x86_64"])
def test_booting_without_a_build_needs_a_built_kernel(tmp_path: Path, arch: str) -> None:
    from growstack import pipeline
    from growstack.project import Project

    ctx = pipeline.Context(Project(REPO), tmp_path, Status(tty=False))
    with pytest.raises(
        UsageError, match=rf"no kernel in .*/boot-{arch} to boot; boot once with a build"
    ):
        pipeline.boot_kernel(ctx, tmp_path / "linux", arch, build=False)


def test_a_negative_depth_or_settle_time_is_refused_before_anything_is_built(
    tmp_path: Path,
) -> None:
    from growstack import pipeline
    from growstack.project import Project

    ctx = pipeline.Context(Project(REPO), tmp_path, Status(tty=False))
    for deep, settle in ((-1, 0), (0, -5)):
        with pytest.raises(UsageError, match="cannot be negative"):
            pipeline.boot_kernel(ctx, tmp_path / "linux", "um", deep=deep, settle=settle)
    assert not (tmp_path / "build").exists()


# --- x86_64 under QEMU -------------------------------------------------------


def test_x86_64_boots_the_program_from_an_initramfs_under_qemu(tmp_path: Path) -> None:
    req = request(tmp_path, arch="x86_64", env=["threads=10"], kernel_args=["dynamic_stack=off"])
    assert boot.command(req) == [
        "qemu-system-x86_64",
        "-nodefaults",
        "-nographic",
        "-no-reboot",
        "-bios",
        "qboot.rom",
        "-smp",
        "4",
        "-m",
        "1G",
        "-accel",
        "tcg,thread=multi",
        "-serial",
        "stdio",
        "-kernel",
        str(tmp_path / "build/arch/x86/boot/bzImage"),
        "-initrd",
        str(tmp_path / "build/growstack-boot-workload.cpio"),
        "-append",
        "console=ttyS0 panic=-1 rdinit=/workload dynamic_stack=off threads=10 shutdown=reboot",
    ]


def test_x86_64_crashes_and_loads_reach_the_program_and_the_memory_size(tmp_path: Path) -> None:
    crash = boot.command(request(tmp_path, arch="x86_64", crash="guard-leading", program="crash"))
    assert crash[-1] == (
        "console=ttyS0 panic=-1 rdinit=/crash crash=STACK_GUARD_PAGE_LEADING shutdown=reboot"
    )
    assert crash[crash.index("-initrd") + 1].endswith("/growstack-boot-crash-guard-leading.cpio")
    stress = boot.command(request(tmp_path, arch="x86_64", stress="storm", program="stress"))
    assert stress[stress.index("-m") + 1] == "160M"
    assert stress[-1] == (
        "console=ttyS0 panic=-1 rdinit=/stress fail_refill=90 deep=12288 duration=60 "
        "shutdown=reboot"
    )


def fake_console(lines: list[str], returncode: int, seen: list[list[str]]) -> Any:
    def console(argv: list[str], *_: Any) -> tuple[list[str], int]:
        seen.append(argv)
        return lines, returncode

    return console


def test_an_x86_64_boot_packs_its_program_and_module_into_the_initramfs_it_boots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    end = [*WORKLOAD, "reboot: Restarting system"]
    monkeypatch.setattr(boot, "_console", fake_console(end, 0, seen))
    monkeypatch.setattr(boot.deps, "ensure", lambda *_, **__: None)
    kernel = tmp_path / "build/arch/x86/boot/bzImage"
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(b"bzImage")
    module = tmp_path / "build/growstack-module/kstack_bench.ko"
    module.parent.mkdir(parents=True)
    module.write_bytes(b"\x7fELF-module")
    req = request(tmp_path, arch="x86_64", build=False, modules=("kstack_bench",))
    outcome = boot.boot(req, Status(tty=False))
    assert outcome.run.status is ktap.Status.PASS
    archive = tmp_path / "build/growstack-boot-workload.cpio"
    assert seen[0][seen[0].index("-initrd") + 1] == str(archive)
    entries = read_newc(archive.read_bytes())
    files = {name for name, (mode, *_) in entries.items() if stat.S_ISREG(mode)}
    assert files == {"workload", "kstack_bench.ko"}  # nothing else of the root
    assert entries["workload"][3] == (tmp_path / "root/workload").read_bytes()
    assert entries["workload"][0] & 0o111
    assert stat.S_ISCHR(entries["dev/console"][0])
    assert {"proc", "sys", "tmp", "dev"} <= set(entries)


def test_an_x86_64_boot_without_a_build_needs_a_built_bzimage(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no kernel in .*build to boot; boot once with a build"):
        boot.boot(request(tmp_path, arch="x86_64", build=False), Status(tty=False))


def test_the_uml_host_warning_is_uml_only() -> None:
    lines = ["userspace - ptrace set fp regs failed, errno = 14", "Kernel panic - not syncing: x"]
    assert boot.judge_program(lines, 0, arch="um").host_warnings
    assert not boot.judge_program(lines, 0, arch="x86_64").host_warnings


def configs(arch: str, **load: bool) -> str:
    return boot.build_dir_name(boot.kernel_configs(REPO / "kunit", arch, **load), arch)


def test_each_boot_kernel_has_a_build_directory_of_its_own() -> None:
    assert configs("um", stress=False, bench=False) == "boot-um"
    assert configs("um", stress=False, bench=True) == "boot-um"  # um.config has modules
    assert configs("um", stress=True, bench=False) == "boot-um-stress"
    assert configs("x86_64", stress=False, bench=False) == "boot-x86_64"
    assert configs("x86_64", stress=True, bench=False) == "boot-x86_64-stress-kcsan-modules"
    assert configs("x86_64", stress=False, bench=True) == "boot-x86_64-modules"


@pytest.mark.parametrize("arch", sorted(boot.MACHINES))
def test_each_arch_boot_config_has_what_the_programs_and_crashes_use(arch: str) -> None:
    path = REPO / "kunit" / boot.BOOT_CONFIG.format(arch=arch)
    entries = kunitconfig.parse(path.read_text(), str(path))
    wanted = {"PROC_FS", "SYSFS", "DEBUG_FS", "DYNAMIC_STACK", "FAULT_INJECTION_DEBUG_FS"}
    assert {name for name in wanted | {"FAIL_KSTACK", "LKDTM"} if entries.get(name) != "y"} == set()
    assert (entries.get("MODULES") == "y") is boot.MACHINES[arch].modules
    if boot.MACHINES[arch].initramfs:
        assert entries.get("BLK_DEV_INITRD") == "y"


# --- crash verdicts on each arch, against console transcripts ------------------

# Real UML lines (6.12 with the series), and x86_64 lines made from the format
# strings of mm/kstack.c, arch/x86/kernel/traps.c, arch/x86/mm/fault.c and
# lib/dump_stack.c, with the timestamps of a serial console.
STACK_UML = (
    "kstack:  stack [0x9d800000-0x9d804000), mapped from 0x9d802000; fault at 0x9d7fffff, "
    "sp 0x9d803d70"
)
STACK_X86 = (
    "[    2.841517] kstack:  stack [0xffffc90000010000-0xffffc90000014000), mapped from "
    "0xffffc90000013000; fault at 0xffffc90000012ff8, sp 0xffffc90000013010"
)
TASK_X86 = "[    2.842907] CPU: 2 UID: 0 PID: 1 Comm: crash Not tainted 6.12.117-00018-g182d267 #1"
GUARD_X86 = [
    "[    2.839012] lkdtm: Calling function with 1024 frame size to depth 32 ...",
    "[    2.841017] BUG: TASK stack guard page was hit at 0000000088c0a1f4 "
    "(stack is 00000000a4d3b7c2..000000003c6e9f10)",
    "[    2.841921] Oops: stack guard page: 0000 [#1] PREEMPT SMP NOPTI",
    TASK_X86,
    "[    2.861003] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b",
]
EMPTY_RESERVE_UML = [
    "kstack: cannot grow the kernel stack of crash[1]: the reserve of CPU 0 holds 0 pages, "
    "1 needed (injected by fail_kstack_fault)",
    "kstack:  stack [0x9e800000-0x9e804000), mapped from 0x9e802000; fault at 0x9e801c10, "
    "sp 0x9e801c00",
    "Pid: 1, comm: crash Not tainted 6.12.117-gf66d7fd8b095",
    "Kernel panic - not syncing: Kernel stack of crash[1] cannot grow",
]
EMPTY_RESERVE_X86 = [
    "[    2.840112] kstack: cannot grow the kernel stack of crash[1]: the reserve of CPU 2 "
    "holds 0 pages, 1 needed (injected by fail_kstack_fault)",
    STACK_X86,
    "[    2.841921] Oops: kernel stack cannot grow: 0002 [#1] PREEMPT SMP NOPTI",
    TASK_X86,
    "[    2.861003] Kernel panic - not syncing: Fatal exception in interrupt",
]
GUARD_LEADING_UML = [
    "lkdtm: attempting bad read from page below current stack",
    "kstack: overflow of the kernel stack of crash[1] on CPU 0",
    STACK_UML,
    "Pid: 1, comm: crash Not tainted 6.12.117-gf66d7fd8b095",
    "Kernel panic - not syncing: Kernel tried to access user memory at addr 0x9d7fffff, "
    "ip 0x604799bf",
]
GUARD_TRAILING_UML = [
    "lkdtm: attempting bad read from page above current stack",
    "Pid: 1, comm: crash Not tainted 6.12.117-gf66d7fd8b095",
    "Kernel panic - not syncing: Kernel tried to access user memory at addr 0x9e004000, "
    "ip 0x60479965",
]
GUARD_TRAILING_X86 = [
    "[    2.839012] lkdtm: attempting bad read from page above current stack",
    "[    2.840017] BUG: unable to handle page fault for address: ffffc90000014000",
    "[    2.840211] #PF: supervisor read access in kernel mode",
    "[    2.840398] #PF: error_code(0x0000) - not-present page",
    "[    2.841921] Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI",
    TASK_X86,
    "[    2.861003] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009",
]
OTHER_TASK_X86 = TASK_X86.replace("PID: 1 Comm: crash", "PID: 37 Comm: kworker/2:1")

# (arch, crash, a console that passes, the same console failing, the verdict that fails)
TRANSCRIPTS = [
    ("um", "overflow", OVERFLOW, OVERFLOW[1:], "names_the_task"),
    ("um", "empty-reserve", EMPTY_RESERVE_UML, EMPTY_RESERVE_UML[2:], "names_the_stack"),
    (
        "um",
        "guard-leading",
        GUARD_LEADING_UML,
        [line.replace("crash[1]", "kworker/0:1[12]") for line in GUARD_LEADING_UML],
        "names_the_task",
    ),
    ("um", "guard-trailing", GUARD_TRAILING_UML, GUARD_TRAILING_UML[:2], "kernel_stops"),
    (
        "x86_64",
        "overflow",
        GUARD_X86,
        # Reported by mm/kstack.c instead: not what x86 prints for an overflow.
        [OVERFLOW[0], *GUARD_X86[2:]],
        "hits_the_guard_page",
    ),
    (
        "x86_64",
        "empty-reserve",
        EMPTY_RESERVE_X86,
        [
            EMPTY_RESERVE_X86[0].replace(" (injected by fail_kstack_fault)", ""),
            *EMPTY_RESERVE_X86[1:],
        ],
        "names_the_task",
    ),
    (
        "x86_64",
        "guard-leading",
        GUARD_X86,
        [*GUARD_X86[:3], OTHER_TASK_X86, GUARD_X86[4]],
        "names_the_task",
    ),
    (
        "x86_64",
        "guard-trailing",
        GUARD_TRAILING_X86,
        [GUARD_TRAILING_X86[0], "[    2.840017] lkdtm: FAIL: accessed page after stack!"],
        "faults_above_the_stack",
    ),
]


def test_every_crash_has_its_expected_report_on_every_arch() -> None:
    for target in boot.MACHINES.values():
        assert set(target.crashes) == set(boot.CRASHES), target.arch
    assert {(arch, crash) for arch, crash, *_ in TRANSCRIPTS} == {
        (arch, crash) for arch in boot.MACHINES for crash in boot.CRASHES
    }


@pytest.mark.parametrize(
    "arch, crash, good, bad, failing",
    TRANSCRIPTS,
    ids=[f"{arch}-{crash}" for arch, crash, *_ in TRANSCRIPTS],
)
def test_a_crash_is_judged_by_its_arch_report(
    arch: str, crash: str, good: list[str], bad: list[str], failing: str
) -> None:
    # QEMU exits 0 after a panic (panic=-1, -no-reboot); UML aborts.
    returncode = 0 if arch == "x86_64" else 134
    run = boot.judge_crash(good, returncode, crash, arch)
    assert run.tests[0].name == f"crash_{crash.replace('-', '_')}"
    assert run.status is ktap.Status.PASS, verdicts(run)
    names = [name for name, _ in boot.MACHINES[arch].crashes[crash]]
    assert list(verdicts(run)) == [*names, "does_not_continue"]
    failed = boot.judge_crash(bad, returncode, crash, arch)
    assert verdicts(failed)[failing] is ktap.Status.FAIL
    assert failed.status is ktap.Status.FAIL
