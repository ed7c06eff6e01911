"""The base-tree stage on tiny tarballs and git repositories."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from growstack.errors import BaseTreeError, Exit, UsageError
from growstack.progress import Status
from growstack.source import tree

from helpers import git, make_tarball

SPEC = tree.BaseSpec(
    kernel="6.12.7", package="none", package_version="1", tarball="/none", sha256="00"
)


def quiet() -> Status:
    return Status(tty=False, quiet_interval=1e9)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tarball_tree_has_every_file_and_the_base_tag(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path)
    path, info = tree.get_tree(
        SPEC, tree.Source(tarball=str(tarball), sha256=sha(tarball)), tmp_path / "ws", None, quiet()
    )
    assert path == (tmp_path / "ws/trees/linux-6.12.7").resolve()
    assert (path / "mm/mmap.c").read_text() == "int mmap;\n"
    # The tarball's own .gitignore must not hide files it ships.
    assert git(path, "ls-files", "kept.o") == "kept.o"
    assert git(path, "rev-parse", tree.BASE_TAG) == info.commit
    assert git(path, "rev-parse", "--abbrev-ref", "HEAD") == tree.WORK_BRANCH
    assert git(path, "status", "--porcelain") == ""
    assert tree.BaseInfo.of(path) == info
    assert info.kernel == "6.12.7" and info.sha256 == sha(tarball)


def test_same_tarball_gives_the_same_commit_everywhere(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path)
    source = tree.Source(tarball=str(tarball))
    _, first = tree.get_tree(SPEC, source, tmp_path / "ws1", None, quiet())
    _, second = tree.get_tree(SPEC, source, tmp_path / "ws2", None, quiet())
    assert first.commit == second.commit


def test_second_tree_comes_from_the_cache(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path)
    source = tree.Source(tarball=str(tarball))
    _, info = tree.get_tree(SPEC, source, tmp_path / "ws", None, quiet())
    tarball.unlink()
    tarball.write_bytes(b"")  # a re-extraction would now fail
    with pytest.raises(BaseTreeError):
        tree.get_tree(SPEC, tree.Source(tarball=str(tarball)), tmp_path / "ws2", None, quiet())
    cache, commit = tree.cached_base(tarball, info.sha256, "x", tmp_path / "ws", quiet())
    assert commit == info.commit
    other = tree.make_tree(tmp_path / "other", cache, commit, info, quiet())
    assert (other / "Makefile").is_file()


def test_concurrent_makers_of_one_tree_both_get_it(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path)
    _, info = tree.get_tree(SPEC, tree.Source(tarball=str(tarball)), tmp_path / "ws", None, quiet())
    cache, commit = tree.cached_base(tarball, info.sha256, "x", tmp_path / "ws", quiet())
    dest = tmp_path / "shared"
    with ThreadPoolExecutor(4) as pool:
        made = list(
            pool.map(lambda _: tree.make_tree(dest, cache, commit, info, quiet()), range(4))
        )
    assert made == [dest] * 4 and tree.BaseInfo.of(dest) == info
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".shared")) == []


def test_existing_tree_is_reused(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path)
    source = tree.Source(tarball=str(tarball))
    path, _ = tree.get_tree(SPEC, source, tmp_path / "ws", None, quiet())
    marker = path / "mm/new.c"
    git(path, "checkout", "-q", "-b", "mine")
    marker.write_text("work in progress\n")
    again, _ = tree.get_tree(SPEC, source, tmp_path / "ws", None, quiet())
    assert again == path and marker.read_text() == "work in progress\n"


def test_tree_of_another_base_is_refused(tmp_path: Path) -> None:
    one = make_tarball(tmp_path / "a")
    two = make_tarball(tmp_path / "b", {"README": "different\n"})
    dest = tmp_path / "linux"
    tree.get_tree(SPEC, tree.Source(tarball=str(one)), tmp_path / "ws", dest, quiet())
    with pytest.raises(UsageError, match="another base"):
        tree.get_tree(SPEC, tree.Source(tarball=str(two)), tmp_path / "ws", dest, quiet())


def test_sha256_mismatch_is_a_base_error(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path)
    with pytest.raises(BaseTreeError, match="sha256 mismatch") as err:
        tree.get_tree(
            SPEC, tree.Source(tarball=str(tarball), sha256="0" * 64), tmp_path / "ws", None, quiet()
        )
    assert err.value.exit_code == Exit.BASE_FAILED


def test_corrupt_tarball_is_a_base_error(tmp_path: Path) -> None:
    bad = tmp_path / "linux.tar.xz"
    bad.write_bytes(b"\xfd7zXZ\x00 truncated")
    with pytest.raises(BaseTreeError, match="not a readable tarball"):
        tree.get_tree(SPEC, tree.Source(tarball=str(bad)), tmp_path / "ws", None, quiet())
    assert not list((tmp_path / "ws/base").glob("*.git"))


def test_tarball_without_linux_is_refused(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path, {"Makefile": "all:\n\ttrue\n"})
    with pytest.raises(BaseTreeError, match="no Linux top-level Makefile"):
        tree.get_tree(SPEC, tree.Source(tarball=str(tarball)), tmp_path / "ws", None, quiet())


def test_missing_tarball_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        tree.get_tree(
            SPEC, tree.Source(tarball=str(tmp_path / "nope.tar.xz")), tmp_path / "ws", None, quiet()
        )


def test_url_needs_a_sha256(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs --sha256"):
        tree.get_tree(
            SPEC,
            tree.Source(tarball="https://127.0.0.1:9/linux.tar.xz"),
            tmp_path / "ws",
            None,
            quiet(),
        )


def test_download_failure_is_a_base_error(tmp_path: Path) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    with pytest.raises(BaseTreeError, match="cannot download"):
        tree.get_tree(
            SPEC,
            tree.Source(tarball="https://127.0.0.1:9/linux.tar.xz", sha256="a" * 64),
            tmp_path / "ws",
            None,
            quiet(),
        )
    assert not list((tmp_path / "ws/downloads").glob(".part-*"))


def test_git_source_and_ref(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path)
    upstream, _ = tree.get_tree(
        SPEC, tree.Source(tarball=str(tarball)), tmp_path / "ws", tmp_path / "upstream", quiet()
    )
    first = git(upstream, "rev-parse", "HEAD")
    (upstream / "README").write_text("newer\n")
    git(upstream, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qam", "newer")
    path, info = tree.get_tree(
        SPEC, tree.Source(git_repo=upstream, ref=first), tmp_path / "ws", None, quiet()
    )
    assert info.commit == first and info.sha256 == ""
    assert (path / "README").read_text() == "tiny\n"
    assert git(path, "rev-parse", tree.BASE_TAG) == first


def test_git_source_with_unknown_ref(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path)
    upstream, _ = tree.get_tree(
        SPEC, tree.Source(tarball=str(tarball)), tmp_path / "ws", tmp_path / "upstream", quiet()
    )
    with pytest.raises(UsageError, match="not a commit"):
        tree.get_tree(
            SPEC, tree.Source(git_repo=upstream, ref="v9.9"), tmp_path / "ws", None, quiet()
        )


def test_kernel_version_parsing() -> None:
    assert (
        tree.kernel_version("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION = -rc1\n")
        == "6.12.117-rc1"
    )
    with pytest.raises(BaseTreeError):
        tree.kernel_version("VERSION = six\n")
