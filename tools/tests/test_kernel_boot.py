"""`growstack boot` on the real pinned base with the series: UML to a hostfs root.

One boot kernel serves every test here (kunit/boot/um.config); the workload
boots it with dynamic stacks on and off, the crash boots provoke an LKDTM
stack overflow, an empty reserve and reads of the pages below and above the
stack.  The stress boots use a kernel of their
own, with lockdep and DEBUG_VM (kunit/boot/stress.config), in a short form
of scripts/stress-kstack.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from growstack import pipeline
from growstack.errors import Exit
from growstack.kernel import boot
from growstack.results import ktap

pytestmark = pytest.mark.kernel

THREADS = 1000


def per_thread_kib(figures: dict[str, int]) -> float:
    return (figures["stack_kb_idle_threads"] - figures["stack_kb_before"]) / figures["threads"]


def test_workload_runs_thousands_of_threads_on_one_page_stacks(
    kernel_context: pipeline.Context, series_tree: Path, tmp_path: Path
) -> None:
    code, outcome = pipeline.boot_kernel(
        kernel_context, series_tree, threads=THREADS, json_path=tmp_path / "boot.json"
    )
    results = json.loads((tmp_path / "boot.json").read_text())
    assert code == Exit.OK, results["counts"]
    suites = {suite["name"]: suite for suite in results["suites"]}
    assert suites["workload"]["status"] == "PASS"
    assert {c["name"] for c in suites["workload"]["subtests"]} >= {
        "mount",
        "threads_started",
        "threads_joined",
        "fork_exit",
        "no_fork_failures",
    }
    assert suites["clean_shutdown"]["status"] == "PASS"
    figures = outcome.figures
    assert figures["threads"] == THREADS
    # One 4 KiB page per thread, where a plain stack takes 16 KiB; a few may grow.
    assert 4.0 <= per_thread_kib(figures) < 4.5
    assert figures["refill_fail"] == 0 and figures["fork_fail"] == 0
    assert results["metadata"]["returncode"] == 0


def test_the_same_kernel_with_dynamic_stack_off_maps_whole_stacks(
    kernel_context: pipeline.Context, series_tree: Path
) -> None:
    code, outcome = pipeline.boot_kernel(
        kernel_context, series_tree, threads=THREADS, kernel_args=["dynamic_stack=off"]
    )
    assert code == Exit.OK
    assert 16.0 <= per_thread_kib(outcome.figures) < 16.5
    assert outcome.figures["faults"] == 0


@pytest.mark.parametrize("crash", sorted(boot.CRASHES))
def test_a_stack_that_cannot_grow_is_reported_and_stops_the_kernel(
    kernel_context: pipeline.Context, series_tree: Path, crash: str
) -> None:
    code, outcome = pipeline.boot_kernel(kernel_context, series_tree, crash=crash, timeout=120)
    [suite] = outcome.run.tests
    assert code == Exit.OK, [(t.name, t.status, t.reason) for t in suite.subtests]
    expected = [name for name, _ in boot.MACHINES["um"].crashes[crash]]
    assert [t.name for t in suite.subtests] == [*expected, "does_not_continue"]
    assert all(t.status is ktap.Status.PASS for t in suite.subtests)
    assert outcome.returncode not in (0, None)  # UML aborts on a panic


STRESS_SECONDS = 20


@pytest.mark.parametrize("stress", sorted(boot.STRESSES))
def test_stacks_grow_under_memory_pressure_without_a_panic(
    kernel_context: pipeline.Context, series_tree: Path, stress: str
) -> None:
    code, outcome = pipeline.boot_kernel(
        kernel_context, series_tree, stress=stress, duration=STRESS_SECONDS, timeout=300
    )
    failed = [(t.name, t.status, t.reason, t.log[:3]) for t in outcome.run.tests]
    assert code == Exit.OK, failed
    assert {t.name for t in outcome.run.tests} == {"stress", "clean_shutdown", "no_kernel_warnings"}
    figures = outcome.figures
    assert figures["kstack_fault"] > 0 and figures["batches"] > 0  # stacks really grew
    # After the load, forks failed at each injected point, and the kernel lived:
    # UML 6.12 panicked when dup_mmap() gave up half-way (patches/local/).
    assert 0 < figures["failed_forks"] <= figures["fork_points"]
    if stress != "rt":
        assert figures["oom_kill"] > 0  # the pressure was real
    if stress == "storm":
        # Refills from the page allocator's reserves failed, and were completed.
        assert figures["kstack_refill_fail"] > 0
        assert figures["kstack_refill_reclaim"] > 0
