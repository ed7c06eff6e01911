"""A one-line live status for long operations.

On a terminal the status line is redrawn in place. Elsewhere (CI logs) a
status is printed only when its topic changes or every `quiet_interval`
seconds, so logs show progress without thousands of lines; the last status
of a topic is printed when the topic ends, so the log shows where it got to.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    raise AssertionError("unreachable")


def human_seconds(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Status:
    """A status line shared by the threads of one operation."""

    def __init__(
        self, stream: TextIO | None = None, *, quiet_interval: float = 30.0, tty: bool | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.quiet_interval = quiet_interval
        self._lock = threading.Lock()
        self._shown = ""
        self._topic = ""
        self._last_print = 0.0
        self._held = ""  # the newest non-terminal status not printed yet

    def update(self, text: str, *, topic: str = "") -> None:
        """Show `text`; `topic` groups updates (a new topic always prints)."""
        with self._lock:
            if self.tty:
                width = 120
                line = text if len(text) <= width else text[: width - 1] + "…"
                self.stream.write("\r\x1b[K" + line)
                self.stream.flush()
                self._shown = line
                return
            now = time.monotonic()
            if topic != self._topic:
                self._print_held()  # where the previous topic got to
            elif now - self._last_print < self.quiet_interval:
                self._held = text
                return
            self._held = text
            self._print_held()
            self._topic = topic
            self._last_print = now

    def log(self, text: str) -> None:
        """Print a permanent line above the status line."""
        with self._lock:
            if self.tty and self._shown:
                self.stream.write("\r\x1b[K")
            self.stream.write(text + "\n")
            if self.tty and self._shown:
                self.stream.write(self._shown)
            self.stream.flush()

    def clear(self) -> None:
        with self._lock:
            if self.tty and self._shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            self._print_held()
            self._shown = ""
            self._topic = ""

    def _print_held(self) -> None:
        if self._held:
            self.stream.write(self._held + "\n")
            self.stream.flush()
            self._held = ""
