"""The patch series: apply them to a work tree with git am, export them back.

patches/NAME/series lists the mailed patches of the series NAME in order (see
layout.py for the folders and their order), patches/local/series the
test-environment patches applied after every series (never mailed). All follow
the quilt convention: one file name per line, '#' comments, blank lines ignored.

Apply is idempotent by patch-id; export is reproducible, so a tree that
carries the series unchanged exports to a zero diff. A series is written as it
applies to the base and its dependencies alone (see replay.py), so it also
exports unchanged from a tree that carries only those.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import git

from ..errors import SeriesError, UsageError
from ..project import Project
from ..source.tree import BASE_TAG, commit_message, open_repo
from . import layout, replay

# Pin every setting that changes format-patch output, whatever the user's config.
_EXPORT_CONFIG = [
    "-c",
    "core.abbrev=12",
    "-c",
    "diff.algorithm=myers",
    "-c",
    "diff.noprefix=false",
    "-c",
    "diff.mnemonicPrefix=false",
    "-c",
    "diff.renames=true",
    "-c",
    "diff.relative=false",
    "-c",
    "format.signOff=false",
    "-c",
    "format.coverLetter=false",
    "-c",
    "format.thread=false",
    "-c",
    "format.useAutoBase=false",
    "-c",
    "diff.suppressBlankEmpty=false",
    "-c",
    "color.ui=false",
]
_EXPORT_ARGS = [
    "format-patch",
    "--zero-commit",
    "--no-signature",
    "--no-numbered",
    "--no-thread",
    "--no-cover-letter",
    "--encode-email-headers",
    "--no-to",
    "--no-cc",
    "--no-add-header",
]


@dataclass(frozen=True)
class Patch:
    path: Path
    local: bool  # a test-environment patch: applied, never mailed

    @property
    def name(self) -> str:
        return self.path.name


def read_series(series_file: Path, *, local: bool = False) -> list[Patch]:
    """The patches `series_file` lists, checking that each exists."""
    patches = []
    for number, name, options in layout.entries(series_file):
        if options and options != ["-p1"]:
            raise SeriesError(
                f"{series_file}:{number}: unsupported options {' '.join(options)}",
                "patches must be git format-patch mails applying with -p1",
            )
        path = series_file.parent / name
        if not path.is_file():
            raise SeriesError(
                f"{series_file}:{number} names {name}, which does not exist",
                f"add {path} or remove the line from the series",
            )
        patches.append(Patch(path, local))
    return patches


def full_series(
    project: Project, *, include_local: bool = True, only: str | None = None
) -> list[Patch]:
    """Every series in apply order (`only`: that series and what it depends on),
    then the test-environment patches."""
    mailed = [
        p for s in layout.with_dependencies(project, only) for p in read_series(s.series_file)
    ]
    if not include_local:
        return mailed
    return mailed + read_series(project.local_patches / "series", local=True)


def patch_id(text: str) -> str | None:
    """git's stable patch-id of a diff, or None when it holds no change."""
    out = subprocess.run(
        ["git", "patch-id", "--stable"], input=text, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] if out else None


def carried_patch_ids(repo: git.Repo) -> list[tuple[str, str | None]]:
    """(commit, patch-id) for each commit since the base, oldest first."""
    commits = [c.hexsha for c in repo.iter_commits(f"{BASE_TAG}..HEAD", reverse=True)]
    return [
        (c, patch_id(repo.git.show(c, "--format=", "--patch", "--no-color", "--full-index")))
        for c in commits
    ]


def ensure_clean(repo: git.Repo, what: str) -> None:
    git_dir = Path(repo.git_dir)
    if (git_dir / "rebase-apply").exists() or (git_dir / "rebase-merge").exists():
        raise SeriesError(
            f"{repo.working_tree_dir} has a git am or rebase in progress",
            "finish it or run `git am --abort` / `git rebase --abort` there",
        )
    if repo.is_dirty(untracked_files=True):
        raise SeriesError(
            f"{repo.working_tree_dir} has uncommitted changes; {what} refuses to touch it",
            "commit or stash them first (git status shows them)",
        )


@dataclass
class ApplyResult:
    applied: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    replaced: bool = False  # an older version of the series, applied by growstack, was replaced


def apply(tree: Path, patches: list[Patch], *, fresh: bool = False) -> ApplyResult:
    """Apply what of `patches` the tree does not carry yet, all or nothing.

    `fresh`: apply all of them again on the base, even those the tree carries
    (patch-ids ignore whitespace, so a carried patch may differ from its file).
    """
    repo = open_repo(tree)
    try:
        repo.commit(BASE_TAG)
    except (git.BadName, ValueError):
        raise UsageError(
            f"{tree} has no {BASE_TAG} tag", "make the tree with `growstack tree`"
        ) from None
    ensure_clean(repo, "apply")
    wanted = [(p, patch_id(p.path.read_text(errors="replace"))) for p in patches]
    for p, pid in wanted:
        if pid is None:
            raise SeriesError(
                f"{p.path} holds no diff (not a git format-patch mail?)",
                "regenerate it with `growstack export` or git format-patch",
            )
    original = repo.head.commit.hexsha
    have = carried_patch_ids(repo)
    stale = _first_mismatch(have, [pid for _, pid in wanted])
    if fresh and have and stale is None:
        stale = 0
    if stale is not None:
        if repo.head.commit.hexsha != _applied_head(repo):
            commit = repo.commit(have[stale][0])
            subject = commit_message(commit).partition("\n")[0]
            raise SeriesError(
                f"{tree} carries commit {commit.hexsha[:12]} ('{subject}') that is not "
                "the next patch of the series",
                "export it with `growstack export`, or make a fresh tree",
            )
        # Only growstack's own earlier apply is there: an older series, safe to redo.
        repo.git.reset("--hard", BASE_TAG)
        have = []
    result = ApplyResult(
        present=[p.name for p, _ in wanted[: len(have)]], replaced=stale is not None
    )
    pending = [p for p, _ in wanted[len(have) :]]
    if pending:
        git_am(repo, pending, restore=original)
        result.applied = [p.name for p in pending]
    _applied_record(repo).write_text(repo.head.commit.hexsha)
    return result


def _first_mismatch(have: list[tuple[str, str | None]], wanted: list[str | None]) -> int | None:
    for index, (_, pid) in enumerate(have):
        if index >= len(wanted) or wanted[index] != pid:
            return index
    return None


def _applied_record(repo: git.Repo) -> Path:
    """Where apply notes the HEAD it left, to tell its own commits from the user's."""
    return Path(repo.git_dir) / "growstack-applied"


def _applied_head(repo: git.Repo) -> str | None:
    record = _applied_record(repo)
    return record.read_text().strip() if record.is_file() else None


def _identity_env(repo: git.Repo) -> dict[str, str]:
    """A committer identity for git am when the user has none configured."""
    reader = repo.config_reader()
    if reader.has_option("user", "email") and reader.has_option("user", "name"):
        return {}
    return {"GIT_COMMITTER_NAME": "growstack", "GIT_COMMITTER_EMAIL": "growstack@localhost"}


def git_am(repo: git.Repo, pending: list[Patch], restore: str) -> None:
    """`git am --3way` of `pending`; on failure abort, reset to `restore`, raise."""
    try:
        repo.git.am(
            "--3way",
            "--quiet",
            *[str(p.path) for p in pending],
            env={**os.environ, **_identity_env(repo)},
        )
    except git.GitCommandError as err:
        output = f"{err.stdout}\n{err.stderr}"
        failed = _failed_patch(output, pending)
        conflicts = _conflicts(repo, output)
        repo.git.am("--abort")
        if repo.head.commit.hexsha != restore or repo.is_dirty(untracked_files=True):
            repo.git.reset("--hard", restore)  # the tree was clean: nothing of the user's is lost
        raise SeriesError(*_describe_failure(failed, conflicts, output)) from None


def _failed_patch(output: str, pending: list[Patch]) -> Patch:
    match = re.search(r"Patch failed at (\d+)", output)
    index = int(match.group(1)) - 1 if match else 0
    return pending[min(max(index, 0), len(pending) - 1)]


def _conflicts(repo: git.Repo, output: str) -> list[str]:
    files = repo.git.diff("--name-only", "--diff-filter=U").split()
    files += re.findall(r"error: patch failed: (.+?):\d+", output)
    files += re.findall(r"error: (.+?): (?:does not exist in index|already exists)", output)
    return list(dict.fromkeys(files))


def _describe_failure(patch: Patch, conflicts: list[str], output: str) -> tuple[str, str]:
    if (
        "Patch format detection failed" in output
        or "Patch is empty" in output
        or "does not have a valid e-mail address" in output
        or "empty ident" in output
    ):
        return (
            f"{patch.path} is not a valid git format-patch mail",
            "regenerate it with `growstack export` or git format-patch",
        )
    where = f": conflicts in {', '.join(conflicts)}" if conflicts else ""
    return (
        f"{patch.path} does not apply{where}; the tree was left as it was",
        "rebase the patch onto the base (edit in a tree, then `growstack export`)",
    )


# -- export -----------------------------------------------------------------------


@dataclass
class ExportResult:
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    # New files no commit carries that git status does not show: Debian's
    # tarball ignores every path in its .gitignore, so `git add -A` skips them.
    hidden: list[str] = field(default_factory=list)


def subject(mail: str) -> str:
    match = re.search(r"^Subject: (?:\[[^]]*\] )?(.*(?:\n[ \t].*)*)", mail, re.M)
    return re.sub(r"\n[ \t]+", " ", match.group(1)).strip() if match else ""


def formatted(
    repo: git.Repo, revs: tuple[str, ...] = (f"{BASE_TAG}..HEAD",)
) -> list[tuple[str, bytes]]:
    """The commits `revs` name (default: those since the base) as export writes
    them: (file name, mail), in order."""
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            ["git", *_EXPORT_CONFIG, *_EXPORT_ARGS, "-o", scratch, *revs],
            cwd=repo.working_tree_dir,
            check=True,
            capture_output=True,
        )
        # format-patch numbers the files; the order lives in `series` instead.
        return [
            (m.name.split("-", 1)[1], m.read_bytes()) for m in sorted(Path(scratch).glob("*.patch"))
        ]


def _guard_destination(project: Project) -> None:
    """Never overwrite uncommitted edits to patches/ in the growstack repository."""
    try:
        ours = git.Repo(project.root)
    except git.InvalidGitRepositoryError:
        return
    if ours.git.status("--porcelain", "--", str(project.patches)):
        raise SeriesError(
            f"{project.patches} has uncommitted changes; export would overwrite them",
            "commit or stash them first",
        )


Routed = list[tuple[str, Path, int]]  # commit, folder, index in its folder's mails


def export(tree: Path, project: Project, *, prune: bool = False) -> ExportResult:
    """Write the commits since the base back to their series in patches/ (see route)."""
    repo = open_repo(tree)
    ensure_clean(repo, "export")
    _guard_destination(project)
    folders = _folders(project)
    old = [
        (folder, name)
        for folder in folders
        for _, name, _ in layout.entries(folder / "series")
        if (folder / name).is_file()
    ]
    new, _ = _exported(repo, project)
    kept = {(folder, name) for folder, group in new.items() for name, _ in group}
    dropped = [folder / name for folder, name in old if (folder, name) not in kept]
    if dropped and not prune:
        raise SeriesError(
            f"export would remove {len(dropped)} patch(es) the tree does not carry "
            f"({', '.join(p.name for p in dropped[:3])})",
            "apply the series to the tree first, or pass --prune to drop them",
        )
    hidden = repo.git.ls_files("--others", "--ignored", "--exclude-standard").splitlines()
    result = ExportResult(removed=dropped, hidden=hidden)
    for folder, mails in new.items():
        result.written += _write_series(folder, mails)
    for path in result.removed:
        path.unlink(missing_ok=True)
    return result


def exported_mails(tree: Path, project: Project) -> list[bytes]:
    """The mails of the commits since the base, in tree order, as export
    would write them (an independent series as it applies alone)."""
    new, routed = _exported(open_repo(tree), project)
    return [new[folder][index][1] for _, folder, index in routed]


def _folders(project: Project) -> list[Path]:
    return [s.directory for s in layout.discover(project)] + [project.local_patches]


def _exported(
    repo: git.Repo, project: Project
) -> tuple[dict[Path, list[tuple[str, bytes]]], Routed]:
    """Each folder's (file name, mail) list, and where each commit went."""
    folders = _folders(project)
    new: dict[Path, list[tuple[str, bytes]]] = {folder: [] for folder in folders}
    claims = Claims.of(project, folders)
    previous: Path | None = None
    routed: Routed = []
    for (name, body), commit in zip(formatted(repo), _commits(repo), strict=True):
        title = subject(body.decode(errors="replace"))
        folder = claims.route(name, title, previous)
        if folder is None:
            raise SeriesError(
                f"cannot tell which series commit {commit[:12]} ('{title}') belongs to: "
                "no patch in patches/ has its subject and no commit of a series comes before it",
                f"add {name} to the series file of its series, or move the commit after "
                "one of that series, then export again",
            )
        if folder != project.local_patches:
            previous = folder
        taken = {n for n, _ in new[folder]}
        stem, suffix, n = name[: -len(".patch")], "", 1
        while f"{stem}{suffix}.patch" in taken:
            n += 1
            suffix = f"-{n}"
        routed.append((commit, folder, len(new[folder])))
        new[folder].append((f"{stem}{suffix}.patch", body))
    where = {commit: (folder, index) for commit, folder, index in routed}
    for each in layout.discover(project):
        for commit, mail in _alone(repo, project, each, routed).items():
            folder, index = where[commit]
            new[folder][index] = (new[folder][index][0], mail)
    return new, routed


def _alone(
    repo: git.Repo, project: Project, wanted: layout.Series, routed: Routed
) -> dict[str, bytes]:
    """The mails of `wanted`'s commits as they apply to the base and its
    dependencies alone, by commit; empty when nothing else lies below them."""
    allowed = {s.directory for s in layout.with_dependencies(project, wanted.name)}
    mine = [n for n, (_, folder, _) in enumerate(routed) if folder == wanted.directory]
    if not mine or all(folder in allowed for _, folder, _ in routed[: mine[-1]]):
        return {}
    kept = [commit for commit, folder, _ in routed[: mine[-1] + 1] if folder in allowed]
    made = dict(zip(kept, replay.replay(repo, BASE_TAG, kept, _identity_env(repo)), strict=True))
    return {routed[n][0]: formatted(repo, ("-1", made[routed[n][0]]))[0][1] for n in mine}


def _commits(repo: git.Repo) -> list[str]:
    return repo.git.rev_list("--reverse", f"{BASE_TAG}..HEAD").split()


@dataclass
class Claims:
    """Which folders of patches/ claim a commit, by its subject or its file name.

    A commit belongs where a patch with its subject is; else where a series
    file lists its file name (a line added by hand for a new commit); else
    to the series of the commit before it, or to the only series there is.
    Local patches are only ever matched, never inherited: a new commit after
    them is a series patch. Two folders claiming one commit is ambiguous.
    """

    project: Project
    series_folders: list[Path]
    by_subject: dict[str, set[Path]]
    by_name: dict[str, set[Path]]

    @classmethod
    def of(cls, project: Project, folders: list[Path]) -> Claims:
        claims = cls(project, [f for f in folders if f != project.local_patches], {}, {})
        for folder in folders:
            for _, name, _ in layout.entries(folder / "series"):
                claims.by_name.setdefault(name, set()).add(folder)
                if (folder / name).is_file():
                    title = subject((folder / name).read_text(errors="replace"))
                    claims.by_subject.setdefault(title, set()).add(folder)
        return claims

    def route(self, name: str, title: str, previous: Path | None) -> Path | None:
        """The folder for a commit's mail; None when that cannot be decided."""
        for found in (self.by_subject.get(title, set()), self.by_name.get(name, set())):
            if len(found) > 1:
                names = " and ".join(sorted(str(f.relative_to(self.project.root)) for f in found))
                raise SeriesError(
                    f"commit '{title}' matches patches in both {names}",
                    "keep its patch in one series only, then export again",
                )
            if found:
                return next(iter(found))
        only = self.series_folders[0] if len(self.series_folders) == 1 else None
        return previous or only


def _write_series(directory: Path, mails: list[tuple[str, bytes]]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in mails:
        path = directory / name
        if not path.exists() or path.read_bytes() != body:
            path.write_bytes(body)
            written.append(path)
    series = directory / "series"
    header = (
        [line for line in series.read_text().splitlines() if line.startswith("#")]
        if series.exists()
        else []
    )
    text = "".join(f"{line}\n" for line in header + [name for name, _ in mails])
    if not series.exists() or series.read_text() != text:
        series.write_text(text)
        written.append(series)
    return written
