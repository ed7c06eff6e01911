"""patches/NAME/cover-letter: a series' cover letter, its version and its history.

The file is the single source of truth for what `growstack send` mails as
patch 0. A header (up to the first blank line) holds the fields growstack
needs, the body is the letter itself:

    Subject: mm: dynamic kernel stacks
    Prefixes: RFC
    Version: 2
    Depends-on: parisc-map-stack
    Change-Id: 20261121-growstack-0123456789ab
    Sent: v1 <git tree of patches/> <Message-ID of the mailed cover letter>

    Why the series exists and what it does.

    Changes in v2:
    - ...

    Cc: someone@example.org

Lines starting with '#' are comments. `Depends-on` names the series (folders
of patches/) this one applies on top of. `Version` is the version the next send
writes; each send raises it and records a `Sent` line, from which the
range-diff of the next version is made. Anything still reading EDITME stops
a send. Documentation/release.md describes the format for users.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Exit, GrowstackError, UsageError

PLACEHOLDER = "EDITME"
LINK_MASK = "https://lore.kernel.org/r/{}"
_FIELDS = ("Subject", "Prefixes", "Version", "Depends-on", "Change-Id", "Sent")
_HEADER = re.compile(r"^([A-Za-z-]+):\s*(.*)$")
_TRAILER = re.compile(r"^[A-Za-z][A-Za-z0-9-]*: \S")
_CHANGES = re.compile(r"^Changes in v\d+:", re.M)


@dataclass(frozen=True)
class Sent:
    version: int
    patches_tree: str  # git tree id of the series' folder (patches/ before several series)
    message_id: str


@dataclass
class CoverLetter:
    path: Path
    text: str  # the file as it is, comments included
    subject: str = ""
    prefixes: list[str] = field(default_factory=list)
    version: int = 1
    depends_on: list[str] = field(default_factory=list)
    change_id: str | None = None
    sent: list[Sent] = field(default_factory=list)
    body: str = ""  # without comments and header

    @property
    def previous(self) -> Sent | None:
        """The last version mailed before this one, if any."""
        earlier = [s for s in self.sent if s.version < self.version]
        return max(earlier, key=lambda s: s.version) if earlier else None


def _error(path: Path, number: int, what: str, todo: str) -> UsageError:
    return UsageError(f"{path}:{number}: {what}", todo)


def load(path: Path) -> CoverLetter:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(
            f"{path} does not exist",
            "write the cover letter there; Documentation/release.md shows the format",
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read {path}: {err}", "restore it from git") from None
    return parse(text, path)


def parse(text: str, path: Path) -> CoverLetter:
    cover = CoverLetter(path, text)
    lines = text.splitlines()
    end = _header_end(lines)
    for number, line in enumerate(lines[:end], 1):
        if line.startswith("#") or not line.strip():
            continue
        match = _HEADER.match(line)
        if not match or match.group(1) not in _FIELDS:
            raise _error(
                path,
                number,
                f"{line!r} is not a header field",
                f"the header holds {', '.join(_FIELDS)}, then a blank line",
            )
        _set_field(cover, match.group(1), match.group(2).strip(), number)
    cover.body = "\n".join(line for line in lines[end:] if not line.startswith("#")).strip()
    return cover


def _header_end(lines: list[str]) -> int:
    """The index of the blank line that ends the header (comments do not count)."""
    started = False
    for index, line in enumerate(lines):
        if line.startswith("#"):
            continue
        if line.strip():
            started = True
        elif started:
            return index
    return len(lines)


def _set_field(cover: CoverLetter, name: str, value: str, number: int) -> None:
    if name == "Subject":
        cover.subject = value
    elif name == "Prefixes":
        cover.prefixes = value.split()
    elif name == "Depends-on":
        cover.depends_on += value.replace(",", " ").split()
    elif name == "Change-Id":
        cover.change_id = value or None
    elif name == "Version":
        if not value.isdigit() or int(value) < 1:
            raise _error(
                cover.path,
                number,
                f"Version {value!r} is not a positive number",
                "write the version the next send mails, e.g. Version: 1",
            )
        cover.version = int(value)
    else:
        parts = value.split()
        if (
            len(parts) != 3
            or not re.fullmatch(r"v\d+", parts[0])
            or not re.fullmatch(r"[0-9a-f]{40}", parts[1])
        ):
            raise _error(
                cover.path,
                number,
                f"Sent line {value!r} is malformed",
                "growstack send writes these lines: restore it from git",
            )
        cover.sent.append(Sent(int(parts[0][1:]), parts[1], parts[2].strip("<>")))


def require_complete(cover: CoverLetter) -> None:
    """Refuse a cover letter that still holds placeholders or says nothing."""
    for number, line in enumerate(cover.text.splitlines(), 1):
        if PLACEHOLDER in line and not line.startswith("#"):
            raise GrowstackError(
                f"{cover.path}:{number} still holds a placeholder: {line.strip()}",
                f"replace every {PLACEHOLDER} in the cover letter, commit it, then send again",
                exit_code=Exit.COVER_INCOMPLETE,
            )
    if not cover.subject:
        raise GrowstackError(
            f"{cover.path} has no Subject",
            "write a Subject: line in its header",
            exit_code=Exit.COVER_INCOMPLETE,
        )
    if not cover.body:
        raise GrowstackError(
            f"{cover.path} has no letter",
            "write it after the blank line that ends the header",
            exit_code=Exit.COVER_INCOMPLETE,
        )


def _split_trailers(body: str) -> tuple[str, str]:
    """(letter, trailers): the last paragraph is trailers if every line is one."""
    paragraphs = body.split("\n\n")
    last = paragraphs[-1].strip().splitlines()
    if len(paragraphs) > 1 and last and all(_TRAILER.match(line) for line in last):
        return "\n\n".join(paragraphs[:-1]).strip(), "\n".join(last)
    return body.strip(), ""


def mail_text(cover: CoverLetter, evidence: str, prerequisites: Sequence[str] = ()) -> str:
    """The cover letter as b4 keeps it: subject, blank line, body.

    The series it applies on top of (`prerequisites`, one line each) and the
    test evidence go after the letter, before its trailers: b4 reads To:/Cc:
    trailers from the last paragraph.
    """
    letter, trailers = _split_trailers(cover.body)
    based = "\n".join(["This series applies on top of:", *(f"- {p}" for p in prerequisites)])
    parts = (cover.subject, letter, based if prerequisites else "", evidence.strip(), trailers)
    return "\n\n".join(p for p in parts if p) + "\n"


def with_range_diff(text: str, version: int, range_diff: str) -> str:
    """`text` with the range-diff to `version` below a '---' line, where
    reviewers expect notes that are not part of the letter."""
    return f"{text.rstrip()}\n\n---\nRange-diff against v{version}:\n{range_diff.rstrip()}\n"


def record_send(cover: CoverLetter, patches_tree: str, message_id: str, change_id: str) -> str:
    """The file's new text after version `cover.version` was mailed.

    The version goes up by one, the send is recorded with the change-id,
    and a changelog section for the next version is started with a
    placeholder, so the next send waits until it is written.
    """
    lines = cover.text.splitlines()
    header_end = _header_end(lines)
    header = lines[:header_end]
    new_version = cover.version + 1
    header = [f"Version: {new_version}" if line.startswith("Version:") else line for line in header]
    if not any(line.startswith("Version:") for line in header):
        header.append(f"Version: {new_version}")
    if not cover.change_id:
        header.append(f"Change-Id: {change_id}")
    header.append(f"Sent: v{cover.version} {patches_tree} <{message_id}>")
    changes = [
        f"Changes in v{new_version}:",
        f"- {PLACEHOLDER}: what changed since v{cover.version}.",
        f"- Link to v{cover.version}: {LINK_MASK.format(message_id)}",
        "",
    ]
    body = lines[header_end:]
    at = _changelog_position(body)
    if at == len(body) and body and body[-1].strip():
        changes.insert(0, "")
    body[at:at] = changes
    return "\n".join(header + body).rstrip("\n") + "\n"


def _changelog_position(body: list[str]) -> int:
    """Where a new "Changes in vN:" section goes: before the newest one, else
    before the closing paragraph of trailers, else at the end."""
    for index, line in enumerate(body):
        if _CHANGES.match(line):
            return index
    end = len(body)
    while end and not body[end - 1].strip():
        end -= 1
    start = end
    while start and body[start - 1].strip():
        start -= 1
    block = [line for line in body[start:end] if not line.startswith("#")]
    if start and block and all(_TRAILER.match(line) for line in block):
        return start
    return end
