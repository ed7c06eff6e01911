"""Base tree: get a pristine kernel source and make work trees from it.

A tarball (Debian's linux-source package, a local file or a download) is
extracted and committed once into a bare cache repository; the commit is made
with a fixed identity and date, so the same tarball gives the same commit id
on every machine. Work trees are shared clones of that cache: seconds, not an
extraction of 1.4 GB. An existing git tree and a ref is used the same way.

Every work tree carries the tag `growstack/base` at its base commit; the
series stage applies and exports relative to it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import git

from .. import deps
from ..errors import BaseTreeError, MissingDependency, UsageError
from ..progress import Status
from . import download

BASE_TAG = "growstack/base"
WORK_BRANCH = "growstack"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "growstack",
    "GIT_AUTHOR_EMAIL": "growstack@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "growstack",
    "GIT_COMMITTER_EMAIL": "growstack@localhost",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}


@dataclass(frozen=True)
class BaseSpec:
    """The pinned base, as patches/base.toml records it."""

    kernel: str
    package: str
    package_version: str
    tarball: str
    sha256: str

    @classmethod
    def load(cls, path: Path) -> BaseSpec:
        try:
            data = tomllib.loads(path.read_text())["base"]
            return cls(**{field: str(data[field]) for field in cls.__dataclass_fields__})
        except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as err:
            raise UsageError(
                f"{path} does not describe a base ({err})", "restore patches/base.toml from git"
            ) from None


@dataclass(frozen=True)
class BaseInfo:
    """What a work tree was made from; stored in its .git directory."""

    kernel: str
    source: str  # "debian <package> <version>", a tarball path/URL, or a git repo
    sha256: str  # of the tarball; empty for git sources
    commit: str

    def save(self, repo: git.Repo) -> None:
        Path(repo.git_dir, "growstack-base.json").write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def of(cls, tree: Path) -> BaseInfo:
        repo = open_repo(tree)
        try:
            return cls(**json.loads(Path(repo.git_dir, "growstack-base.json").read_text()))
        except (OSError, ValueError, TypeError):
            raise UsageError(
                f"{tree} was not made by growstack tree", "make one with `growstack tree`"
            ) from None


def open_repo(tree: Path) -> git.Repo:
    try:
        return git.Repo(tree)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError):
        raise UsageError(f"{tree} is not a git tree", "make one with `growstack tree`") from None


def commit_message(commit: git.Commit) -> str:
    """A commit's message as text (GitPython gives bytes for one it cannot decode)."""
    message = commit.message
    return message if isinstance(message, str) else message.decode("utf-8", "replace")


def kernel_version(makefile: str) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL[EXTRAVERSION] from the text of Linux's top Makefile."""
    fields: dict[str, str] = {}
    for line in makefile.splitlines()[:12]:
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    version = ".".join(fields.get(k, "") for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL"))
    if version.count(".") != 2 or not version.replace(".", "").isdigit():
        raise BaseTreeError(
            "the base has no Linux top-level Makefile",
            "point growstack at a Linux source tree or tarball",
        )
    return version + fields.get("EXTRAVERSION", "")


# -- Debian's linux-source package -------------------------------------------------


def _dpkg_version(package: str) -> str | None:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Status}|${Version}", package],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except FileNotFoundError:
        return None
    state, _, version = out.partition("|")
    return version if state.endswith(" installed") else None


def _apt_versions(package: str) -> list[str]:
    """Versions the archive offers, newest first."""
    try:
        out = subprocess.run(
            ["apt-cache", "madison", package], capture_output=True, text=True, check=False
        ).stdout
    except FileNotFoundError:
        return []
    return list(
        dict.fromkeys(
            line.split("|")[1].strip() for line in out.splitlines() if line.count("|") >= 2
        )
    )


def ensure_debian_source(spec: BaseSpec, status: Status) -> tuple[Path, str]:
    """The package's tarball and the installed version, installing the pin if needed."""
    installed = _dpkg_version(spec.package)
    if installed != spec.package_version:
        offered = _apt_versions(spec.package)
        if not offered:
            subprocess.run(deps.as_root(["apt-get", "update", "-q"]), capture_output=True)
            offered = _apt_versions(spec.package)
        if spec.package_version in offered:
            wanted = spec.package_version
        elif installed:
            wanted = installed
        elif offered:
            wanted = offered[0]
        else:
            raise MissingDependency(
                f"{spec.package} is neither installed nor offered by apt",
                f"install {spec.package} or pass --source with a tarball",
            )
        if wanted != spec.package_version:
            status.log(
                f"WARNING: {spec.package} {spec.package_version} (the pinned base) is "
                f"not available; using {wanted} instead. The series will be applied "
                "with a 3-way merge; update patches/base.toml when it applies cleanly."
            )
        if wanted != installed:
            deps.apt_install([f"{spec.package}={wanted}"], status, why="the base tree")
        installed = wanted
    tarball = Path(spec.tarball)
    if not tarball.is_file():
        raise MissingDependency(
            f"{spec.package} is installed but {tarball} is missing",
            f"reinstall it: apt-get install --reinstall {spec.package}",
        )
    return tarball, installed


# -- the cache ----------------------------------------------------------------------


def _run_git(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if result.returncode != 0:
        raise BaseTreeError(
            f"git {args[0]} failed in {cwd}: {result.stderr.strip()[-300:]}",
            "check disk space and permissions in the workspace",
        )
    return result.stdout.strip()


def _extract(tarball: Path, into: Path) -> tuple[Path, str]:
    """Unpack `tarball`; its single top-level directory and kernel version."""
    result = subprocess.run(
        ["tar", "-xf", str(tarball), "-C", str(into)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise BaseTreeError(
            f"{tarball} is not a readable tarball: "
            f"{result.stderr.strip().splitlines()[-1] if result.stderr else ''}",
            "fetch it again or pass another --source",
        )
    entries = list(into.iterdir())
    top = entries[0] if len(entries) == 1 and entries[0].is_dir() else into
    try:
        makefile = (top / "Makefile").read_text(errors="replace")
    except OSError:
        makefile = ""
    return top, kernel_version(makefile)


def cached_base(
    tarball: Path, sha256: str, label: str, workspace: Path, status: Status
) -> tuple[Path, str]:
    """The bare cache repository for `tarball` and its base commit id."""
    cache = workspace / "base" / f"{sha256[:16]}.git"
    if cache.is_dir():
        try:
            return cache, git.Repo(cache).commit(f"refs/tags/{BASE_TAG}").hexsha
        except (git.BadName, git.InvalidGitRepositoryError, ValueError):
            shutil.rmtree(cache)  # an interrupted earlier attempt
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        dir=cache.parent, prefix=".new-", ignore_cleanup_errors=True
    ) as scratch:
        scratch_dir = Path(scratch)
        status.update(f"extracting {tarball.name} (once; later trees are cloned)", topic="base")
        (scratch_dir / "src").mkdir()
        top, version = _extract(tarball, scratch_dir / "src")
        bare = scratch_dir / "repo.git"
        _run_git(["init", "-q", "--bare", str(bare)], scratch_dir)
        # No background `gc --auto` after the big commit: it would still be writing
        # into the scratch path after the repository has moved into place.
        _run_git(["config", "gc.auto", "0"], scratch_dir, {"GIT_DIR": str(bare)})
        env = {"GIT_DIR": str(bare), "GIT_WORK_TREE": str(top), **_IDENTITY}
        status.update(f"committing the pristine base of {label} into the cache", topic="base")
        # --force: the tarball's own .gitignore files must not hide any of its files.
        _run_git(["add", "-A", "--force", "."], top, env)
        _run_git(
            [
                "commit",
                "-q",
                "--no-verify",
                "-m",
                f"Linux {version} base\n\nFrom {label}\nsha256 {sha256}",
            ],
            top,
            env,
        )
        _run_git(["tag", BASE_TAG], top, env)
        commit = _run_git(["rev-parse", "HEAD"], top, env)
        os.replace(bare, cache)
    status.clear()
    return cache, commit


def make_tree(dest: Path, origin: Path, commit: str, info: BaseInfo, status: Status) -> Path:
    """A shared clone of `origin` at `commit`, ready for the series."""
    if dest.exists():
        return _reuse(dest, info)
    dest.parent.mkdir(parents=True, exist_ok=True)
    status.update(f"making work tree {dest}", topic="tree")
    # A name of its own, so that a concurrent growstack making the same tree is harmless.
    partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        _run_git(
            ["clone", "-q", "--shared", "--no-checkout", str(origin), str(partial)], dest.parent
        )
        _run_git(["checkout", "-q", "-B", WORK_BRANCH, commit], partial)
        _run_git(["tag", "-f", BASE_TAG, commit], partial)
        info.save(git.Repo(partial))
        try:
            os.replace(partial, dest)
        except OSError as err:
            if not dest.is_dir():
                raise UsageError(
                    f"cannot make the work tree {dest}: {err.strerror}", "pass another --dir"
                ) from None
            return _reuse(dest, info)  # the concurrent one finished first
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        status.clear()
    return dest


def _reuse(dest: Path, info: BaseInfo) -> Path:
    try:
        have = BaseInfo.of(dest)
    except UsageError:
        raise UsageError(
            f"{dest} exists and is not a growstack work tree", "pass another --dir or move it away"
        ) from None
    if have.commit != info.commit:
        raise UsageError(
            f"{dest} is a work tree of another base ({have.source})",
            "pass another --dir, or remove that tree if you no longer need it",
        )
    return dest


# -- the stage ----------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where the base comes from: the pinned package, a tarball, or a git tree."""

    tarball: str | None = None  # path or https URL
    sha256: str | None = None
    git_repo: Path | None = None
    ref: str | None = None


def get_tree(
    spec: BaseSpec, source: Source, workspace: Path, dest: Path | None, status: Status
) -> tuple[Path, BaseInfo]:
    """Make (or reuse) the work tree for `source` and say what it is based on."""
    if source.git_repo is not None:
        return _tree_from_git(source, workspace, dest, status)
    if source.tarball is None:
        tarball, version = ensure_debian_source(spec, status)
        label = f"debian {spec.package} {version}"
        sha256 = spec.sha256
        if version == spec.package_version:
            download.check_sha256(tarball, sha256)
        else:
            sha256 = download.sha256_file(tarball)
    elif source.tarball.startswith(("https://", "http://")):
        if not source.sha256:
            raise UsageError("a tarball URL needs --sha256", "pass the tarball's sha256")
        tarball = download.fetch(source.tarball, source.sha256, workspace / "downloads", status)
        label, sha256 = source.tarball, source.sha256.lower()
    else:
        tarball = Path(source.tarball).resolve()
        if not tarball.is_file():
            raise UsageError(f"{tarball} does not exist", "pass an existing tarball or a URL")
        if source.sha256:
            download.check_sha256(tarball, source.sha256)
        sha256 = source.sha256.lower() if source.sha256 else download.sha256_file(tarball)
        label = str(tarball)
    cache, commit = cached_base(tarball, sha256, label, workspace, status)
    info = BaseInfo(kernel=_kernel_at(cache, commit), source=label, sha256=sha256, commit=commit)
    dest = dest or workspace / "trees" / f"linux-{info.kernel}"
    return make_tree(dest.resolve(), cache, commit, info, status), info


def _kernel_at(repo: Path, commit: str) -> str:
    return kernel_version(_run_git(["show", f"{commit}:Makefile"], repo))


def _tree_from_git(
    source: Source, workspace: Path, dest: Path | None, status: Status
) -> tuple[Path, BaseInfo]:
    assert source.git_repo is not None
    repo = source.git_repo.resolve()
    try:
        commit = git.Repo(repo).commit(source.ref or "HEAD").hexsha
    except (git.NoSuchPathError, git.InvalidGitRepositoryError):
        raise UsageError(
            f"{repo} is not a git tree", "pass the path of a Linux git checkout"
        ) from None
    except (git.BadName, ValueError):
        raise UsageError(
            f"{source.ref} is not a commit in {repo}",
            "pass a branch, tag or commit id that exists there",
        ) from None
    info = BaseInfo(
        kernel=_kernel_at(repo, commit),
        source=f"git {repo} {source.ref or 'HEAD'}",
        sha256="",
        commit=commit,
    )
    dest = dest or workspace / "trees" / f"linux-{info.kernel}-{commit[:12]}"
    return make_tree(dest.resolve(), repo, commit, info, status), info
