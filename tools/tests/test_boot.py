"""growstack boot without a kernel: commands, the guest programs, and the verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from growstack import boot, ktap
from growstack.errors import UsageError
from growstack.progress import Status


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
    assert boot.command(req)[-2:] == ["crash=EXHAUST_STACK", "fail_fault=1"]


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


def test_an_unknown_crash_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown crash 'boom'; pick one of overflow"):
        boot.boot(request(tmp_path, crash="boom"), Status(tty=False))


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


def test_booting_without_a_build_needs_a_built_kernel(tmp_path: Path) -> None:
    from growstack import pipeline
    from growstack.project import Project

    ctx = pipeline.Context(
        Project(Path(__file__).resolve().parents[2]), tmp_path, Status(tty=False)
    )
    with pytest.raises(UsageError, match=r"no kernel in .*boot-um to boot; boot once with a build"):
        pipeline.boot_kernel(ctx, tmp_path / "linux", build=False)
