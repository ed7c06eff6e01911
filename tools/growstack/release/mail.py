"""Mail the series with b4: `growstack send`.

One series is mailed at a time (patches/NAME/series; patches/local/ never).
It becomes the b4-managed branch b4/NAME in the release tree, which carries
the series it depends on below it: `b4 prep -n` makes the branch at the top
of those (the base when there are none) with b4's cover-letter commit, the
series is cherry-picked onto it, the cover letter from
patches/NAME/cover-letter, with the test evidence and the
range-diff to the previous version, is stored with `b4 prep --edit-cover`,
recipients come from get_maintainer.pl (`b4 prep --auto-to-cc`), and
`b4 prep --check` must be clean. `b4 send -o DIR` writes the mails. Before
anything is recorded, the mails are applied to the base again with git am
and must give the tree the series gives. A real send is `b4 send`, only with
an explicit flag and a confirmation typed at a terminal.

b4 always runs with --offline-mode. For writing mails it also gets
sendemail.sendmailCmd=false: without a mail transport b4 would pick its web
endpoint, and with this setting nothing could leave even by mistake.

A send records itself in patches/NAME/cover-letter (see cover.py): the
version, the git tree of patches/NAME/ it was made from, the cover letter's
Message-ID.
The next version's range-diff is made from that tree, so the history lives
in the growstack repository, not in a work tree.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import getaddresses
from pathlib import Path

import git

from .. import deps, pipeline
from ..errors import CheckFailed, Exit, GrowstackError, MailError, MissingDependency
from ..progress import Status
from ..project import Project
from ..results import evidence
from ..series import cover, layout, series
from ..source.tree import BASE_TAG, WORK_BRANCH, BaseInfo, commit_message, open_repo
from . import check

_TRACKING_MARKER = "--- b4-submit-tracking ---"
_TRACKING_NOTE = "# This section is used internally by b4 prep for tracking purposes.\n"
_CHECK_SUMMARY = re.compile(r"Success: (\d+), Warning: (\d+), Error: (\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NO_KEY = ("no key configured", "signingkey is not set")
_NO_IDENTITY = "returned no user.name or user.email"


@dataclass(frozen=True)
class Branch:
    """The b4 branch of one series in the release tree."""

    series: str  # the series' name, also b4's series name
    fork: str  # the commit it starts at: the base, or the top of what the series depends on

    @property
    def name(self) -> str:
        return f"b4/{self.series}"


@dataclass
class Sent:
    series: str
    version: int
    directory: Path
    mails: list[Path]
    tree: Path  # the release tree holding the b4 branch
    tree_hash: str  # of the series applied from the mails
    recipients: list[str] = field(default_factory=list)
    branch: str = ""  # the b4 branch in `tree`
    recorded: bool = False  # the cover letter moved on to the next version
    really_sent: bool = False
    evidence_left_out: list[str] = field(default_factory=list)


# -- running b4 --------------------------------------------------------------------


def b4_command() -> str:
    """The b4 executable: $GROWSTACK_B4, else b4 on PATH or next to our Python."""
    named = os.environ.get("GROWSTACK_B4")
    found = (
        shutil.which(named)
        if named
        else shutil.which("b4") or shutil.which("b4", path=str(Path(sys.executable).parent))
    )
    if not found:
        raise MissingDependency(
            f"b4 is not installed ({named or 'b4'} not found)",
            "run scripts/run once (it installs b4 into .venv), or pip install 'b4>=0.16,<0.17'",
        )
    return found


def _config_env(settings: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """The environment with git config `settings` added through GIT_CONFIG_COUNT."""
    env = {**os.environ, **extra}
    start = int(env.get("GIT_CONFIG_COUNT") or 0)
    for index, (key, value) in enumerate(settings.items(), start):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env["GIT_CONFIG_COUNT"] = str(start + len(settings))
    return env


def run_b4(
    tree: Path,
    args: list[str],
    *,
    writing: bool = True,
    env: dict[str, str] | None = None,
    interactive: bool = False,
) -> str:
    """Run b4 in `tree`; its output. `writing`: no mail transport (see above)."""
    settings = {"b4.prep-cover-strategy": "commit"}
    if writing:
        settings["sendemail.sendmailCmd"] = "false"
    argv = [b4_command(), "--offline-mode", *args]
    if interactive:
        code = subprocess.run(argv, cwd=tree, env=_config_env(settings, env or {})).returncode
        output = ""
    else:
        result = subprocess.run(
            argv,
            cwd=tree,
            env=_config_env(settings, env or {}),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        code, output = result.returncode, _ANSI.sub("", result.stdout + result.stderr)
    if code != 0:
        _raise_for_b4(args, output, code)
    return output


def _raise_for_b4(args: list[str], output: str, code: int) -> None:
    if any(text in output for text in _NO_KEY):
        raise GrowstackError(
            "b4 cannot sign the mails: no patatt signing key is configured",
            "set one up (`patatt genkey`, or user.signingKey for PGP), or pass --no-sign",
            exit_code=Exit.NO_SIGNING_KEY,
        )
    if _NO_IDENTITY in output:
        raise _identity_error()
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.strip() and line.strip() != "Running in OFFLINE mode"
    ]
    critical = [line for line in lines if line.startswith(("CRITICAL", "ERROR", "E:"))]
    why = critical[0] if critical else lines[-1] if lines else f"exit status {code}"
    raise MailError(
        f"b4 {' '.join(args[:2])} failed: {why}",
        "see b4's message; growstack ran it in the release tree",
    )


# -- preconditions -----------------------------------------------------------------


def _identity_error() -> GrowstackError:
    return GrowstackError(
        "no git identity: user.name or user.email is not set",
        "set both with `git config --global user.name 'Your Name'` and "
        "`git config --global user.email you@example.org`",
        exit_code=Exit.NO_IDENTITY,
    )


def require_identity(cwd: Path) -> tuple[str, str]:
    """The user's git name and email, as b4 will see them."""
    found = []
    for key, variables in (
        ("name", ("GIT_COMMITTER_NAME", "GIT_AUTHOR_NAME")),
        ("email", ("GIT_COMMITTER_EMAIL", "GIT_AUTHOR_EMAIL", "EMAIL")),
    ):
        value = subprocess.run(
            ["git", "config", f"user.{key}"], cwd=cwd, capture_output=True, text=True
        ).stdout.strip()
        found.append(value or next((os.environ[v] for v in variables if os.environ.get(v)), ""))
    if not all(found):
        raise _identity_error()
    return found[0], found[1]


def output_directory(
    explicit: Path | None, workspace: Path, name: str, version: int, dry_run: bool
) -> Path:
    """Where the mails go; it must be new or empty, so no mail is mixed up or lost."""
    path = explicit or workspace / "mail" / name / f"v{version}{'-dry-run' if dry_run else ''}"
    path = path.resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise GrowstackError(
            f"the output directory {path} is not empty",
            "remove it, or pass -o with a new or empty directory",
            exit_code=Exit.OUTPUT_NOT_EMPTY,
        )
    return path


def _project_repo(root: Path) -> git.Repo:
    try:
        return git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise MailError(
            f"{root} is not a git repository",
            "send records each version by "
            "the git tree of patches/; work in a git checkout of growstack",
        ) from None


def committed_patches(project: Project, folder: Path) -> str:
    """The git tree id of `folder` (a series in patches/) at HEAD; patches/ must
    hold no uncommitted change."""
    repo = _project_repo(project.root)
    if repo.git.status("--porcelain", "--", str(project.patches)):
        raise MailError(
            f"{project.patches} has uncommitted changes",
            "commit them first: a sent version is recorded by the git tree of "
            "its series' folder, and its range-diff is made from it later",
        )
    relative = folder.resolve().relative_to(Path(repo.working_dir).resolve())
    try:
        return repo.git.rev_parse(f"HEAD:{relative.as_posix()}")
    except git.GitCommandError:
        raise MailError(f"{folder} is not committed", "commit it first") from None


def smtp_configured(cwd: Path) -> bool:
    return any(
        subprocess.run(
            ["git", "config", key], cwd=cwd, capture_output=True, text=True
        ).stdout.strip()
        for key in ("sendemail.smtpServer", "sendemail.sendmailCmd")
    )


# -- the previous version ----------------------------------------------------------


def sent_series(project: Project, sent: cover.Sent, into: Path) -> list[series.Patch]:
    """The mailed patches of an earlier version, from the git tree recorded for it."""
    root = _project_repo(project.root).working_tree_dir
    listing = subprocess.run(
        ["git", "ls-tree", sent.patches_tree], cwd=root, capture_output=True, text=True
    )
    if listing.returncode != 0:
        raise MailError(
            f"v{sent.version} was made from git tree {sent.patches_tree[:12]}, "
            "which this repository does not have",
            "fetch the growstack history that sent it, then send again",
        )
    for line in listing.stdout.splitlines():
        kind, name = line.split()[1], line.split("\t", 1)[1]
        if kind == "blob":
            blob = subprocess.run(
                ["git", "cat-file", "blob", f"{sent.patches_tree}:{name}"],
                cwd=root,
                capture_output=True,
                check=True,
            ).stdout
            (into / name).write_bytes(blob)
    return series.read_series(into / "series")


def range_diff(tree: Path, old: list[series.Patch], version: int, fork: str) -> str:
    """`git range-diff` from an earlier version to the series on the work branch,
    both on `fork`."""
    repo = open_repo(tree)
    branch = f"growstack-sent-v{version}"
    repo.git.checkout("--quiet", "-B", branch, fork)
    try:
        series.git_am(repo, old, restore=repo.commit(fork).hexsha)
    finally:
        repo.git.checkout("--quiet", WORK_BRANCH)
    result = subprocess.run(
        ["git", "range-diff", "--no-color", f"{fork}..{branch}", f"{fork}..{WORK_BRANCH}"],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise MailError(
            f"git range-diff against v{version} failed: {result.stderr.strip()[-200:]}",
            "see git's message",
        )
    return result.stdout


# -- the b4 branch -----------------------------------------------------------------


def _cover_commit(repo: git.Repo, branch: Branch) -> str:
    return repo.git.rev_list("--reverse", f"{branch.fork}..{branch.name}").split()[0]


def tracking(repo: git.Repo, branch: Branch) -> dict:
    """b4's tracking data from its cover-letter commit."""
    message = commit_message(repo.commit(_cover_commit(repo, branch)))
    _, marker, data = message.partition(_TRACKING_MARKER)
    if not marker or "{" not in data:
        raise MailError(
            f"b4 made no cover-letter commit on {branch.name}",
            "growstack works with b4 0.16 (pip install 'b4>=0.16,<0.17')",
        )
    return json.loads(data[data.index("{") :])


def _set_change_id(repo: git.Repo, branch: Branch, change_id: str) -> None:
    """Give the new cover-letter commit (HEAD) the series' recorded change-id."""
    message = commit_message(repo.head.commit)
    text, _, _ = message.partition(_TRACKING_MARKER)
    data = tracking(repo, branch)
    data["series"]["change-id"] = change_id
    new = f"{text}{_TRACKING_MARKER}\n{_TRACKING_NOTE}{json.dumps(data, indent=2)}\n"
    subprocess.run(
        [
            "git",
            "commit",
            "--amend",
            "--allow-empty",
            "--no-verify",
            "--quiet",
            "--cleanup=verbatim",
            "-F",
            "-",
        ],
        cwd=repo.working_tree_dir,
        input=new,
        text=True,
        check=True,
        capture_output=True,
    )


def _store_cover(tree: Path, text: str) -> None:
    """`b4 prep --edit-cover` with an editor that writes `text`."""
    with tempfile.NamedTemporaryFile("w", suffix=".cover", delete=False) as handle:
        handle.write(text)
    try:
        run_b4(tree, ["prep", "--edit-cover"], env={"GIT_EDITOR": f"cp {shlex.quote(handle.name)}"})
    finally:
        os.unlink(handle.name)


def build_branch(
    tree: Path, branch: Branch, letter: cover.CoverLetter, text: str, diff: str | None
) -> str:
    """The b4 branch for `letter`'s version with `text` as its cover; its change-id.

    The range-diff `diff` is added after `b4 prep --auto-to-cc`, which would
    otherwise put the recipients it finds below the range-diff's '---'.
    """
    repo = open_repo(tree)
    if branch.name in repo.heads:
        repo.git.branch("-D", branch.name)
    args = ["prep", "-n", branch.series, "-f", branch.fork]
    if letter.version > 1:
        args += ["--force-revision", str(letter.version)]
    if letter.prefixes:
        args += ["--set-prefixes", *letter.prefixes]
    run_b4(tree, args)
    if letter.change_id:
        _set_change_id(repo, branch, letter.change_id)
    repo.git.cherry_pick(f"{branch.fork}..{WORK_BRANCH}")
    _store_cover(tree, text)
    run_b4(tree, ["prep", "--auto-to-cc"])
    if diff is not None and letter.previous:
        current = commit_message(repo.commit(_cover_commit(repo, branch)))
        current = current.partition(_TRACKING_MARKER)[0]
        _store_cover(tree, cover.with_range_diff(current, letter.previous.version, diff))
    return tracking(repo, branch)["series"]["change-id"]


def b4_check(tree: Path, patches: list[Path], status: Status, out: Callable[[str], None]) -> None:
    """`b4 prep --check` (checkpatch on each patch) must report nothing.

    b4 runs checkpatch as it recommends. As in `growstack check`, two of its
    questions are left out when they are answered: whether MAINTAINERS needs
    updating for new files, when get_maintainer.pl shows that every such file
    is covered already, and unknown commit ids, when the base has no history
    to look them up in.
    """
    env = deps.checkpatch_env(status)
    settings = {}
    ignored = check.answered_everywhere(tree, patches, env)
    if ignored:
        settings["b4.prep-perpatch-check-cmd"] = (
            f"{tree / 'scripts/checkpatch.pl'} -q --terse --no-summary --mailback --showfile "
            f"--ignore {','.join(ignored)}"
        )
    output = run_b4(tree, ["prep", "--check"], env=_config_env(settings, env))
    summary = _CHECK_SUMMARY.search(output)
    if not summary:
        raise MailError(
            "b4 prep --check printed no summary", f"run it in the release tree ({tree}) to see why"
        )
    warnings, errors = int(summary.group(2)), int(summary.group(3))
    if warnings or errors:
        for line in output.splitlines():
            if line.startswith("  "):
                out(line.rstrip())
        raise CheckFailed(
            f"b4 prep --check: {errors} error(s) and {warnings} warning(s)",
            "fix the commits in a work tree, `growstack export`, commit, and "
            "send again (`growstack check` shows checkpatch's findings)",
        )


# -- the mails ---------------------------------------------------------------------


def write_mails(tree: Path, directory: Path, *, sign: bool) -> list[Path]:
    run_b4(tree, ["send", "-o", str(directory), *([] if sign else ["--no-sign"])])
    mails = sorted(directory.glob("*.eml"))
    if not mails:
        raise MailError(
            f"b4 send -o wrote no mails into {directory}", f"run it by hand in {tree} to see why"
        )
    return mails


def _headers(path: Path) -> email.message.Message:
    with open(path, "rb") as handle:
        return email.message_from_binary_file(handle, policy=email.policy.default)


def recipients(mails: list[Path]) -> list[str]:
    found: dict[str, None] = {}
    for mail in mails:
        message = _headers(mail)
        for _, address in getaddresses(message.get_all("To", []) + message.get_all("Cc", [])):
            found.setdefault(address)
    return list(found)


def round_trip(tree: Path, branch: Branch, mails: list[Path]) -> str:
    """Apply the written patch mails where the branch forks, with git am; the tree
    hash they give.

    It must be the tree of the work branch: the series and what it depends on.
    """
    repo = open_repo(tree)
    want = repo.commit(WORK_BRANCH).tree.hexsha
    patches = [series.Patch(m, local=False) for m in mails if b"\ndiff --git " in m.read_bytes()]
    scratch = "growstack-round-trip"
    repo.git.checkout("--quiet", "-B", scratch, branch.fork)
    try:
        series.git_am(repo, patches, restore=repo.commit(branch.fork).hexsha)
        got = repo.head.commit.tree.hexsha
    finally:
        repo.git.checkout("--quiet", "--force", branch.name)
        repo.git.branch("-D", scratch)
    if got != want:
        raise MailError(
            f"the written mails apply to tree {got[:12]}, not to {want[:12]} as the series does",
            "report this: b4 changed the patches",
        )
    return got


def confirm(
    version: int, mails: list[Path], to: list[str], ask: Callable[[str], str] = input
) -> None:
    """A real send goes ahead only when the user types `send vN` at a terminal."""
    if not sys.stdin.isatty():
        raise MailError(
            "a real send needs a confirmation typed at a terminal, and standard input is not one",
            "run `growstack send --send` in a terminal",
        )
    print(f"About to mail v{version}: {len(mails)} message(s) to {', '.join(to)}")
    for mail in mails:
        print(f"  {_headers(mail).get('Subject', '')}")
    answer = ask(f"Type 'send v{version}' to send them for real: ")
    if answer.strip() != f"send v{version}":
        raise MailError(
            "not confirmed, nothing was sent", "run it again and type the confirmation to send"
        )


def send_for_real(tree: Path, branch: Branch, *, sign: bool) -> str:
    """`b4 send` through the user's mail transport; the cover letter's Message-ID."""
    run_b4(tree, ["send", *([] if sign else ["--no-sign"])], writing=False, interactive=True)
    data = tracking(open_repo(tree), branch)["series"]
    history = data.get("history", {}).get(f"v{data['revision'] - 1}", [])
    if not history:
        raise MailError(
            "b4 send finished but recorded no Message-ID",
            "check b4's output: the series may not have been sent",
        )
    return history[-1]


def message_id(mails: list[Path]) -> str:
    return str(_headers(mails[0]).get("Message-Id", "")).strip().strip("<>")


# -- the command -------------------------------------------------------------------


def send(
    ctx: pipeline.Context,
    explicit_tree: Path | None = None,
    *,
    name: str | None = None,
    output: Path | None = None,
    dry_run: bool = False,
    real: bool = False,
    sign: bool = True,
) -> Sent:
    """Mail the version of the series `name` (or the only one) that its cover
    letter names, or write it to a directory.

    Every precondition that needs no tree is checked first, so a bad input
    costs no time; nothing is recorded unless the mails are written (or, with
    `real`, sent) and round-trip.
    """
    b4_command()
    require_identity(ctx.workspace)
    chosen = layout.pick(ctx.project, name, "send")
    letter = cover.load(chosen.cover_letter)
    cover.require_complete(letter)
    directory = output_directory(output, ctx.workspace, chosen.name, letter.version, dry_run)
    patches_tree = None if dry_run else committed_patches(ctx.project, chosen.directory)
    if real and not smtp_configured(ctx.workspace):
        raise MailError(
            "no mail transport: git's sendemail.smtpServer (or sendmailCmd) is not set",
            "configure it for git send-email, or leave out --send and "
            "post the written mails yourself",
        )
    mailed = series.read_series(chosen.series_file)
    if not mailed:
        raise MailError(f"{chosen.series_file} lists no patches", "there is nothing to mail")
    tree = pipeline.release_tree(ctx, explicit_tree, only=chosen.name)
    below = series.full_series(ctx.project, include_local=False, only=chosen.name)[: -len(mailed)]
    repo = open_repo(tree)
    fork = repo.git.rev_parse(f"{WORK_BRANCH}~{len(mailed)}") if below else BASE_TAG
    branch = Branch(chosen.name, fork)
    proof, left_out = _evidence(ctx, tree, chosen)
    diff = None
    if letter.previous:
        with tempfile.TemporaryDirectory() as scratch:
            old = sent_series(ctx.project, letter.previous, Path(scratch))
            diff = range_diff(tree, old, letter.previous.version, fork)
    ctx.status.update(f"send: preparing {branch.name} (v{letter.version}) with b4", topic="mail")
    text = cover.mail_text(letter, proof, _prerequisites(ctx.project, chosen))
    change_id = build_branch(tree, branch, letter, text, diff)
    b4_check(tree, [p.path for p in mailed], ctx.status, lambda line: print(line, file=ctx.out))
    directory.mkdir(parents=True, exist_ok=True)
    mails = write_mails(tree, directory, sign=sign)
    ctx.status.clear()
    result = Sent(
        chosen.name,
        letter.version,
        directory,
        mails,
        tree,
        round_trip(tree, branch, mails),
        recipients(mails),
        branch=branch.name,
        evidence_left_out=left_out,
    )
    if real:
        try:
            confirm(letter.version, mails, result.recipients)
        except MailError:
            for path in mails:  # ours, written a moment ago: a rerun needs the directory
                path.unlink()
            raise
        sent_id = send_for_real(tree, branch, sign=sign)
        result.really_sent = True
    else:
        sent_id = message_id(mails)
    if patches_tree is not None:
        letter.path.write_text(cover.record_send(letter, patches_tree, sent_id, change_id))
        result.recorded = True
    return result


def _prerequisites(project: Project, chosen: layout.Series) -> list[str]:
    """One line per series `chosen` depends on: its subject and its last posting."""
    lines = []
    for dep in layout.with_dependencies(project, chosen.name)[:-1]:
        letter = cover.load(dep.cover_letter)
        last = max(letter.sent, key=lambda s: s.version) if letter.sent else None
        where = (
            f"v{last.version}, {cover.LINK_MASK.format(last.message_id)}"
            if last
            else "not posted yet"
        )
        lines.append(f'"{letter.subject}" ({where})')
    return lines


def _evidence(ctx: pipeline.Context, tree: Path, chosen: layout.Series) -> tuple[str, list[str]]:
    def ids(patches: list[series.Patch]) -> list[str]:
        return [series.patch_id(p.path.read_text(errors="replace")) or "" for p in patches]

    everything = layout.discover(ctx.project)
    needed = {s.name for s in layout.with_dependencies(ctx.project, chosen.name)}
    runs = [ids(series.read_series(s.series_file)) for s in everything if s.name in needed]
    others = {
        pid: s.name
        for s in everything
        if s.name not in needed
        for pid in ids(series.read_series(s.series_file))
    }
    local = {}
    for p in series.read_series(ctx.project.local_patches / "series", local=True):
        text = p.path.read_text(errors="replace")
        local[series.patch_id(text) or ""] = series.subject(text)
    found, left_out = evidence.collect(
        ctx.workspace / "results", runs, set(others) | set(local), BaseInfo.of(tree).commit
    )
    return evidence.render(found, others, local), left_out
