"""`growstack send` on tiny trees, with the real b4 in offline mode.

The tiny base ships its own scripts/checkpatch.pl and scripts/get_maintainer.pl,
the two scripts b4 uses in a kernel tree; the kernel tests use the real ones.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import subprocess
from pathlib import Path

import pytest

from growstack import pipeline
from growstack.errors import Exit
from growstack.project import Project
from growstack.release import mail
from growstack.series import cover, series
from growstack.source import tree

from helpers import SERIES, commit_change, git
from release_helpers import (
    LIST,
    LOCAL_SUBJECT,
    MAINTAINER,
    commit_project,
    context,
    isolated_env,
    letter,
    make_release,
    new_tree,
    results_counts,
    write_results,
)
from test_cli import assert_one_line_error, growstack


@pytest.fixture
def release(tmp_path: Path) -> dict[str, Path]:
    return make_release(tmp_path)


def message(path: Path) -> email.message.EmailMessage:
    with open(path, "rb") as handle:
        return email.message_from_binary_file(handle, policy=email.policy.default)


def body(path: Path) -> str:
    return message(path).get_content()


def test_first_send_writes_the_series_and_records_v1(release: dict[str, Path]) -> None:
    patches_tree = git(release["project"], "rev-parse", f"HEAD:patches/{SERIES}")
    sent = mail.send(context(release), release["release"], sign=False)
    assert sent.directory == (release["work"] / "mail" / SERIES / "v1").resolve() and sent.recorded
    subjects = [str(message(m)["Subject"]) for m in sent.mails]
    assert subjects == [
        "[PATCH 0/2] mm: grow the tiny things",
        "[PATCH 1/2] mm: add grows",
        "[PATCH 2/2] mm: add stack",
    ]
    # The test-environment patch is never mailed (the cover names it as tested with).
    assert not any("mm/local.c" in m.read_text() for m in sent.mails)
    assert not any(LOCAL_SUBJECT in m.read_text() for m in sent.mails[1:])
    cover_mail = message(sent.mails[0])
    assert MAINTAINER in str(cover_mail["To"])
    assert LIST in str(cover_mail["Cc"]) and "reviewer@example.org" in str(cover_mail["Cc"])
    text = body(sent.mails[0])
    counts = results_counts(release["work"] / "results" / "um.json")
    row = next(line.split() for line in text.splitlines() if line.startswith("  um "))
    assert row[1:3] == [str(counts["total"]), str(counts["passed"])]
    assert (
        f"Tested with 1 test-environment patch(es) that are not part of this series: "
        f"{LOCAL_SUBJECT}." in " ".join(text.split())
    )
    after = letter(release)
    assert after.version == 2 and after.change_id == str(cover_mail["X-Change-ID"])
    assert after.sent == [cover.Sent(1, patches_tree, str(cover_mail["Message-Id"]).strip("<>"))]


def test_mails_round_trip_to_the_tree_of_apply_no_local(
    release: dict[str, Path], tmp_path: Path
) -> None:
    sent = mail.send(context(release), release["release"], sign=False)
    box = mailbox.mbox(tmp_path / "series.mbox")
    for path in sent.mails:
        box.add(message(path))
    box.flush()
    by_mail = new_tree(release["tarball"], release["work"], tmp_path / "by-mail")
    result = subprocess.run(
        [mail.b4_command(), "--offline-mode", "shazam", "-m", str(tmp_path / "series.mbox")],
        cwd=by_mail,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    by_apply = new_tree(release["tarball"], release["work"], tmp_path / "by-apply")
    applied = growstack(
        "--project",
        str(release["project"]),
        "--workdir",
        str(release["work"]),
        "apply",
        "--no-local",
        "--tree",
        str(by_apply),
    )
    assert applied.returncode == 0, applied.stderr
    mailed_tree = git(by_mail, "rev-parse", "HEAD^{tree}")
    assert mailed_tree == git(by_apply, "rev-parse", "HEAD^{tree}") == sent.tree_hash
    # With the test-environment patch the tree differs: the mails really leave it out.
    assert git(release["dev"], "rev-parse", "HEAD^{tree}") != mailed_tree


def test_next_send_is_v2_with_a_range_diff(release: dict[str, Path]) -> None:
    first = mail.send(context(release), release["release"], sign=False)
    path = release["project"] / "patches" / SERIES / "cover-letter"
    path.write_text(
        path.read_text().replace("EDITME: what changed since v1.", "mm/stack.c: a second stack.")
    )
    commit_project(Project(release["project"]), "the changes in v2")
    git(release["dev"], "reset", "-q", "--hard", "HEAD~2")
    commit_change(release["dev"], "mm/stack.c", "int stack;\nint stack2;\n", "mm: add stack")
    commit_change(release["dev"], "mm/local.c", "int local;\n", LOCAL_SUBJECT)
    series.export(release["dev"], Project(release["project"]))
    commit_project(Project(release["project"]), "v2")
    write_results(release["work"], release["dev"], Project(release["project"]))
    second = mail.send(context(release), release["release"], sign=False)
    assert second.directory.name == "v2"
    assert str(message(second.mails[0])["Subject"]) == "[PATCH v2 0/2] mm: grow the tiny things"
    assert message(second.mails[0])["X-Change-ID"] == message(first.mails[0])["X-Change-ID"]
    text = body(second.mails[0])
    assert "Changes in v2:\n- mm/stack.c: a second stack.\n- Link to v1: " in text
    diff = text[text.index("Range-diff against v1:") :]
    assert "mm: add grows" in diff.splitlines()[1] and " = " in diff.splitlines()[1]
    assert "mm: add stack" in diff and "+int stack2;" in body(second.mails[2])
    assert letter(release).version == 3


def test_dry_run_records_nothing(release: dict[str, Path]) -> None:
    before = (release["project"] / "patches" / SERIES / "cover-letter").read_text()
    sent = mail.send(context(release), release["release"], sign=False, dry_run=True)
    assert sent.directory.name == "v1-dry-run" and len(sent.mails) == 3 and not sent.recorded
    assert (release["project"] / "patches" / SERIES / "cover-letter").read_text() == before


def run_send(
    release: dict[str, Path], *args: str, env: dict[str, str] | None = None, sign: bool = False
) -> subprocess.CompletedProcess[str]:
    return growstack(
        "--project",
        str(release["project"]),
        "--workdir",
        str(release["work"]),
        "send",
        "--tree",
        str(release["release"]),
        *(["--no-sign"] if not sign else []),
        *args,
        env=env,
    )


def test_b4_missing(release: dict[str, Path]) -> None:
    result = run_send(release, env={"GROWSTACK_B4": "/nonexistent/b4"})
    assert_one_line_error(result, Exit.MISSING_DEPENDENCY, "b4 is not installed")


def test_no_git_identity(release: dict[str, Path], tmp_path: Path) -> None:
    result = run_send(release, env=isolated_env(tmp_path, identity=False))
    assert_one_line_error(result, Exit.NO_IDENTITY, "no git identity", "git config --global")


def test_cover_letter_with_placeholders(release: dict[str, Path]) -> None:
    path = release["project"] / "patches" / SERIES / "cover-letter"
    path.write_text(path.read_text().replace("says how.", "says how. EDITME: numbers"))
    commit_project(Project(release["project"]), "placeholder")
    result = run_send(release)
    assert_one_line_error(result, Exit.COVER_INCOMPLETE, "cover-letter:4 still holds a placeholder")


def test_output_directory_not_empty(release: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine\n")
    result = run_send(release, "-o", str(tmp_path / "out"))
    assert_one_line_error(result, Exit.OUTPUT_NOT_EMPTY, "is not empty")
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine\n"


def test_no_signing_key_offers_no_sign(release: dict[str, Path], tmp_path: Path) -> None:
    result = run_send(release, env=isolated_env(tmp_path), sign=True)
    assert_one_line_error(result, Exit.NO_SIGNING_KEY, "no patatt signing key", "--no-sign")
    assert letter(release).version == 1


def test_uncommitted_patches_are_not_sent(release: dict[str, Path]) -> None:
    path = release["project"] / "patches" / SERIES / "cover-letter"
    path.write_text(path.read_text() + "\nMore.\n")
    result = run_send(release)
    assert_one_line_error(result, Exit.MAIL_FAILED, "has uncommitted changes", "commit them")


def test_stale_test_results_are_not_evidence(release: dict[str, Path], tmp_path: Path) -> None:
    other = new_tree(release["tarball"], release["work"], tmp_path / "other")
    commit_change(other, "mm/mmap.c", "int other;\n", "mm: something else")
    write_results(release["work"], other, Project(release["project"]))
    result = run_send(release)
    assert_one_line_error(
        result,
        Exit.MAIL_FAILED,
        "no test results of this version",
        "it tested another version of the series",
    )


def test_b4_check_must_be_clean(tmp_path: Path) -> None:
    release = make_release(
        tmp_path, checkpatch="#!/bin/sh\necho 'mm/mmap.c:2: WARNING: tiny warning'\n"
    )
    result = run_send(release)
    assert_one_line_error(result, Exit.CHECK_FAILED, "b4 prep --check: 0 error(s) and 2 warning(s)")
    assert "tiny warning" in result.stdout


def test_real_send_needs_a_mail_transport(release: dict[str, Path]) -> None:
    result = run_send(release, "--send")
    assert_one_line_error(result, Exit.MAIL_FAILED, "no mail transport")


def test_real_send_needs_a_typed_confirmation(release: dict[str, Path], tmp_path: Path) -> None:
    # A transport that would leave a trace: it must never run without the confirmation.
    trace = tmp_path / "sent"
    transport = tmp_path / "sendmail"
    transport.write_text(f"#!/bin/sh\ncat > {trace}\n")
    transport.chmod(0o755)
    env = isolated_env(tmp_path, extra_config=f"[sendemail]\n\tsendmailCmd = {transport}\n")
    result = run_send(release, "--send", env=env)
    assert_one_line_error(result, Exit.MAIL_FAILED, "needs a confirmation typed at a terminal")
    assert not trace.exists() and letter(release).version == 1


def test_check_and_send_leave_a_users_dirty_tree_alone(release: dict[str, Path]) -> None:
    (release["release"] / "mm" / "mmap.c").write_text("int mine;\n")
    result = run_send(release)
    assert_one_line_error(result, Exit.SERIES_FAILED, "has uncommitted changes")
    assert (release["release"] / "mm" / "mmap.c").read_text() == "int mine;\n"


def test_tree_records_where_the_b4_branch_is(release: dict[str, Path]) -> None:
    sent = mail.send(context(release), release["release"], sign=False)
    repo = tree.open_repo(sent.tree)
    assert repo.active_branch.name == sent.branch == f"b4/{SERIES}"
    info = subprocess.run(
        [mail.b4_command(), "prep", "--show-info"], cwd=sent.tree, capture_output=True, text=True
    ).stdout
    assert "revision: 1" in info and f"branch: {sent.branch}" in info
    assert pipeline.release_tree(context(release), sent.tree) == sent.tree
    assert repo.active_branch.name == tree.WORK_BRANCH
