"""scripts/bench-kstack's figures and table, from figures a boot could print."""

from __future__ import annotations

from growstack.results import bench

# One boot's figures, as the workload and the benchmark module print them.
FIGURES = {
    "threads": 100,
    "stack_kb_before": 200,
    "stack_kb_idle_threads": 600,
    "stack_kb_busy_threads": 620,
    "kthread_ns": 3000,
    "kthread_min_ns": 2500,
    "fork_exit_ns": 50000,
    "fork_exit_min_ns": 45000,
    "page_fault_ns": 900,
    "page_fault_min_ns": 850,
    "touch_ns": 4000,
    "touch3_ns": 7000,
    "faults": 210,
    "bench_refills": 4,
    "bench_refill_ns": 10000,
    "bench_refill_pages": 8,
}


def test_the_boots_alternate_abba_with_as_many_of_each_mode() -> None:
    assert bench.abba(2) == ["on", "shrink", "off", "off", "shrink", "on"]
    assert bench.abba(3)[6:] == ["on", "shrink", "off"]
    assert all(bench.abba(4).count(mode) == 4 for mode in bench.MODES)


def test_the_shrink_figures_come_from_the_settle_phase() -> None:
    sample = bench.derived(
        {
            **FIGURES,
            "stack_kb_settled": 640,
            "settle_ms": 2100,
            "shrink_pages": 3000,
            "shrink_ns": 6_000_000,
        }
    )
    assert sample["stack KiB, system, threads asleep after"] == 640
    assert sample["ms until within 10 % of idle threads"] == 2100
    assert sample["KiB given back by shrink passes"] == 12000
    assert sample["shrink pass ns per page given back"] == 2000
    # Never within 10 % of idle (-1), and no pages given back: no such figure.
    never = bench.derived(
        {**FIGURES, "stack_kb_settled": 2400, "settle_ms": -1, "shrink_pages": 0, "shrink_ns": 0}
    )
    assert "ms until within 10 % of idle threads" not in never
    assert "shrink pass ns per page given back" not in never


def test_each_timed_figure_gives_its_median_and_fastest_batch() -> None:
    sample = bench.derived(FIGURES)
    assert sample["stack KiB per thread"] == 4.0
    assert sample["user page fault, ns per page"] == 900
    assert sample["user page fault, ns per page, fastest batch"] == 850
    assert sample["kthread create+stop ns, fastest batch"] == 2500
    assert sample["refill ns per pass"] == 2500
    assert sample["refill ns per page"] == 1250
    # What this boot's guest did not measure is left out, not made zero.
    assert "thread create+join ns" not in sample
    assert "pipe round trip, one CPU, ns" not in sample


def test_without_refills_there_is_no_refill_figure() -> None:
    sample = bench.derived({**FIGURES, "bench_refills": 0})
    assert "refill ns per pass" not in sample


def test_the_table_gives_medians_ranges_and_the_ratio_of_the_medians() -> None:
    on = [bench.derived({**FIGURES, "page_fault_ns": ns}) for ns in (900, 910, 950)]
    off = [
        bench.derived(
            {**FIGURES, "stack_kb_idle_threads": 1800, "page_fault_ns": ns, "bench_refills": 0}
        )
        for ns in (880, 900, 1000)
    ]
    lines = bench.table({"on": on, "off": off})
    assert lines[0].split() == ["figure", "on", "off", "on/off"]
    row = next(line for line in lines if line.startswith("user page fault, ns per page "))
    assert row.split()[-5:] == ["910.0", "[900-950]", "900.0", "[880-1000]", "1.011"]
    refill = next(line for line in lines if line.startswith("refill ns per page"))
    assert refill.split()[-3:] == ["[1250-1250]", "-", "-"]
    # With a third mode, a column and a ratio to off of its own.
    lines = bench.table({"on": on, "shrink": on[:1], "off": off})
    assert lines[0].split() == ["figure", "on", "shrink", "off", "on/off", "shrink/off"]
    row = next(line for line in lines if line.startswith("user page fault, ns per page "))
    assert row.split()[-2:] == ["1.011", "1.000"]
    assert bench.saving({"on": on, "off": off}) == (
        "saved: 75.0 % of nr_kernel_stack per workload thread, "
        "66.7 % for the whole system with the threads alive"
    )
