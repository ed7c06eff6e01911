"""The bad-input catalog: one clear line, a documented exit code, nothing lost.

Each case runs the real `growstack` command in a subprocess on small
synthetic inputs. The cases that need a real kernel (unknown symbol, unmet
dependency, a kernel that prints no KTAP or hangs) are in
test_kernel_errors.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from growstack.errors import Exit

from helpers import SERIES, commit_change, fake_kunit_tree, git, make_project, make_tarball


def growstack(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "growstack", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin.decode(errors="replace") if stdin is not None else None,
        capture_output=True,
        text=True,
    )


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: Exit, *fragments: str
) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("growstack: error: ")]
    # Progress lines may come first; the error is one line, and the last.
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "; " in errors[0], errors[0]
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in errors[0]


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    """A project with one patch, a workdir, and a tree with the patch's base."""
    project = make_project(tmp_path / "project")
    tarball = make_tarball(tmp_path)
    work = tmp_path / "work"
    made = growstack(
        "--project",
        str(project),
        "--workdir",
        str(work),
        "tree",
        "--source",
        str(tarball),
        "--dir",
        str(tmp_path / "dev"),
    )
    assert made.returncode == 0, made.stderr
    dev = tmp_path / "dev"
    commit_change(dev, "mm/mmap.c", "int mmap;\nint grows;\n", "mm: add grows")
    exported = growstack(
        "--project", str(project), "--workdir", str(work), "export", "--tree", str(dev)
    )
    assert exported.returncode == 0, exported.stderr
    fresh = growstack(
        "--project",
        str(project),
        "--workdir",
        str(work),
        "tree",
        "--source",
        str(tarball),
        "--dir",
        str(tmp_path / "fresh"),
    )
    assert fresh.returncode == 0, fresh.stderr
    return {"project": project, "work": work, "tarball": tarball, "tree": tmp_path / "fresh"}


def run_in(setup: dict[str, Path], *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return growstack(
        "--project", str(setup["project"]), "--workdir", str(setup["work"]), *args, **kwargs
    )


def test_apply_and_reapply_through_the_cli(setup: dict[str, Path]) -> None:
    first = run_in(setup, "apply")
    assert first.returncode == 0 and "applied 1 patch(es): mm-add-grows.patch" in first.stderr
    second = run_in(setup, "apply")
    assert second.returncode == 0 and "1 patch(es) already applied" in second.stderr
    assert git(setup["tree"], "log", "-1", "--format=%s") == "mm: add grows"


def test_dirty_tree(setup: dict[str, Path]) -> None:
    readme = setup["tree"] / "README"
    readme.write_text("unsaved\n")
    assert_one_line_error(run_in(setup, "apply"), Exit.SERIES_FAILED, "uncommitted changes")
    assert readme.read_text() == "unsaved\n"


def test_patch_that_does_not_apply(setup: dict[str, Path]) -> None:
    commit_change(setup["tree"], "mm/mmap.c", "long mmap;\n", "conflicting base")
    git(setup["tree"], "tag", "-f", "growstack/base")
    head = git(setup["tree"], "rev-parse", "HEAD")
    assert_one_line_error(
        run_in(setup, "apply"), Exit.SERIES_FAILED, "mm-add-grows.patch does not apply", "mm/mmap.c"
    )
    assert git(setup["tree"], "rev-parse", "HEAD") == head
    assert git(setup["tree"], "status", "--porcelain") == ""


def test_malformed_patch(setup: dict[str, Path]) -> None:
    (setup["project"] / f"patches/{SERIES}/mm-add-grows.patch").write_text(
        "Subject: nothing\n\nhello\n"
    )
    assert_one_line_error(run_in(setup, "apply"), Exit.SERIES_FAILED, "holds no diff")


def test_series_names_a_missing_file(setup: dict[str, Path]) -> None:
    (setup["project"] / f"patches/{SERIES}/series").write_text(
        "mm-add-grows.patch\nmissing.patch\n"
    )
    assert_one_line_error(run_in(setup, "apply"), Exit.SERIES_FAILED, "missing.patch")


def test_sha256_mismatch(setup: dict[str, Path], tmp_path: Path) -> None:
    assert_one_line_error(
        run_in(
            setup,
            "tree",
            "--source",
            str(setup["tarball"]),
            "--sha256",
            "1" * 64,
            "--dir",
            str(tmp_path / "t"),
        ),
        Exit.BASE_FAILED,
        "sha256 mismatch",
    )
    assert not (tmp_path / "t").exists()


def test_corrupt_tarball(setup: dict[str, Path], tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.tar.xz"
    corrupt.write_bytes(setup["tarball"].read_bytes()[:300])
    assert_one_line_error(
        run_in(setup, "tree", "--source", str(corrupt), "--dir", str(tmp_path / "t")),
        Exit.BASE_FAILED,
        "not a readable tarball",
    )


def test_download_failure(setup: dict[str, Path], tmp_path: Path) -> None:
    assert_one_line_error(
        run_in(
            setup,
            "tree",
            "--source",
            "https://127.0.0.1:9/linux.tar.xz",
            "--sha256",
            "2" * 64,
            "--dir",
            str(tmp_path / "t"),
        ),
        Exit.BASE_FAILED,
        "cannot download",
    )


def test_missing_linux_source_package(setup: dict[str, Path], tmp_path: Path) -> None:
    base = setup["project"] / "patches/base.toml"
    base.write_text(base.read_text().replace("linux-source-tiny", "linux-source-growstack-none"))
    assert_one_line_error(
        run_in(setup, "tree", "--dir", str(tmp_path / "t")),
        Exit.MISSING_DEPENDENCY,
        "linux-source-growstack-none",
    )


def test_no_kunit_py_in_the_tree(setup: dict[str, Path]) -> None:
    assert_one_line_error(
        run_in(setup, "test", "--arch", "um"), Exit.MISSING_DEPENDENCY, "kunit.py"
    )


def test_no_compiler(setup: dict[str, Path], tmp_path: Path) -> None:
    fake_kunit_tree(setup["tree"])
    # A PATH with git and python but no gcc.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "dpkg-query", "tar", "xz"):
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        if found:
            (bin_dir / tool).symlink_to(found)
    result = run_in(setup, "test", "--arch", "um", env={"PATH": str(bin_dir)})
    assert_one_line_error(result, Exit.MISSING_DEPENDENCY, "gcc")


def test_unknown_fragment(setup: dict[str, Path]) -> None:
    fake_kunit_tree(setup["tree"])
    assert_one_line_error(run_in(setup, "config", "--fragment", "nope"), Exit.USAGE, "nope")


def test_unknown_arch(setup: dict[str, Path]) -> None:
    fake_kunit_tree(setup["tree"])
    assert_one_line_error(run_in(setup, "config", "--arch", "vax"), Exit.USAGE, "vax")


@pytest.mark.parametrize("command", [["test"], ["run", "--arch", "um"]])
def test_kunit_on_an_arch_built_but_never_booted(
    setup: dict[str, Path], command: list[str]
) -> None:
    fake_kunit_tree(setup["tree"])
    before = sorted(setup["work"].rglob("*"))
    result = run_in(setup, *command, "--arch", "parisc64")
    assert_one_line_error(result, Exit.USAGE, "cannot boot them", "growstack check --arch parisc64")
    assert sorted(setup["work"].rglob("*")) == before  # refused before anything was made


def test_boot_an_unknown_arch(setup: dict[str, Path]) -> None:
    result = run_in(setup, "boot", "--arch", "vax")
    assert_one_line_error(result, Exit.USAGE, "cannot boot arch 'vax'", "--arch um or x86_64")
    assert not (setup["work"] / "build").exists()  # refused before anything was built


def test_no_tree_yet(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    result = growstack("--project", str(project), "--workdir", str(tmp_path / "w"), "apply")
    assert_one_line_error(result, Exit.USAGE, "no work tree yet")


def test_not_a_project(tmp_path: Path) -> None:
    assert_one_line_error(
        growstack("--project", str(tmp_path), "apply"), Exit.USAGE, "not a growstack repository"
    )


def test_passthrough_only_for_test_and_run(setup: dict[str, Path]) -> None:
    assert_one_line_error(run_in(setup, "apply", "--", "--foo"), Exit.USAGE, "after --")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00\x01\x02\xff\xfe" * 500,
        b"KTAP version 1\n1..3\nok 1 a\n",  # truncated: two tests never reported
        b"just some\nconsole noise\n",
    ],
    ids=["empty", "binary", "truncated", "garbage"],
)
def test_bad_ktap(tmp_path: Path, payload: bytes) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(payload)
    result = growstack("parse", str(log))
    assert "Traceback" not in result.stderr
    if b"KTAP" in payload:
        assert result.returncode == Exit.CRASHED
        assert "crashed" in result.stdout.lower()
    else:
        assert_one_line_error(result, Exit.USAGE, "holds no KTAP")


def test_bad_ktap_on_stdin() -> None:
    result = growstack("parse", "-", stdin=os.urandom(4096))
    assert_one_line_error(result, Exit.USAGE, "standard input holds no KTAP")


def test_unreadable_ktap_file(tmp_path: Path) -> None:
    assert_one_line_error(growstack("parse", str(tmp_path / "nope.log")), Exit.USAGE, "cannot read")


def test_unwritable_json(tmp_path: Path) -> None:
    log = tmp_path / "ok.log"
    log.write_text("KTAP version 1\n1..1\nok 1 a\n")
    result = growstack("parse", str(log), "--json", str(tmp_path / "no/such/dir/r.json"))
    assert_one_line_error(result, Exit.USAGE, "cannot write")
