"""The kstack KUnit suites on x86_64 under QEMU with 4 CPUs (TCG), the series applied.

kunit/qemu_configs/x86_64.py boots 4 CPUs, so the cases that UML (one CPU)
skips run here: a task migrated between a stack fault and the refill, a
task that exits on another CPU, and secondary CPUs taken offline and online
again while threads on every CPU grow their stacks. A data breakpoint
provokes a #DB, and in it a #PF, in the middle of each stack fault, and
then an NMI that takes a #PF as well (UML has no hardware breakpoints).
With the function graph tracer on, an idle fork whose stack cannot be
mapped fails without freeing its parent's return stack (kstack_init).
Stacks shrink while their tasks sleep, and the shrink races with the
task's wake-up on another CPU, before the pass's TLB flush. The
build is the dynamic_stack fragment alone, a few minutes cold.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from growstack import pipeline
from growstack.errors import Exit

pytestmark = pytest.mark.kernel

SMP_CASES = {"kstack_test_migrate", "kstack_test_migrate_exit", "kstack_test_hotplug"}
# Hardware breakpoints: UML has none, so only here does it run.
NESTED_CASE = "kstack_test_nested_fault"
NMI_CASE = "kstack_test_nested_nmi"
# A host mapping lost under a stack page: only UML maps kernel memory on a host.
UML_CASE = "kstack_test_host_lost_page"
# Shrinking; the race with wake-ups runs the task on another CPU than the shrink.
SHRINK_CASES = {"kstack_test_shrink", "kstack_test_shrink_age", "kstack_test_shrink_running"}
WAKEUP_CASE = "kstack_test_shrink_wakeup"
CPUS = 4


def case_text(case: dict) -> str:
    return "\n".join([*case["diagnostics"], *case["log"]])


def test_kstack_suites_pass_on_four_cpus_with_hotplug_and_migration(
    kernel_context: pipeline.Context, series_tree: Path, tmp_path: Path
) -> None:
    json_path = tmp_path / "x86.json"
    code = pipeline.test(
        kernel_context, series_tree, "x86_64", names=["dynamic_stack"], json_path=json_path
    )
    results = json.loads(json_path.read_text())
    assert code == Exit.OK, results["counts"]
    suites = {suite["name"]: suite for suite in results["suites"]}
    assert set(suites) == {"kstack", "kstack_init", "kstack_off"}
    # A failed idle fork, with the graph tracer on, left its parent's return stack alone.
    assert [(c["name"], c["status"]) for c in suites["kstack_init"]["subtests"]] == [
        ("kstack_init_test_idle_fork_fails", "PASS")
    ]
    kstack = {case["name"]: case for case in suites["kstack"]["subtests"]}
    # On 4 CPUs only the UML case skips; the SMP cases are among those that ran.
    assert {name: case["status"] for name, case in kstack.items() if case["status"] != "PASS"} == {
        UML_CASE: "SKIP"
    }
    assert set(kstack) >= SMP_CASES | SHRINK_CASES | {NESTED_CASE, NMI_CASE, WAKEUP_CASE}
    assert all(case["status"] == "PASS" for case in suites["kstack_off"]["subtests"])
    # The hot-plug case cycled CPUs, grew stacks, and left every CPU's reserve at rest.
    hotplug = case_text(kstack["kstack_test_hotplug"])
    counted = re.search(r"(\d+) offline/online cycles, (\d+) stacks grown", hotplug)
    assert counted, hotplug
    cycles, grown = map(int, counted.groups())
    assert cycles > 0 and grown > 0, hotplug
    low_water = re.findall(r"CPU (\d+): reserve low water (\d+) of (\d+)", hotplug)
    assert {int(cpu) for cpu, _, _ in low_water} == set(range(CPUS)), hotplug
    assert all(int(low) <= int(size) for _, low, size in low_water)
    # A #DB in the middle of each stack fault took a nested #PF of its own.
    nested = case_text(kstack[NESTED_CASE])
    hits = re.search(r"(\d+) debug exceptions in stack faults", nested)
    assert hits and int(hits.group(1)) > 0, nested
    # And in each of those, an NMI that took a #PF too: three levels above the fault.
    nmi = case_text(kstack[NMI_CASE])
    hits = re.search(r"(\d+) debug exceptions in stack faults, .* and an NMI with one", nmi)
    assert hits and int(hits.group(1)) > 0, nmi
    # Shrinks raced with wake-ups: some took pages while the task went deep before the flush.
    wakeup = case_text(kstack[WAKEUP_CASE])
    rounds = re.search(
        r"(\d+) of (\d+) rounds took pages; in (\d+) of them the task was deep", wakeup
    )
    assert rounds, wakeup
    took, total, raced = map(int, rounds.groups())
    assert 0 < raced <= took <= total, wakeup
