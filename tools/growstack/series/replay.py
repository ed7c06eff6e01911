"""Re-create commits on another parent without a checkout, for export.

Series that do not depend on each other go to different maintainers and must
each apply to the base alone. In a work tree they sit one above the other, so
the diffs of the upper one would carry the lower one's lines as context and
its blob ids in their index lines, and would not export back unchanged from a
tree that carries only the upper one. export therefore writes such a series
from a replay of its commits onto the base and the series it depends on.

The replay runs in a scratch index: `git apply --cached --3way` of each
commit's own diff, then write-tree and commit-tree with the commit's author,
date and message. Nothing in the work tree, index or branches changes.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import git

from ..errors import SeriesError


def replay(repo: git.Repo, onto: str, commits: list[str], identity: dict[str, str]) -> list[str]:
    """Commit the changes of `commits`, in order, on top of `onto`; the new ids.

    `identity` supplies a committer when the user has none. A commit whose
    change does not apply raises SeriesError naming it and the files in
    conflict.
    """
    cwd = str(repo.working_tree_dir)
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, **identity, "GIT_INDEX_FILE": str(Path(scratch) / "index")}

        def run(*args: str, stdin: bytes | None = None, extra: dict[str, str] | None = None) -> str:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env={**env, **(extra or {})},
                input=stdin,
                capture_output=True,
            )
            if done.returncode:
                raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)
            return done.stdout.decode(errors="replace").strip()

        parent = run("rev-parse", f"{onto}^{{commit}}")
        run("read-tree", parent)
        made = []
        for sha in commits:
            diff = subprocess.run(
                ["git", "diff", "--binary", "--full-index", f"{sha}^", sha],
                cwd=cwd,
                capture_output=True,
                check=True,
            ).stdout
            try:
                run("apply", "--cached", "--3way", stdin=diff)
            except subprocess.CalledProcessError as err:
                raise SeriesError(
                    f"commit {sha[:12]} ('{_subject(repo, sha)}') does not apply without "
                    f"the commits below it that its series does not depend on: "
                    f"{_conflicts(err.stderr)}",
                    "add a Depends-on: line naming that series to its cover letter, or "
                    "change the commit so that it applies to the base alone",
                ) from None
            tree = run("write-tree")
            raw = subprocess.run(
                ["git", "cat-file", "commit", sha], cwd=cwd, capture_output=True, check=True
            ).stdout
            message = raw.split(b"\n\n", 1)[1] if b"\n\n" in raw else b""
            author = repo.commit(sha).author
            when = run("log", "-1", "--format=%ad", "--date=raw", sha)
            parent = run(
                "commit-tree",
                tree,
                "-p",
                parent,
                stdin=message,
                extra={
                    "GIT_AUTHOR_NAME": author.name or "",
                    "GIT_AUTHOR_EMAIL": author.email or "",
                    "GIT_AUTHOR_DATE": when,
                },
            )
            made.append(parent)
        return made


def _subject(repo: git.Repo, sha: str) -> str:
    return str(repo.commit(sha).summary)


def _conflicts(stderr: bytes) -> str:
    """The files `git apply --3way` left in conflict, else its first line."""
    lines = stderr.decode(errors="replace").splitlines()
    files = sorted({line[2:] for line in lines if line.startswith("U ")})
    if files:
        return "conflicts in " + ", ".join(files)
    return lines[0] if lines else "git apply failed"
