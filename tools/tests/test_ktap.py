"""Tests for growstack.results.ktap on the hand-written samples in data/ktap."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from growstack.results import ktap
from growstack.results.ktap import (
    MAX_DEPTH,
    MAX_WARNINGS,
    Counts,
    KtapParser,
    Run,
    Status,
    parse,
    worst,
)

DATA = Path(__file__).parent / "data" / "ktap"
SAMPLES = sorted(DATA.glob("*.ktap"))


def sample_lines(name: str) -> list[str]:
    with open(DATA / name, encoding="utf-8", errors="replace") as file:
        return file.readlines()


def load(name: str, *, timed_out: bool = False) -> Run:
    return parse(sample_lines(name), timed_out=timed_out)


def by_path(run: Run) -> dict[str, ktap.TestResult]:
    return {".".join(path): test for path, test in run.walk()}


def statuses(run: Run) -> dict[str, Status]:
    return {path: test.status for path, test in by_path(run).items()}


def assert_sane(run: Run) -> None:
    """Invariants any Run must keep, whatever the input."""
    assert isinstance(run, Run)
    assert run.found_ktap == (run.documents > 0)
    assert len(run.warnings) <= MAX_WARNINGS + 1
    every = list(run.walk())
    assert run.counts.total <= len(every)
    assert all(isinstance(test.status, Status) for _, test in every)
    assert all(len(path) <= MAX_DEPTH + 1 for path, _ in every)
    assert isinstance(run.status, Status)


# Structure, plans, directives, diagnostics.


def test_nested_suites_follow_indentation() -> None:
    run = load("nested.ktap")
    assert statuses(run) == {
        "example": Status.FAIL,
        "example.example_simple_test": Status.PASS,
        "example.example_fail_test": Status.FAIL,
        "example.example_params_test": Status.PASS,
        "example.example_params_test.example value 3": Status.PASS,
        "example.example_params_test.example value 2": Status.SKIP,
        "example.example_params_test.example value 1": Status.PASS,
        "example.example_slow_test": Status.PASS,
        "list-kunit-test": Status.PASS,
        "list-kunit-test.list_test_list_init": Status.PASS,
        "list-kunit-test.list_test_list_add": Status.PASS,
    }
    tests = by_path(run)
    assert tests["example"].plan == 4
    assert tests["example.example_params_test"].plan is None
    assert [t.number for t in tests["example"].subtests] == [1, 2, 3, 4]
    assert run.counts == Counts(passed=6, failed=1, skipped=1)
    assert run.status is Status.FAIL
    assert run.warnings == []


def test_lines_belong_to_the_test_running_when_printed() -> None:
    tests = by_path(load("nested.ktap"))
    failed = tests["example.example_fail_test"]
    assert failed.diagnostics == [
        "example_fail_test: EXPECTATION FAILED at lib/kunit/kunit-example-test.c:42"
    ]
    assert "example_fail_test: printk from the code under test" in failed.log
    assert "        1 + 1 == 2 (0x2)" in failed.log
    assert tests["example.example_simple_test"].diagnostics == ["example_simple_test: initializing"]
    assert tests["example.example_slow_test"].diagnostics == ["example_slow_test.speed: slow"]
    assert tests["example.example_params_test"].diagnostics == [
        "example_params_test: pass:2 fail:0 skip:1 total:3"
    ]
    assert tests["example"].diagnostics == [
        "module: kunit_example_test",
        "example: pass:2 fail:1 skip:0 total:4",
        "Totals: pass:4 fail:1 skip:1 total:6",
    ]


@pytest.mark.parametrize(
    ("label", "status", "directive", "reason"),
    [
        ("skipped_test", Status.SKIP, "SKIP", "needs CONFIG_FOO"),
        ("todo_test", Status.TODO, "TODO", "not implemented yet"),
        ("xfail_test", Status.XFAIL, "XFAIL", "known bug 1234"),
        ("timeout_test", Status.TIMEOUT, "TIMEOUT", "30 seconds"),
        ("error_test", Status.FAIL, "ERROR", "could not allocate"),
        ("check return code", Status.PASS, None, "rcode=0"),
        ("#7", Status.SKIP, "SKIP", ""),
        ("hyphen name with #hash inside", Status.PASS, None, ""),
        ("lowercase_directive", Status.FAIL, None, "skip is no directive in KTAP"),
    ],
)
def test_directives(label: str, status: Status, directive: str | None, reason: str) -> None:
    test = by_path(load("directives.ktap"))[f"directives.{label}"]
    assert (test.status, test.directive, test.reason) == (status, directive, reason)


def test_nameless_kselftest_skips_are_named_by_their_reason() -> None:
    suite = load("kselftest_skip.ktap").tests[0]
    skipped = [(t.name, t.number, t.reason) for t in suite.subtests if t.status is Status.SKIP]
    assert skipped == [
        ("rlimit_stack", 4, "rlimit_stack"),
        ("lws_cas_grows", 8, "lws_cas_grows: stack grows down"),
    ]
    assert suite.subtests[3].log == ["    # RLIMIT_STACK is already below 16 pages"]


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("ok 1 # XFAIL known_bug: bug 42", "known_bug"),
        (
            "ok 1 # SKIP not running as root: needs CAP_SYS_ADMIN",
            "not running as root: needs CAP_SYS_ADMIN",
        ),  # no single word before ": ": all of it
        ("not ok 1 # TIMEOUT slow_test", ""),  # kselftest prints a name with other results
    ],
)
def test_a_name_in_the_reason(line: str, name: str) -> None:
    assert parse(["KTAP version 1", "1..1", line]).tests[0].name == name


def test_directives_counts_and_bubbling() -> None:
    run = load("directives.ktap")
    assert run.counts == Counts(passed=2, failed=2, skipped=2, timeout=1, xfail=1, todo=1)
    # A timed-out subtest makes its suite TIMEOUT even though the suite said "not ok".
    assert run.tests[0].status is Status.TIMEOUT
    assert run.status is Status.TIMEOUT


def test_unindented_subtests_fall_back_to_plan_and_name() -> None:
    run = parse(
        [
            "KTAP version 1",
            "1..2",
            "# Subtest: flat",
            "1..2",
            "ok 1 a",
            "ok 2 b",
            "ok 1 flat",
            "# Subtest: named",
            "ok 1 c",
            "not ok 2 named",
        ]
    )
    assert statuses(run) == {
        "flat": Status.PASS,
        "flat.a": Status.PASS,
        "flat.b": Status.PASS,
        "named": Status.FAIL,
        "named.c": Status.PASS,
    }
    assert run.warnings == []


def test_indentation_decides_where_nameless_subtests_end() -> None:
    # KTAP v1 without "# Subtest:" names or plans: only indentation can tell.
    run = parse(
        [
            "KTAP version 1",
            "1..1",
            "    KTAP version 1",
            "    1..2",
            "    ok 1 a",
            "        KTAP version 1",
            "        ok 1 p1",
            "        ok 2 p2",
            "    ok 2 params",
            "ok 1 suite",
        ]
    )
    assert statuses(run) == {
        "suite": Status.PASS,
        "suite.a": Status.PASS,
        "suite.params": Status.PASS,
        "suite.params.p1": Status.PASS,
        "suite.params.p2": Status.PASS,
    }
    assert run.warnings == []


def test_outdented_result_ends_unfinished_subtests() -> None:
    run = parse(
        [
            "KTAP version 1",
            "1..1",
            "    KTAP version 1",
            "    # Subtest: suite",
            "    1..2",
            "    ok 1 a",
            "        KTAP version 1",
            "        # Subtest: params",
            "        1..3",
            "        ok 1 p1",
            "not ok 1 suite",
        ]
    )
    assert statuses(run) == {
        "suite": Status.CRASHED,
        "suite.a": Status.PASS,
        "suite.params": Status.CRASHED,
        "suite.params.p1": Status.PASS,
        "suite.params.#2": Status.CRASHED,
        "suite.params.#3": Status.CRASHED,
    }
    tests = by_path(run)
    assert tests["suite.params"].reason == "no result line before its parent's"
    assert "plan announced 3 tests" in tests["suite.params.#2"].reason
    assert run.documents == 1


def test_durations_from_printk_timestamps() -> None:
    tests = by_path(load("timestamps.ktap"))
    # Rounded to printk's microseconds: exact, not approximately.
    assert tests["timing"].duration == 1.7
    assert tests["timing.fast_test"].duration == 0.15
    assert tests["timing.slow_test"].duration == 1.5
    assert tests["timing.instant_test"].duration == 0.0
    assert all(test.duration is None for _, test in load("nested.ktap").walk())


@pytest.mark.parametrize("prefix", ["", "[    1.000000] ", "[    0.060000][    T1] ", "junk: "])
def test_console_prefix_is_cut_like_the_version_line(prefix: str) -> None:
    lines = ["KTAP version 1", "1..1", "    # Subtest: s", "    1..1", "    ok 1 t", "ok 1 s"]
    run = parse(["boot noise", *(prefix + line for line in lines), prefix[:3]])
    assert statuses(run) == {"s": Status.PASS, "s.t": Status.PASS}
    assert run.warnings == []


# Crashes, timeouts, oopses.


def test_crash_mid_suite_cuts_off_running_tests_and_reports_missing_ones() -> None:
    run = load("crash.ktap")
    assert statuses(run) == {
        "first": Status.PASS,
        "first.only": Status.PASS,
        "second": Status.CRASHED,
        "second.a": Status.PASS,
        "second.param": Status.CRASHED,
        "second.param.p1": Status.PASS,
        "second.#3": Status.CRASHED,
        "second.#4": Status.CRASHED,
        "#3": Status.CRASHED,
    }
    tests = by_path(run)
    assert tests["second.param"].diagnostics == ["param: doing p2"]
    assert "before this test's result line" in tests["second.param"].reason
    assert "before this test started" in tests["second.#3"].reason
    assert run.crashed
    assert run.counts == Counts(passed=3, crashed=3)
    assert len(run.warnings) == 5


def test_timeout_marks_unfinished_tests() -> None:
    run = load("timeout.ktap", timed_out=True)
    assert statuses(run) == {
        "hang": Status.TIMEOUT,
        "hang.quick": Status.PASS,
        "hang.#2": Status.TIMEOUT,
        "hang.#3": Status.TIMEOUT,
        "#2": Status.TIMEOUT,
    }
    running = by_path(run)["hang.#2"]
    assert running.reason == "timed out while this test was running"
    assert running.diagnostics == ["waits_forever: waiting for completion"]
    assert "rcu: INFO: rcu_sched self-detected stall on CPU" in running.log
    assert (run.timed_out, run.crashed, run.status) == (True, False, Status.TIMEOUT)
    assert run.counts == Counts(passed=1, timeout=3)
    assert statuses(load("timeout.ktap"))["hang.#2"] is Status.CRASHED


def test_oops_goes_to_the_running_test() -> None:
    run = load("oops.ktap")
    tests = by_path(run)
    faulted = tests["oops_suite.null_deref_test"]
    assert faulted.status is Status.FAIL
    assert faulted.oops[0].startswith("BUG: kernel NULL pointer dereference")
    assert "#PF: supervisor read access in kernel mode" in faulted.oops
    assert faulted.oops[-1].startswith("---[ end trace")
    assert faulted.diagnostics == [
        "null_deref_test: try faulted: last line seen lib/kunit/oops-test.c:12"
    ]
    warned = tests["oops_suite.warn_test"]
    assert warned.status is Status.PASS
    assert warned.oops[1].startswith("WARNING: CPU: 0 PID: 43")
    assert tests["oops_suite.before"].oops == []


def test_panic_ends_the_document() -> None:
    run = load("oops.ktap", timed_out=True)
    tests = by_path(run)
    panicked = tests["panic_suite.#1"]
    assert panicked.status is Status.CRASHED  # a panic, not the timeout, stopped it
    assert panicked.reason == "the kernel panicked while this test was running"
    assert panicked.oops[0].startswith("Kernel panic - not syncing")
    assert panicked.oops[-1].startswith("---[ end Kernel panic")
    assert panicked.diagnostics == ["panicking_test: about to panic"]
    assert "panic_suite.printed_after_the_panic" not in tests
    assert tests["panic_suite"].status is Status.CRASHED


def test_uml_fault_is_oops_text() -> None:
    test = by_path(load("uml_fault.ktap", timed_out=True))["uml.#2"]
    assert test.status is Status.CRASHED
    assert test.oops[0] == "Kernel mode fault at addr 0x0, ip 0x6004a2b1"
    assert test.oops[-1].endswith("uml_fault_test+0x11/0x20")


def test_no_ktap_keeps_boot_oops() -> None:
    run = load("boot_crash.ktap")
    assert not run.found_ktap
    assert run.status is Status.CRASHED
    assert run.tests == []
    assert any("no KTAP output found" in warning for warning in run.warnings)
    assert run.oops[0].endswith("BUG: unable to handle page fault for address: ffffffffff600000")
    assert run.oops[-1].endswith("Kernel panic - not syncing: Attempted to kill the idle task!")


def test_empty_plan_means_no_tests() -> None:
    run = parse(["KTAP version 1", "1..0"])
    assert (run.found_ktap, run.status, run.tests) == (True, Status.NO_TESTS, [])
    assert run.warnings == ["KTAP document 1: no tests ran"]


def test_suite_closing_without_its_planned_tests() -> None:
    run = parse(["KTAP version 1", "1..1", "  # Subtest: s", "  1..3", "  ok 1 a", "ok 1 s"])
    assert statuses(run) == {
        "s": Status.CRASHED,
        "s.a": Status.PASS,
        "s.#2": Status.CRASHED,
        "s.#3": Status.CRASHED,
    }
    assert "plan announced 3 tests" in by_path(run)["s.#2"].reason


def test_header_without_tests_is_no_tests() -> None:
    run = parse(
        [
            "KTAP version 1",
            "1..1",
            "  # Subtest: s",
            "  1..1",
            "    # Subtest: empty",
            "  ok 1 empty",
            "ok 1 s",
        ]
    )
    assert statuses(run) == {"s": Status.PASS, "s.empty": Status.NO_TESTS}
    assert run.counts == Counts(passed=1)  # s stands for itself, as in kunit_parser
    assert run.warnings == ["s.empty: no tests ran"]


# Several documents.


def test_documents_are_merged_by_suite() -> None:
    run = load("multidoc.ktap")
    assert run.documents == 3
    assert [test.name for test in run.tests] == ["alpha", "beta"]
    assert statuses(run) == {
        "alpha": Status.PASS,
        "alpha.alpha_one": Status.PASS,
        "alpha.alpha_two": Status.PASS,
        "beta": Status.CRASHED,
        "beta.beta_one": Status.PASS,
        "beta.#2": Status.CRASHED,
    }
    assert by_path(run)["alpha.alpha_one"].duration == 0.01


def test_merged_suite_sums_plans_and_durations() -> None:
    doc = [
        "[    1.000000] KTAP version 1",
        "[    1.000000] 1..1",
        "[    1.000000]   # Subtest: s",
        "[    1.000000]   1..1",
        "[    1.100000]   ok 1 t",
        "[    1.200000] ok 1 s",
    ]
    run = parse(doc + doc)
    assert run.documents == 2
    assert [(t.name, t.plan, t.duration, len(t.subtests)) for t in run.tests] == [("s", 2, 0.4, 2)]


def test_same_suite_twice_in_one_document_stays_apart() -> None:
    suite = ["  # Subtest: s", "  1..1", "  ok 1 t"]
    run = parse(["KTAP version 1", "1..2", *suite, "ok 1 s", *suite, "ok 2 s"])
    assert [len(test.subtests) for test in run.tests] == [1, 1]


def test_start_document_cuts_off_the_previous_run() -> None:
    parser = KtapParser()
    parser.start_document()  # before the first run: nothing to cut off
    for line in [
        "[ 1.0] KTAP version 1",
        "[ 1.0] 1..1",
        "[ 1.0]   # Subtest: s",
        "[ 1.0]   1..2",
        "[ 1.1]   ok 1 a",
    ]:
        parser.feed(line)
    parser.start_document(timed_out=True)
    for line in ["guest: KTAP version 1", "guest: 1..1", "guest: ok 1 leaf"]:
        parser.feed(line)
    run = parser.finish()
    assert statuses(run) == {
        "s": Status.TIMEOUT,
        "s.a": Status.PASS,
        "s.#2": Status.TIMEOUT,
        "leaf": Status.PASS,
    }
    assert run.timed_out
    assert run.documents == 2


def test_streaming_callback_and_current_path() -> None:
    seen: list[tuple[str, int, tuple[str, ...]]] = []
    parser = KtapParser(
        on_result=lambda test, depth: seen.append((test.label, depth, parser.current_path))
    )
    paths = []
    for line in sample_lines("nested.ktap"):
        parser.feed(line)
        paths.append(parser.current_path)
    run = parser.finish()
    assert ("example", "example_params_test") in paths
    assert seen[0] == ("example_simple_test", 1, ("example",))
    assert ("example value 2", 2, ("example", "example_params_test")) in seen
    assert ("example", 0, ()) in seen
    assert len(seen) == len(list(run.walk()))


def test_callback_sees_cut_off_tests() -> None:
    seen: list[tuple[str, Status]] = []
    parser = KtapParser(on_result=lambda test, depth: seen.append((test.label, test.status)))
    for line in sample_lines("crash.ktap"):
        parser.feed(line)
    parser.finish()
    assert ("param", Status.CRASHED) in seen
    assert seen[-1] == ("#3", Status.CRASHED)


# Status order and counting.


def test_worst_status_order() -> None:
    assert worst([Status.PASS, Status.SKIP]) is Status.PASS
    assert worst([Status.XFAIL, Status.TODO, Status.SKIP]) is Status.XFAIL
    assert worst([Status.FAIL, Status.PASS]) is Status.FAIL
    assert worst([Status.TIMEOUT, Status.FAIL]) is Status.TIMEOUT
    assert worst([Status.TIMEOUT, Status.CRASHED]) is Status.CRASHED
    assert worst([]) is Status.NO_TESTS
    assert [s for s in Status if s.is_failure] == [Status.FAIL, Status.TIMEOUT, Status.CRASHED]


# Bad input never raises.


def test_garbage_sample() -> None:
    run = load("garbage.ktap")
    assert_sane(run)
    tests = by_path(run)
    assert tests["junk.survives_nul\x00bytes"].status is Status.PASS
    assert tests["junk.last"].status is Status.PASS
    assert any("test number 5, expected 2" in warning for warning in run.warnings)
    assert any("plan line '1..7' ignored" in warning for warning in run.warnings)
    assert any("unknown KTAP version 99" in warning for warning in run.warnings)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("errors", ["replace", "backslashreplace"])
def test_random_bytes(seed: int, errors: str) -> None:
    rng = random.Random(seed)
    data = bytes(rng.getrandbits(8) for _ in range(20_000))
    text = data.decode("utf-8", errors=errors)
    run = parse(text.split("\n"))
    assert_sane(run)
    assert run.found_ktap == ("TAP version" in text)


@pytest.mark.parametrize("seed", range(30))
def test_mangled_ktap(seed: int) -> None:
    """Real KTAP lines, shuffled, cut, re-indented and mixed with junk."""
    rng = random.Random(seed)
    pool = [line.rstrip("\n") for path in SAMPLES for line in sample_lines(path.name)]
    lines = ["KTAP version 1"]
    for _ in range(400):
        line = rng.choice(pool)
        mutation = rng.randrange(6)
        if mutation == 0:
            line = line[: rng.randrange(len(line) + 1)]
        elif mutation == 1:
            line = " " * rng.randrange(12) + line.lstrip()
        elif mutation == 2:
            line = "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(30)))
        lines.append(line)
    assert_sane(parse(lines, timed_out=rng.random() < 0.5))


@pytest.mark.parametrize("name", [path.name for path in SAMPLES])
def test_truncated_anywhere(name: str) -> None:
    lines = sample_lines(name)
    for end in range(len(lines)):
        for cut in (lines[:end], [*lines[:end], lines[end][: len(lines[end]) // 2]]):
            assert_sane(parse(cut))


def test_truncated_document_is_never_a_pass() -> None:
    lines = sample_lines("nested.ktap")
    for end in range(1, len(lines)):
        assert parse(lines[:end]).status in (Status.CRASHED, Status.NO_TESTS), end


def test_huge_and_hostile_input() -> None:
    deep = [" " * (2 * level) + "KTAP version 1" for level in range(1, MAX_DEPTH + 10)]
    lines = [
        "KTAP version 1",
        "x" * 1_000_000,
        "ok " + "9" * 5000 + " too_many_digits",
        "1..999999999",
        *deep,
        *(f"ok {n} wrong" for n in range(5, 5 + 2 * MAX_WARNINGS)),
    ]
    run = parse(lines)
    assert_sane(run)
    assert any(f"deeper than {MAX_DEPTH}" in warning for warning in run.warnings)
    assert run.warnings[-1].endswith("more warnings")
    assert "plan line '1..999999999' ignored" in run.warnings[0]
