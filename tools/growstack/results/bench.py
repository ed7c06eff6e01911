"""The figures of scripts/bench-kstack: one kernel, dynamic stacks on and off.

`derived()` turns what the workload and the benchmark module printed in one
boot into the figures compared; `table()` sets the boots with
dynamic_stack=on beside those with =off, as medians [min-max] and the
ratio of the medians. The script does the booting; this is what can be
tested without a kernel.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

MODES = {"on": ["dynamic_stack=on"], "off": ["dynamic_stack=off"]}
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
    """The boot order: on, off, off, on, ... so that drift over time hits both modes alike."""
    return [m for _ in range(rounds) for m in ("on", "off", "off", "on")][: 2 * rounds]


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
    if figures.get("bench_refills"):
        out["refill ns per pass"] = figures["bench_refill_ns"] / figures["bench_refills"]
        out["refill ns per page"] = figures["bench_refill_ns"] / figures["bench_refill_pages"]
    return out


def _median(samples: Sequence[Sample], name: str) -> float:
    return statistics.median(s[name] for s in samples)


def table(samples: Mapping[str, Sequence[Sample]]) -> list[str]:
    """One line a figure: on and off as median [min-max], and on/off of the medians."""
    lines = [f"{'figure':<44} {'on':>24} {'off':>24} {'on/off':>7}"]
    for name in samples["on"][0]:
        cells, medians = [], {}
        for mode in MODES:
            values = [s[name] for s in samples[mode] if name in s]
            if not values:
                cells.append("-")
                continue
            medians[mode] = statistics.median(values)
            cells.append(f"{medians[mode]:.1f} [{min(values):.0f}-{max(values):.0f}]")
        ratio = f"{medians['on'] / medians['off']:.3f}" if medians.get("off") else "-"
        lines.append(f"{name:<44} {cells[0]:>24} {cells[1]:>24} {ratio:>7}")
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
