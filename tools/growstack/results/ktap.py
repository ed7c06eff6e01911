"""Parse KTAP (v1, v2) and KUnit's legacy "TAP version 14" from kernel console output.

The parser is a line-driven state machine that needs no kernel tree. It keeps
one frame per open test on a stack; a frame collects the lines printed since
its last child finished, and those lines belong to whichever test reports
next at that level (the test that was running when they were printed).

Nesting follows indentation when the producer indents subtests (KUnit
always does); for unindented subtests it falls back to the plan and to the
"# Subtest:" name, as the kernel's kunit_parser does. Nothing in here raises
on bad input: problems become `Run.warnings`. Documentation/ktap.md explains
the rules and where they differ from the kernel's kunit_parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property


class Status(Enum):
    """Outcome of a test. Declared from best to worst; `worst` relies on it."""

    NO_TESTS = "NO_TESTS"  # a suite that ran no tests
    SKIP = "SKIP"
    TODO = "TODO"
    XFAIL = "XFAIL"  # failed as expected
    PASS = "PASS"
    FAIL = "FAIL"
    TIMEOUT = "TIMEOUT"
    CRASHED = "CRASHED"

    @property
    def is_failure(self) -> bool:
        return self in _FAILURES


_RANK = {status: rank for rank, status in enumerate(Status)}
_FAILURES = frozenset({Status.FAIL, Status.TIMEOUT, Status.CRASHED})
_CUT_OFF = frozenset({Status.TIMEOUT, Status.CRASHED})


def worst(statuses: Iterable[Status]) -> Status:
    """The worst of `statuses` in declaration order of Status; NO_TESTS if empty."""
    return max(statuses, key=_RANK.__getitem__, default=Status.NO_TESTS)


@dataclass(eq=False, slots=True)
class TestResult:
    """One test or suite.

    `name` is empty for a test whose result line never came (it crashed or
    never ran); `number` still says where the plan put it. `log` holds every
    non-KTAP line printed while the test ran, `diagnostics` the text of its
    "# ..." lines, `oops` the kernel oops/panic/warning text printed during
    it. `duration` (seconds) exists only when the console had printk times.
    """

    name: str
    status: Status = Status.CRASHED
    number: int | None = None
    directive: str | None = None
    reason: str = ""
    diagnostics: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    oops: list[str] = field(default_factory=list)
    subtests: list[TestResult] = field(default_factory=list)
    plan: int | None = None
    duration: float | None = None

    @property
    def label(self) -> str:
        """The name, or "#N" for a test that never printed its result line."""
        return self.name or f"#{self.number}"

    def walk(self, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], TestResult]]:
        """Yield (path of labels, test) for this test and all below it, parents first."""
        path = (*path, self.label)
        yield path, self
        for sub in self.subtests:
            yield from sub.walk(path)


_COUNTED = {
    Status.PASS: "passed",
    Status.FAIL: "failed",
    Status.SKIP: "skipped",
    Status.CRASHED: "crashed",
    Status.TIMEOUT: "timeout",
    Status.XFAIL: "xfail",
    Status.TODO: "todo",
}


@dataclass
class Counts:
    """Totals over test cases: a test counts itself only when nothing below it counted.

    That is kunit_parser's rule: suites are not tests, but a suite whose
    subtests all ran nothing (or that has none) stands for itself.
    """

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    crashed: int = 0
    timeout: int = 0
    xfail: int = 0
    todo: int = 0

    @property
    def total(self) -> int:
        return (
            self.passed
            + self.failed
            + self.skipped
            + self.crashed
            + self.timeout
            + self.xfail
            + self.todo
        )

    @classmethod
    def of(cls, tests: Iterable[TestResult]) -> Counts:
        counts = cls()
        for test in tests:
            counts._count(test)
        return counts

    def _count(self, test: TestResult) -> int:
        below = sum(self._count(sub) for sub in test.subtests)
        if below or test.status not in _COUNTED:
            return below
        attr = _COUNTED[test.status]
        setattr(self, attr, getattr(self, attr) + 1)
        return 1


@dataclass(eq=False)
class Run:
    """Everything one console stream said, over all its KTAP documents.

    `oops` is kernel oops/panic/warning text printed outside any test (for
    example a crash during boot, before KUnit started). `warnings` are the
    parser's, about the output; `host_warnings` are the caller's, about the
    machine the kernel ran on.
    """

    tests: list[TestResult]
    warnings: list[str]
    found_ktap: bool
    timed_out: bool = False
    oops: list[str] = field(default_factory=list)
    host_warnings: list[str] = field(default_factory=list)
    documents: int = 0

    def walk(self) -> Iterator[tuple[tuple[str, ...], TestResult]]:
        for test in self.tests:
            yield from test.walk()

    @cached_property
    def counts(self) -> Counts:
        return Counts.of(self.tests)

    @cached_property
    def crashed(self) -> bool:
        """Whether the kernel died (or the output stopped) in the middle of a test."""
        return any(test.status is Status.CRASHED for _, test in self.walk())

    @cached_property
    def status(self) -> Status:
        """Worst status of any test or suite; CRASHED without KTAP; at least TIMEOUT on timeout."""
        if not self.found_ktap:
            return Status.CRASHED
        status = worst(test.status for _, test in self.walk())
        return worst((status, Status.TIMEOUT)) if self.timed_out else status


# Limits that keep garbage input from exhausting memory or recursion.
MAX_DEPTH = 64
MAX_PLAN = 100_000
MAX_WARNINGS = 1000

# One match classifies a line (after the console prefix is cut off). Group
# numbers double as line kinds through Match.lastindex: 4 result, 5 diagnostic,
# 6 plan, 7 version. A lone "#" or "# text" is a diagnostic; "#PF: ..." in an
# x86 oops is not.
_KTAP = re.compile(
    r"([ \t]*)(?:"
    r"(ok|not ok) +(\d{1,9})\b(.*)"
    r"|(# .*|#$)"
    r"|1\.\.(\d{1,9})\b"
    r"|K?TAP version (\d{1,9})$"
    r")"
).match
_RESULT, _DIAGNOSTIC, _PLAN = 4, 5, 6

_VERSION_ANYWHERE = re.compile(r"(K?TAP) version (\d{1,9})$").search
_TIMESTAMP = re.compile(r"\[\s*(\d{1,9}\.\d{1,9})\]").match
_DIRECTIVE = re.compile(r"(SKIP|TODO|XFAIL|TIMEOUT|ERROR)(?:\s+(.*))?$").match
_RESULT_STATUS = {"ok": Status.PASS, "not ok": Status.FAIL}
_DIRECTIVE_STATUS = {
    "SKIP": Status.SKIP,
    "TODO": Status.TODO,
    "XFAIL": Status.XFAIL,
    "TIMEOUT": Status.TIMEOUT,
    "ERROR": Status.FAIL,
}
_KNOWN_VERSIONS = {"KTAP": (1, 2), "TAP": (13, 14)}

# Kernel messages that matter among the free-form lines. Group 1: the markers
# kunit.py treats as the end of KUnit output (shutdown, or the old UML way of
# ending: no root fs). Group 2: a panic, after which nothing more will run.
# Group 3: other oopses and warnings.
_OOPS_START = (
    r"BUG:|kernel BUG at|Oops|Internal error: Oops|general protection fault"
    r"|Unable to handle kernel|Kernel mode fault at addr|WARNING:|UBSAN:"
    r"|-+\[ cut here \]-+"
)
_SPECIAL = re.compile(
    r"\s*(?:(List of all partitions:|reboot: System halted)"
    r"|(Kernel panic - not syncing)"
    r"|(" + _OOPS_START + r"))"
).match
_END, _PANIC = 1, 2
_OOPS_ANYWHERE = re.compile(r"Kernel panic - not syncing|" + _OOPS_START).search
_END_OF_OOPS = "---[ end "


def _split_result(rest: str) -> tuple[str, str | None, str]:
    """Split what follows "ok N" into (name, directive, reason).

    KTAP separates the directive with " # "; unlike kunit_parser, a "#" that
    is not surrounded like that stays part of the name.
    """
    rest = rest.strip()
    if rest.startswith("- "):
        rest = rest[2:]
    if "#" not in rest:
        return rest, None, ""
    if rest.startswith("#"):
        name, tail = "", rest[1:]
    else:
        name, sep, tail = rest.partition(" # ")
        if not sep:
            return rest.removesuffix(" #").rstrip(), None, ""
    tail = tail.strip()
    directive = _DIRECTIVE(tail)
    if directive is None:
        return name.rstrip(), None, tail
    return name.rstrip(), directive.group(1), directive.group(2) or ""


def _name_in_reason(directive: str | None, reason: str) -> str:
    """The name of a nameless SKIP or XFAIL result, which kselftest prints as its reason.

    ksft_test_result_skip() and _xfail() print "ok N # SKIP " and then the
    caller's message: the test's name, or "name: why".
    """
    if directive not in ("SKIP", "XFAIL"):
        return ""
    head, sep, _ = reason.partition(": ")
    return head if sep and head and not any(c.isspace() for c in head) else reason


def _timestamp(line: str) -> float | None:
    """The printk time at the start of a raw console line."""
    match = _TIMESTAMP(line)
    return float(match.group(1)) if match else None


def _elapsed(start: float | None, end: float) -> float | None:
    """Seconds from start to end, to printk's microsecond (CPUs' clocks may disagree a little)."""
    if start is None:
        return None
    return round(end - start, 6) if end > start else 0.0


@dataclass(eq=False, slots=True)
class _Frame:
    """An open test (or the document itself, at the bottom of the stack).

    `log`, `diagnostics` and `oops` gather the lines printed since the last
    child finished; they go to the next child, or to this test when it
    finishes first. `start` and `mark` are the printk times at which this
    test and its next child started. `indented`: its lines are indented
    deeper than its parent's, so indentation tells where they belong.
    """

    test: TestResult
    indent: int
    indented: bool
    start: float | None
    mark: float | None
    log: list[str] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    oops: list[str] = field(default_factory=list)

    def hand_over(self, test: TestResult) -> None:
        """Give the gathered lines to `test`."""
        test.log += self.log
        test.diagnostics += self.diagnostics
        test.oops += self.oops
        self.log, self.diagnostics, self.oops = [], [], []


class KtapParser:
    """Streaming parser: feed() console lines, then finish() for the Run.

    `on_result(test, depth)` is called whenever a test or suite completes,
    including tests cut off by a crash; depth 0 is a top-level suite.
    `current_path` names the suites that are running.
    """

    def __init__(self, on_result: Callable[[TestResult, int], None] | None = None) -> None:
        self.on_result = on_result
        self._stack: list[_Frame] = []  # empty while looking for a version line
        self._prefix_len = 0
        self._timestamps = False
        self._capturing = False  # inside oops text
        self._dead = False  # the kernel panicked in this document
        self._cut_off_by_timeout = False
        self._timed_out = False
        self._documents = 0
        self._tests: list[TestResult] = []
        self._suites: dict[str, TestResult] = {}
        self._oops: list[str] = []
        self._warnings: list[str] = []
        self._unshown_warnings = 0

    @property
    def current_path(self) -> tuple[str, ...]:
        return tuple(frame.test.label for frame in self._stack[1:])

    def feed(self, line: str) -> None:
        """Take one console line; a trailing newline is fine."""
        line = line.rstrip()
        if not self._stack:
            self._outside(line)
            return
        body = line[self._prefix_len :]
        match = _KTAP(body)
        if match is None:
            self._free_form(line, body)
            return
        self._capturing = False
        kind = match.lastindex
        if kind == _RESULT:
            self._result(match, line)
        elif kind == _DIAGNOSTIC:
            self._diagnostic(match, line, body)
        elif kind == _PLAN:
            self._plan(match, line, body)
        else:
            self._version(match, line)

    def start_document(self, *, timed_out: bool = False) -> None:
        """Expect a new KTAP document, e.g. before the output of the next kernel run.

        The current document (if any) is over: its tests still running are
        cut off, as CRASHED, or as TIMEOUT if `timed_out` says the run that
        printed it timed out. The next version line starts the new document,
        wherever its console prefix ends.
        """
        self._timed_out |= timed_out
        self._end_document(timed_out=timed_out)

    def finish(self, *, timed_out: bool = False) -> Run:
        """End the stream (`timed_out`: the caller stopped a hung kernel) and return the Run."""
        self.start_document(timed_out=timed_out)
        if not self._documents:
            self._warn("no KTAP output found: no 'KTAP version' or 'TAP version' line")
        warnings = self._warnings
        if self._unshown_warnings:
            warnings = [*warnings, f"... and {self._unshown_warnings} more warnings"]
        return Run(
            tests=self._tests,
            warnings=warnings,
            found_ktap=self._documents > 0,
            timed_out=self._timed_out,
            oops=self._oops,
            documents=self._documents,
        )

    def _end_document(self, *, timed_out: bool = False) -> None:
        if not self._stack:
            return
        self._cut_off_by_timeout = timed_out
        running = True  # the innermost open test was running; its parents only waited
        while len(self._stack) > 1:
            self._abandon(running=running)
            running = False
        root = self._stack[0]
        if root.test.plan is not None and len(root.test.subtests) < root.test.plan:
            self._fill_missing(root, running=running)
        self._oops += root.oops
        if not root.test.subtests:
            self._warn(f"KTAP document {self._documents}: no tests ran")
        self._collect(root.test.subtests)
        self._stack = []
        self._capturing = self._dead = self._cut_off_by_timeout = False

    # Outside a document: look for its start, keep oopses (a crash at boot).

    def _outside(self, line: str) -> None:
        if "TAP version" in line:
            version = _VERSION_ANYWHERE(line)
            if version is not None:
                self._open_document(line, version.start(), version.group(1), version.group(2))
                return
        if self._capturing or _OOPS_ANYWHERE(line):
            self._oops.append(line)
            self._capturing = _END_OF_OOPS not in line

    def _open_document(self, line: str, prefix_len: int, kind: str, version: str) -> None:
        self._documents += 1
        self._prefix_len = prefix_len
        start = _timestamp(line)
        self._timestamps = start is not None
        self._capturing = self._dead = False
        self._stack = [
            _Frame(TestResult(name=""), indent=0, indented=False, start=start, mark=start)
        ]
        self._check_version(kind, version)

    def _check_version(self, kind: str, version: str) -> None:
        if int(version) not in _KNOWN_VERSIONS[kind]:
            self._warn(
                f"{self._where()}: unknown {kind} version {version}, parsed as KTAP version 1"
            )

    # Lines inside a document.

    def _version(self, match: re.Match[str], line: str) -> None:
        kind = "KTAP" if match.group(0).lstrip().startswith("K") else "TAP"
        if not match.group(1):  # column 0: the next document (modules, or another boot)
            self._end_document()
            self._open_document(line, self._prefix_len, kind, match.group(7))
            return
        if self._open(len(match.group(1)), line, name=""):
            self._check_version(kind, match.group(7))

    def _diagnostic(self, match: re.Match[str], line: str, body: str) -> None:
        text = match.group(5)
        top = self._stack[-1]
        if text.startswith("# Subtest:"):
            name = text[10:].strip()
            if self._awaits_name(top):
                top.test.name = name
            else:
                self._open(len(match.group(1)), line, name)
            return
        top.log.append(body)
        top.diagnostics.append(text[1:].strip())

    def _awaits_name(self, frame: _Frame) -> bool:
        """A subtest opened by a version line takes the name of a following "# Subtest:"."""
        test = frame.test
        return len(self._stack) > 1 and not test.name and test.plan is None and not test.subtests

    def _plan(self, match: re.Match[str], line: str, body: str) -> None:
        top = self._stack[-1]
        test = top.test
        plan = int(match.group(6))
        if test.plan is not None or plan > MAX_PLAN:
            self._warn(f"{self._where()}: plan line {body.strip()!r} ignored")
            top.log.append(body)
            return
        test.plan = plan
        # Lines between a header and its plan describe the suite (e.g. "# module: x").
        test.log += top.log
        test.diagnostics += top.diagnostics
        top.log, top.diagnostics = [], []
        if self._timestamps:
            top.mark = _timestamp(line)
        self._end_if_complete()

    def _free_form(self, line: str, body: str) -> None:
        special = _SPECIAL(body)
        if special is not None:
            if special.lastindex == _END:
                self._end_document()
                return
            self._capturing = True
            self._dead |= special.lastindex == _PANIC
        elif "TAP version" in line and self._restart(line):
            return
        top = self._stack[-1]
        if not self._capturing:
            top.log.append(body)
            return
        top.oops.append(body)
        if _END_OF_OOPS in body:
            self._capturing = False
            if self._dead:
                self._end_document()

    def _restart(self, line: str) -> bool:
        """A version line behind another prefix: a new boot whose console looks different."""
        version = _VERSION_ANYWHERE(line)
        if version is None:
            return False
        self._end_document()
        self._open_document(line, version.start(), version.group(1), version.group(2))
        return True

    def _open(self, indent: int, line: str, name: str) -> bool:
        """Open a subtest of the innermost test; it starts with the lines gathered so far."""
        parent = self._stack[-1]
        if len(self._stack) > MAX_DEPTH:
            self._warn(f"{self._where()}: subtests nested deeper than {MAX_DEPTH} levels ignored")
            return False
        start = _timestamp(line) if self._timestamps else None
        # Numbered where the plan expects it until its result line says otherwise.
        test = TestResult(name=name, number=len(parent.test.subtests) + 1)
        frame = _Frame(
            test, indent=indent, indented=indent > parent.indent, start=start, mark=start
        )
        parent.hand_over(frame.test)
        self._stack.append(frame)
        return True

    # Result lines: a child of the innermost test, or the end of it.

    def _result(self, match: re.Match[str], line: str) -> None:
        indent_text, ok, number, rest = match.group(1, 2, 3, 4)
        name, directive, reason = _split_result(rest)
        status = _DIRECTIVE_STATUS[directive] if directive else _RESULT_STATUS[ok]
        indent = len(indent_text)
        top = self._stack[-1]
        if (top.indented and indent >= top.indent) or len(self._stack) == 1:
            owner = _Owner.CHILD  # the common case, decided without a call
        else:
            owner = self._settle(indent, name)
        end = _timestamp(line) if self._timestamps else None
        if owner is _Owner.CLOSE:
            self._close(end, status, int(number), name, directive, reason)
        else:
            top = self._stack[-1]
            test = TestResult(
                name or _name_in_reason(directive, reason),
                status,
                int(number),
                directive,
                reason,
                top.diagnostics,
                top.log,
                top.oops,
            )
            top.diagnostics, top.log, top.oops = [], [], []
            if end is not None:
                test.duration = _elapsed(top.mark, end)
                top.mark = end
            self._add(test)
        self._end_if_complete()

    def _settle(self, indent: int, name: str) -> _Owner:
        """Abandon the open tests a result line leaves; say whether it ends the innermost one."""
        while len(self._stack) > 1:
            owner = self._owner(indent, name)
            if owner is not _Owner.OUTER:
                return owner
            self._abandon(running=False, outlived=True)
        return _Owner.CHILD

    def _owner(self, indent: int, name: str) -> _Owner:
        """Where a result line at `indent` named `name` belongs."""
        top, parent = self._stack[-1], self._stack[-2]
        if top.indented:  # indentation decides
            if indent >= top.indent:
                return _Owner.CHILD
            if indent >= parent.indent or len(self._stack) == 2:
                return _Owner.CLOSE
            return _Owner.OUTER
        test = top.test  # unindented subtest: the plan or the name decides
        complete = test.plan is not None and len(test.subtests) >= test.plan
        return _Owner.CLOSE if complete or (test.name and name == test.name) else _Owner.CHILD

    def _close(
        self,
        end: float | None,
        status: Status,
        number: int,
        name: str,
        directive: str | None,
        reason: str,
    ) -> None:
        frame = self._stack[-1]
        test = frame.test
        if test.plan is not None and len(test.subtests) < test.plan:
            self._fill_missing(frame, running=False, closed=True)
        self._stack.pop()
        if test.name and name and name != test.name:
            self._warn(f"{self._where(test)}: result line names it {name!r}")
        test.name = test.name or name
        test.number, test.directive, test.reason = number, directive, reason
        test.status = worst(
            (status, *(sub.status for sub in test.subtests if sub.status in _CUT_OFF))
        )
        if not test.subtests and status is Status.PASS:
            test.status = Status.NO_TESTS
            self._warn(f"{self._where(test)}: no tests ran")
        frame.hand_over(test)
        if end is not None:
            test.duration = _elapsed(frame.start, end)
            self._stack[-1].mark = end
        self._add(test)

    def _abandon(self, *, running: bool, outlived: bool = False) -> None:
        """Close the innermost test, which will never print its result line.

        `running`: no subtest of it was open, so the next one its plan
        announced was the test running when the output stopped. `outlived`:
        the output goes on, but a parent printed its result first.
        """
        frame = self._stack[-1]
        test = frame.test
        if test.plan is not None and len(test.subtests) < test.plan:
            self._fill_missing(frame, running=running, closed=outlived)
        self._stack.pop()
        if outlived:
            test.status, test.reason = Status.CRASHED, "no result line before its parent's"
        else:
            test.status, test.reason = self._cut_off("before this test's result line")
        frame.hand_over(test)
        self._warn(f"{self._where(test)}: no result line")
        self._add(test)

    def _fill_missing(self, frame: _Frame, *, running: bool, closed: bool = False) -> None:
        """Report the tests the plan of `frame` (the innermost) announced but never printed.

        If the first of them was `running` when the output stopped, it gets
        the lines gathered since the last result; otherwise (a subtest was
        cut off first, or the suite `closed` without them while the output
        went on) those lines stay with the suite.
        """
        test = frame.test
        assert test.plan is not None
        first = len(test.subtests) + 1
        for number in range(first, test.plan + 1):
            missing = TestResult(name="", number=number)
            if closed:
                missing.reason = f"no result line, although the plan announced {test.plan} tests"
            elif number == first and running:
                missing.status, missing.reason = self._cut_off("while this test was running")
                frame.hand_over(missing)
            else:
                missing.status, missing.reason = self._cut_off("before this test started")
            self._warn(f"{self._where(missing)}: no result line")
            self._add(missing)

    def _cut_off(self, when: str) -> tuple[Status, str]:
        if self._cut_off_by_timeout and not self._dead:
            return Status.TIMEOUT, f"timed out {when}"
        cause = "the kernel panicked" if self._dead else "the kernel output ended"
        return Status.CRASHED, f"{cause} {when}"

    def _add(self, test: TestResult) -> None:
        """Append a finished test to the innermost open test."""
        parent = self._stack[-1].test
        expected = len(parent.subtests) + 1
        if test.number != expected:
            self._warn(f"{self._where(test)}: test number {test.number}, expected {expected}")
        if parent.plan is not None and expected > parent.plan:
            self._warn(f"{self._where(test)}: more tests than the plan's {parent.plan}")
        parent.subtests.append(test)
        if self.on_result is not None:
            self.on_result(test, len(self._stack) - 1)

    def _end_if_complete(self) -> None:
        """A document ends with the last result its plan announced."""
        root = self._stack[0].test
        if len(self._stack) == 1 and root.plan is not None and len(root.subtests) >= root.plan:
            self._end_document()

    def _collect(self, tests: list[TestResult]) -> None:
        """Add a document's top-level tests to the run, merging suites seen in earlier documents."""
        for test in tests:
            earlier = self._suites.get(test.name) if test.subtests else None
            if earlier is None:
                self._tests.append(test)
            else:
                _merge(earlier, test)
        self._suites.update((t.name, t) for t in tests if t.subtests and t.name not in self._suites)

    def _where(self, test: TestResult | None = None) -> str:
        names = [*self.current_path, *([test.label] if test is not None else [])]
        return ".".join(names) or f"KTAP document {self._documents}"

    def _warn(self, message: str) -> None:
        if len(self._warnings) < MAX_WARNINGS:
            self._warnings.append(message)
        else:
            self._unshown_warnings += 1


class _Owner(Enum):
    CHILD = "child of the innermost test"
    CLOSE = "result of the innermost test"
    OUTER = "belongs further out: the innermost test never finished"


def _merge(into: TestResult, other: TestResult) -> None:
    """Fold a suite from a later document (kunit.py --run_isolated) into the first one."""
    into.subtests += other.subtests
    into.status = worst((into.status, other.status))
    into.plan = None if into.plan is None or other.plan is None else into.plan + other.plan
    if into.duration is not None and other.duration is not None:
        into.duration = round(into.duration + other.duration, 6)
    else:
        into.duration = None
    into.log += other.log
    into.diagnostics += other.diagnostics
    into.oops += other.oops


def parse(lines: Iterable[str], *, timed_out: bool = False) -> Run:
    """Parse a whole console log; `timed_out` says the caller stopped a hung kernel."""
    parser = KtapParser()
    feed = parser.feed
    for line in lines:
        feed(line)
    return parser.finish(timed_out=timed_out)
