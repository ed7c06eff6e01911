"""patches/cover-letter: parsing, placeholders, the mailed text, recording a send."""

from __future__ import annotations

from pathlib import Path

import pytest

from growstack.errors import Exit, GrowstackError, UsageError
from growstack.series import cover

REPO = Path(__file__).resolve().parents[2]
TREE = "0123456789abcdef0123456789abcdef01234567"
LETTER = f"""\
# a comment, never mailed
Subject: mm: grow stacks
Prefixes: RFC mm
Version: 3
Change-Id: 20261121-growstack-0123456789ab
Sent: v1 {TREE} <v1@example.org>
Sent: v2 {"f" * 40} <v2@example.org>

Stacks grow.
# a note to self

Changes in v3:
- shorter

Changes in v2:
- longer

Cc: Reviewer <r@example.org>
To: Maintainer <m@example.org>
"""


def parsed(text: str) -> cover.CoverLetter:
    return cover.parse(text, Path("patches/cover-letter"))


def test_fields_and_body() -> None:
    letter = parsed(LETTER)
    assert (letter.subject, letter.prefixes, letter.version) == (
        "mm: grow stacks",
        ["RFC", "mm"],
        3,
    )
    assert letter.change_id == "20261121-growstack-0123456789ab"
    assert [(s.version, s.message_id) for s in letter.sent] == [
        (1, "v1@example.org"),
        (2, "v2@example.org"),
    ]
    assert letter.previous == letter.sent[1]
    assert letter.body.startswith("Stacks grow.\n\nChanges in v3:")
    assert "note to self" not in letter.body and letter.body.endswith("<m@example.org>")


@pytest.mark.parametrize(
    "line, message",
    [
        ("Subjekt: typo", r"cover-letter:1: 'Subjekt: typo' is not a header field"),
        ("Version: two", r"cover-letter:1: Version 'two' is not a positive number"),
        ("Sent: v1 abc <x@y>", r"cover-letter:1: Sent line 'v1 abc <x@y>' is malformed"),
    ],
)
def test_malformed_header(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parsed(f"{line}\n\nbody\n")


def test_placeholders_are_refused_with_their_line() -> None:
    letter = parsed("# EDITME in a comment is fine\nSubject: s\n\nfine\nEDITME: say why\n")
    with pytest.raises(
        GrowstackError,
        match=r"cover-letter:5 still holds a placeholder: "
        r"EDITME: say why",
    ) as err:
        cover.require_complete(letter)
    assert err.value.exit_code == Exit.COVER_INCOMPLETE


@pytest.mark.parametrize(
    "text, missing", [("Version: 1\n\nbody\n", "has no Subject"), ("Subject: s\n", "has no letter")]
)
def test_empty_parts_are_refused(text: str, missing: str) -> None:
    with pytest.raises(GrowstackError, match=missing) as err:
        cover.require_complete(parsed(text))
    assert err.value.exit_code == Exit.COVER_INCOMPLETE


@pytest.mark.parametrize("name", ["parisc-map-stack", "dynamic-stacks"])
def test_the_projects_cover_letters_parse(name: str) -> None:
    letter = cover.load(REPO / "patches" / name / "cover-letter")
    assert letter.subject and letter.body and letter.version >= 1


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"does not exist; write the cover letter there"):
        cover.load(tmp_path / "cover-letter")


def test_mail_text_puts_evidence_before_the_trailers() -> None:
    text = cover.mail_text(parsed(LETTER), "EVIDENCE")
    assert text.startswith("mm: grow stacks\n\nStacks grow.\n\nChanges in v3:")
    assert "- longer\n\nEVIDENCE\n\nCc: Reviewer <r@example.org>\nTo: Maintainer" in text
    diffed = cover.with_range_diff(text, 2, "1:  abc = 1:  def mm: x\n")
    assert diffed.startswith(text.rstrip())
    assert diffed.endswith("\n\n---\nRange-diff against v2:\n1:  abc = 1:  def mm: x\n")


def test_recording_a_send_starts_the_next_version() -> None:
    letter = parsed(LETTER)
    after = parsed(cover.record_send(letter, "a" * 40, "v3@example.org", "ignored-id"))
    assert after.version == 4 and after.change_id == letter.change_id
    assert after.previous == cover.Sent(3, "a" * 40, "v3@example.org")
    assert after.body.index("Changes in v4:") < after.body.index("Changes in v3:")
    assert "- Link to v3: https://lore.kernel.org/r/v3@example.org" in after.body
    assert "# a comment, never mailed" in after.text
    with pytest.raises(GrowstackError, match="EDITME: what changed since v3"):
        cover.require_complete(after)


@pytest.mark.parametrize(
    "body, before",
    [
        ("Stacks grow.\n\nCc: r@example.org\n", "Cc: r@example.org"),  # before the trailers
        ("Stacks grow.\n", None),  # at the end
    ],
)
def test_first_send_adds_change_id_and_a_changelog(body: str, before: str | None) -> None:
    letter = parsed(f"Subject: s\nVersion: 1\n\n{body}")
    text = cover.record_send(letter, "b" * 40, "m@x", "20261121-growstack-abc")
    after = parsed(text)
    assert after.version == 2 and after.change_id == "20261121-growstack-abc"
    assert "Stacks grow.\n\nChanges in v2:\n- EDITME" in after.body
    if before:
        assert after.body.endswith(f"kernel.org/r/m@x\n\n{before}")
    else:
        assert after.body.endswith("- Link to v1: https://lore.kernel.org/r/m@x")


def test_mail_text_names_the_series_it_applies_on_top_of() -> None:
    letter = parsed("Subject: s\nDepends-on: a, b\n\nThe letter.\n\nCc: x <x@example.org>\n")
    assert letter.depends_on == ["a", "b"]
    text = cover.mail_text(letter, "", ['"mm: a" (v2, https://lore.kernel.org/r/id)'])
    assert text == (
        "s\n\nThe letter.\n\nThis series applies on top of:\n"
        '- "mm: a" (v2, https://lore.kernel.org/r/id)\n\nCc: x <x@example.org>\n'
    )
