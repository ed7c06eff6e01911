"""The figures of scripts/bench-kstack: one kernel, booted in each mode.

`derived()` turns what the workload and the benchmark module printed in one
boot into the figures compared; `table()` sets the boots of each mode side
by side, as medians [min-max], with the ratio of each mode's median to the
median with dynamic stacks off. The script does the booting; this is what
can be tested without a kernel.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

MODES = {
    # Stacks grow on demand and never give pages back.
    "on": ["dynamic_stack=on", "sysctl.vm.kstack_shrink_interval_ms=0"],
    # And shrink: a pass every second takes the pages of tasks asleep for two.
    "shrink": [
        "dynamic_stack=on",
        "sysctl.vm.kstack_shrink_interval_ms=1000",
        "sysctl.vm.kstack_shrink_age_ms=2000",
    ],
    "off": ["dynamic_stack=off"],
}
BASELINE = "off"
# What the figures of each arch come from; QEMU's TCG gives no absolute times.
ACCELERATOR = {"um": "UML", "x86_64": "x86_64 under QEMU, 4 CPUs (TCG, ratios only)"}
PER_THREAD = "stack KiB per thread"
SYSTEM = "stack KiB, system, threads idle"
# Timed figures: the guest prints NAME_ns for its median batch and NAME_min_ns
# for its fastest, which has the least host noise.
TIMED = {
    "kthread": "kthread create+stop ns",
    "fork_exit": "fork+exit+wait ns",
    "thread_join": "thread create+join ns",
    "exec": "fork+exec+wait ns",
    "pipe_round_trip": "pipe round trip, one CPU, ns",
    "page_fault": "user page fault, ns per page",
}

Sample = dict[str, float]


def abba(rounds: int) -> list[str]:
    """The boot order: every mode, then every mode backwards, ... so that drift
    over time hits all modes alike; `rounds` boots of each."""
    there_and_back = [*MODES, *reversed(MODES)]
    return [m for _ in range(rounds) for m in there_and_back][: len(MODES) * rounds]


def derived(figures: Mapping[str, int]) -> Sample:
    """The figures compared, from the "# growstack: NAME=VALUE" lines of one boot."""
    out: Sample = {
        PER_THREAD: (figures["stack_kb_idle_threads"] - figures["stack_kb_before"])
        / figures["threads"],
        SYSTEM: figures["stack_kb_idle_threads"],
        "stack KiB, system, threads after syscalls": figures["stack_kb_busy_threads"],
        "stack KiB, system, after boot": figures["stack_kb_before"],
    }
    for name, label in TIMED.items():
        if f"{name}_ns" in figures:  # a guest older than the figure does not print it
            out[label] = figures[f"{name}_ns"]
            out[f"{label}, fastest batch"] = figures[f"{name}_min_ns"]
    out["first touch of a stack page ns"] = figures["touch_ns"]
    out["first touch, three pages at once ns"] = figures["touch3_ns"]
    out["stack faults in the boot"] = figures["faults"]
    if "stack_kb_settled" in figures:
        out["stack KiB, system, threads asleep after"] = figures["stack_kb_settled"]
        if figures["settle_ms"] >= 0:
            out["ms until within 10 % of idle threads"] = figures["settle_ms"]
    if figures.get("shrink_pages"):
        out["KiB given back by shrink passes"] = figures["shrink_pages"] * 4
        out["shrink pass ns per page given back"] = figures["shrink_ns"] / figures["shrink_pages"]
    if figures.get("bench_refills"):
        out["refill ns per pass"] = figures["bench_refill_ns"] / figures["bench_refills"]
        out["refill ns per page"] = figures["bench_refill_ns"] / figures["bench_refill_pages"]
    return out


def _median(samples: Sequence[Sample], name: str) -> float:
    return statistics.median(s[name] for s in samples)


def table(samples: Mapping[str, Sequence[Sample]]) -> list[str]:
    """One line a figure: each mode booted as median [min-max], then each
    mode's median over the median with dynamic stacks off."""
    modes = [mode for mode in MODES if samples.get(mode)]
    compared = [mode for mode in modes if mode != BASELINE]
    lines = [
        f"{'figure':<44}"
        + "".join(f" {mode:>24}" for mode in modes)
        + "".join(f" {mode + '/' + BASELINE:>12}" for mode in compared)
    ]
    names = dict.fromkeys(name for mode in modes for sample in samples[mode] for name in sample)
    for name in names:
        cells, medians = [], {}
        for mode in modes:
            values = [s[name] for s in samples[mode] if name in s]
            if not values:
                cells.append("-")
                continue
            medians[mode] = statistics.median(values)
            cells.append(f"{medians[mode]:.1f} [{min(values):.0f}-{max(values):.0f}]")
        base = medians.get(BASELINE)
        ratios = [f"{medians[m] / base:.3f}" if base and m in medians else "-" for m in compared]
        lines.append(
            f"{name:<44}"
            + "".join(f" {cell:>24}" for cell in cells)
            + "".join(f" {ratio:>12}" for ratio in ratios)
        )
    return lines


def saving(samples: Mapping[str, Sequence[Sample]]) -> str:
    """How much less nr_kernel_stack the feature needs, per thread and system-wide."""
    per_thread, system = (
        1 - _median(samples["on"], name) / _median(samples["off"], name)
        for name in (PER_THREAD, SYSTEM)
    )
    return (
        f"saved: {100 * per_thread:.1f} % of nr_kernel_stack per workload thread, "
        f"{100 * system:.1f} % for the whole system with the threads alive"
    )
