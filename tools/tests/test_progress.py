"""The status line where it is not a terminal (CI logs)."""

from __future__ import annotations

import io

from growstack.kernel import kunit
from growstack.progress import Status


def quiet_status() -> tuple[Status, io.StringIO]:
    stream = io.StringIO()
    return Status(stream, tty=False, quiet_interval=3600), stream


def test_a_run_logs_its_final_count_not_its_first() -> None:
    status, stream = quiet_status()
    watch = kunit._RunWatch(status, "um KUnit")
    watch.start()
    for line in [
        "KTAP version 1",
        "1..1",
        "    KTAP version 1",
        "    # Subtest: many",
        "    1..300",
        *(f"    ok {n} case_{n}" for n in range(1, 300)),
        "    not ok 300 case_300",
        "not ok 1 many",
    ]:
        watch.parser.feed(line)
    status.clear()
    assert stream.getvalue().splitlines() == [
        "running um KUnit: kernel started",
        "  FAIL: many.case_300",
        "running um KUnit: 300 tests done, 1 failed",
    ]


def test_one_test_is_one_test() -> None:
    status, stream = quiet_status()
    watch = kunit._RunWatch(status, "um KUnit again for kstack_off")
    watch.start()
    for line in ["KTAP version 1", "1..1", "ok 1 only"]:
        watch.parser.feed(line)
    status.clear()
    assert stream.getvalue().splitlines()[-1] == (
        "running um KUnit again for kstack_off: 1 test done, 0 failed"
    )


def test_a_new_topic_first_shows_where_the_old_one_got_to() -> None:
    status, stream = quiet_status()
    for done in (1, 2, 3):
        status.update(f"building: {done} objects", topic="build")
    status.update("booting", topic="run")
    status.update("still booting", topic="run")
    assert stream.getvalue().splitlines() == [
        "building: 1 objects",
        "building: 3 objects",
        "booting",
    ]
