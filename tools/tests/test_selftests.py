"""The guest's selftests: compiled static from a tree, in a hostfs root or an initramfs."""

from __future__ import annotations

import stat
from pathlib import Path

from growstack.kernel import boot, initramfs, kunit, selftests, targets
from growstack.progress import Status
from growstack.project import Project

from helpers import fake_kunit_tree, read_newc

PROGRAM = '#include "../kselftest.h"\nint main(void) { ksft_print_header(); ksft_finished(); }\n'
KSELFTEST_H = (
    "#include <stdio.h>\n#include <stdlib.h>\n"
    '#define ksft_print_header() puts("TAP version 13")\n'
    "#define ksft_finished() exit(0)\n"
)
REPO = Path(__file__).resolve().parents[2]


def tree_with_selftest(root: Path) -> Path:
    tests = root / "tools/testing/selftests"
    (tests / "mm").mkdir(parents=True)
    (tests / "kselftest.h").write_text(KSELFTEST_H)
    (tests / "mm/map_stack.c").write_text(PROGRAM)
    return root


def test_initramfs_holds_dirs_console_and_executables(tmp_path: Path) -> None:
    init = tmp_path / "init-binary"
    init.write_bytes(b"\x7fELF-init")
    archive = tmp_path / "initrd.cpio"
    initramfs.write(archive, {"init": init, "kselftests/map_stack": init})
    entries = read_newc(archive.read_bytes())
    assert entries["init"][3] == b"\x7fELF-init" and entries["init"][0] & 0o111
    assert stat.S_ISDIR(entries["kselftests"][0]) and stat.S_ISDIR(entries["proc"][0])
    mode, major, minor, _ = entries["dev/console"]
    assert stat.S_ISCHR(mode) and (major, minor) == (5, 1)


def test_the_selftests_program_gets_the_trees_selftests(tmp_path: Path) -> None:
    tree = tree_with_selftest(tmp_path / "linux")
    req = boot.Request(
        tree=tree,
        build_dir=tmp_path / "build",
        root=tmp_path / "root",
        config_fragment=tmp_path / "um.config",
        program=selftests.INIT,
    )
    boot.prepare_root(req, Status(tty=False))
    assert (tmp_path / "root/selftests").read_bytes()[:4] == b"\x7fELF"
    assert (tmp_path / "root/kselftests/map_stack").read_bytes()[:4] == b"\x7fELF"


def test_a_tree_without_the_selftest_gets_only_init(tmp_path: Path) -> None:
    tree = tmp_path / "linux"
    tree.mkdir()
    assert selftests.install(tree, tmp_path / "root", "gcc") == []
    assert (tmp_path / "root/selftests").is_file()


def test_our_parisc_target_boots_on_to_an_initramfs(tmp_path: Path) -> None:
    tree = fake_kunit_tree(tmp_path / "linux")
    hppa = targets.resolve("parisc", tree, Project(REPO))
    assert hppa.runs_init and hppa.libc_package == "libc6-dev-hppa-cross"
    request = kunit.Request(
        tree=tree,
        build_dir=tmp_path / "build",
        target=hppa,
        fragments=[],
        initrd=tmp_path / "initrd.cpio",
    )
    assert f"--qemu_args=-initrd {tmp_path / 'initrd.cpio'}" in kunit.command(request, build=False)
    assert not targets.resolve("x86_64", tree, Project(REPO)).runs_init
