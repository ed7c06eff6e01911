"""Present a parsed Run: terminal summary, JSON results, JUnit XML, exit code.

The JSON layout is documented in Documentation/results-schema.md; bump
SCHEMA_VERSION on any change a consumer could notice.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from ..errors import Exit, UsageError
from .ktap import Counts, Run, Status, TestResult

SCHEMA = "growstack-results"
SCHEMA_VERSION = 1

# Long logs and long lists of failures belong in the JSON; the terminal shows their head.
MAX_DETAIL_LINES = 60
MAX_PROBLEMS = 100

_COLORS = {
    Status.PASS: "\033[1;32m",
    Status.FAIL: "\033[1;31m",
    Status.CRASHED: "\033[1;31m",
    Status.TIMEOUT: "\033[1;31m",
}
_YELLOW = "\033[1;33m"
_RESET = "\033[0m"

# Counts fields with their wording; the final line always shows the first five.
_COUNT_LABELS = (
    ("passed", "passed"),
    ("failed", "failed"),
    ("skipped", "skipped"),
    ("crashed", "crashed"),
    ("timeout", "timed out"),
    ("xfail", "xfail"),
    ("todo", "todo"),
)
_ALWAYS_COUNTED = ("passed", "failed", "skipped", "crashed", "timeout")


def exit_code(run: Run) -> Exit:
    """OK if nothing failed (skips, XFAIL and TODO are fine); crashes and timeouts beat failures."""
    status = run.status
    if status in (Status.CRASHED, Status.TIMEOUT):
        return Exit.CRASHED
    if status in (Status.FAIL, Status.NO_TESTS):
        return Exit.TESTS_FAILED
    return Exit.OK


def emit(
    run: Run,
    *,
    stream: TextIO,
    json_path: str | os.PathLike[str] | None = None,
    junit_path: str | os.PathLike[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Exit:
    """Print the summary to `stream`, write the requested files, return the exit code."""
    write_summary(run, stream)
    if json_path is not None:
        write_json(run, json_path, metadata or {})
    if junit_path is not None:
        write_junit(run, junit_path)
    return exit_code(run)


# Terminal summary.


def write_summary(run: Run, stream: TextIO) -> None:
    """Write the summary, in colour when `stream` is a terminal."""
    color = stream.isatty()
    stream.write("\n".join(summary_lines(run, color=color)) + "\n")


def summary_lines(run: Run, *, color: bool = False) -> list[str]:
    """The summary: suites, failures and oopses with their output, warnings, totals last."""
    lines = _suite_lines(run, color) + _problem_lines(run, color)
    for title, warnings in (("Parse warnings", run.warnings), ("Host warnings", run.host_warnings)):
        if warnings:
            lines += ["", *_indented(f"{title} ({len(warnings)}):", warnings)]
    if not run.found_ktap:
        lines += ["", "No KTAP output found: the kernel did not run KUnit, or crashed before it."]
        lines += _indented("Kernel oops outside any test:", run.oops)
    if run.timed_out:
        lines += ["", "The kernel run timed out."]
    lines += ["", _paint(completion_line(run.counts), run.status, color)]
    return lines


def completion_line(counts: Counts) -> str:
    """The final line, e.g. "Testing complete. 3 tests: 2 passed, 1 failed, ..."."""
    parts = [
        f"{getattr(counts, attr)} {label}"
        for attr, label in _COUNT_LABELS
        if attr in _ALWAYS_COUNTED or getattr(counts, attr)
    ]
    noun = "test" if counts.total == 1 else "tests"
    return f"Testing complete. {counts.total} {noun}: " + ", ".join(parts)


def _suite_lines(run: Run, color: bool) -> list[str]:
    if not run.tests:
        return []
    width = max(len(test.label) for test in run.tests)
    lines = ["Suites:"]
    for test in run.tests:
        duration = f"  {test.duration:.3f}s" if test.duration is not None else ""
        status = _paint(f"{test.status.value:<8}", test.status, color)
        lines.append(
            f"  {status} {test.label:<{width}}  {_count_text(Counts.of([test]))}{duration}"
        )
    return lines


def _count_text(counts: Counts) -> str:
    parts = [
        f"{getattr(counts, attr)} {label}" for attr, label in _COUNT_LABELS if getattr(counts, attr)
    ]
    return ", ".join(parts) or "no tests"


def _problem_lines(run: Run, color: bool) -> list[str]:
    problems = list(_problems(run))
    if not problems:
        return []
    lines = ["", "Failures and kernel oopses:"]
    for path, test in problems[:MAX_PROBLEMS]:
        reason = f": {test.reason}" if test.reason else ""
        lines += ["", f"{_paint(test.status.value, test.status, color)} {'.'.join(path)}{reason}"]
        lines += _indented("", _dedent(test.log))
        lines += _indented("kernel oops:", test.oops)
    if len(problems) > MAX_PROBLEMS:
        lines += ["", f"... and {len(problems) - MAX_PROBLEMS} more (see the JSON results)"]
    return lines


def _problems(run: Run) -> Iterator[tuple[tuple[str, ...], TestResult]]:
    """Tests worth a closer look: failures not explained by a failing subtest, and oopses."""
    for path, test in run.walk():
        if test.oops or _own_failure(test):
            yield path, test


def _own_failure(test: TestResult) -> bool:
    return test.status.is_failure and not any(sub.status.is_failure for sub in test.subtests)


def _indented(title: str, lines: list[str]) -> list[str]:
    if not lines:
        return []
    shown = [f"    {line}" for line in lines[:MAX_DETAIL_LINES]]
    if len(lines) > MAX_DETAIL_LINES:
        shown.append(f"    ... {len(lines) - MAX_DETAIL_LINES} more lines (see the JSON results)")
    return [f"  {title}", *shown] if title else shown


def _dedent(lines: list[str]) -> list[str]:
    return textwrap.dedent("\n".join(lines)).splitlines() if lines else []


def _paint(text: str, status: Status, color: bool) -> str:
    if not color:
        return text
    return f"{_COLORS.get(status, _YELLOW)}{text}{_RESET}"


# JSON.


def to_json(run: Run, metadata: dict[str, Any]) -> dict[str, Any]:
    """The results document described in Documentation/results-schema.md."""
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "metadata": metadata,
        "status": run.status.value,
        "found_ktap": run.found_ktap,
        "timed_out": run.timed_out,
        "crashed": run.crashed,
        "counts": {"total": run.counts.total, **asdict(run.counts)},
        "warnings": run.warnings,
        "host_warnings": run.host_warnings,
        "oops": run.oops,
        "suites": [_test_json(test) for test in run.tests],
    }


def _test_json(test: TestResult) -> dict[str, Any]:
    return {
        "name": test.name,
        "number": test.number,
        "status": test.status.value,
        "directive": test.directive,
        "reason": test.reason,
        "duration": test.duration,
        "plan": test.plan,
        "diagnostics": test.diagnostics,
        "log": test.log,
        "oops": test.oops,
        "subtests": [_test_json(sub) for sub in test.subtests],
    }


def write_json(run: Run, path: str | os.PathLike[str], metadata: dict[str, Any]) -> None:
    text = json.dumps(to_json(run, metadata), indent=2) + "\n"
    _write(Path(path), text.encode("utf-8"), "JSON results")


# JUnit XML.

# XML 1.0 allows only these characters; the rest (most C0 controls, lone
# surrogates from undecodable console bytes, U+FFFE/U+FFFF) are spelled out.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TOP_LEVEL = "(top level)"
_SUITE_RESULT = "(suite result)"


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def to_junit(run: Run) -> ET.Element:
    """A <testsuites> tree: one <testsuite> per suite, nested suites named with dots."""
    root = ET.Element("testsuites", name="growstack")
    top_level = [test for test in run.tests if not test.subtests]
    if top_level:
        root.append(_junit_suite(_TOP_LEVEL, top_level, None))
    for path, test in run.walk():
        if test.subtests:
            suite = _junit_suite(".".join(path), test.subtests, test.duration)
            if _own_failure(test) or test.oops:
                suite.append(_junit_case(".".join(path), _SUITE_RESULT, test))
                _add_tally(suite, test.status)
            root.append(suite)
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(sum(int(suite.get(attr, "0")) for suite in root)))
    durations = [test.duration for test in run.tests]
    if durations and None not in durations:
        root.set("time", _seconds(sum(d for d in durations if d is not None)))
    return root


def _junit_suite(name: str, tests: list[TestResult], duration: float | None) -> ET.Element:
    suite = ET.Element(
        "testsuite", name=_xml_text(name), tests="0", failures="0", errors="0", skipped="0"
    )
    if duration is not None:
        suite.set("time", _seconds(duration))
    for test in tests:
        if not test.subtests:
            suite.append(_junit_case(name, test.label, test))
            _add_tally(suite, test.status)
    return suite


_TALLY = {
    Status.FAIL: "failures",
    Status.CRASHED: "errors",
    Status.TIMEOUT: "errors",
    Status.SKIP: "skipped",
    Status.TODO: "skipped",
    Status.XFAIL: "skipped",
    Status.NO_TESTS: "skipped",
}


def _add_tally(suite: ET.Element, status: Status) -> None:
    suite.set("tests", str(int(suite.get("tests", "0")) + 1))
    attr = _TALLY.get(status)
    if attr is not None:
        suite.set(attr, str(int(suite.get(attr, "0")) + 1))


def _junit_case(classname: str, name: str, test: TestResult) -> ET.Element:
    case = ET.Element("testcase", classname=_xml_text(classname), name=_xml_text(name))
    if test.duration is not None:
        case.set("time", _seconds(test.duration))
    message = _xml_text(f"{test.status.value}: {test.reason}" if test.reason else test.status.value)
    kind = _TALLY.get(test.status)
    details = _xml_text("\n".join(_dedent(test.log) + test.oops))
    if kind == "failures":
        ET.SubElement(case, "failure", message=message, type=test.status.value).text = details
    elif kind == "errors":
        ET.SubElement(case, "error", message=message, type=test.status.value).text = details
    elif kind == "skipped":
        ET.SubElement(case, "skipped", message=message)
    if kind not in ("failures", "errors") and test.oops:
        ET.SubElement(case, "system-err").text = _xml_text("\n".join(test.oops))
    return case


def _seconds(duration: float) -> str:
    return f"{duration:.6f}"


def write_junit(run: Run, path: str | os.PathLike[str]) -> None:
    root = to_junit(run)
    ET.indent(root)
    text = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    _write(Path(path), text + b"\n", "JUnit XML")


def _write(path: Path, data: bytes, what: str) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:
        raise UsageError(
            f"cannot write the {what} to {path}: {error.strerror}", "choose a writable path"
        ) from error
