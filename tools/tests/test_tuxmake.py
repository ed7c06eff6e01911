"""engines/tuxmake.py: the command line, and real tuxmake runs on a tiny tree.

The tree is a stand-in Linux tree (tuxmake checks for Makefile, Kconfig and
Kbuild) whose Makefile builds `linux` from `all`, so tuxmake itself runs,
configures, builds and writes its metadata in a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from growstack.engines import tuxmake
from growstack.errors import BuildFailed, ConfigFailed, UsageError
from growstack.kernel import kunit
from growstack.kernel.build import MAKE
from growstack.kernel.targets import Target
from growstack.progress import Status

from helpers import git

UML = Target("um", "")
MAKEFILE = """\
VERSION = 6
PATCHLEVEL = 12
SUBLEVEL = 0
EXTRAVERSION =
.PHONY: all linux kernelversion
all:
\t@cp $(O)/.config $(O)/vmlinux
linux:
\t@{linux}
kernelversion:
\t@echo 6.12.0
"""


def fake_tree(root: Path, linux: str = "cp $(O)/vmlinux $(O)/linux") -> Path:
    tree = root / "tree"
    tree.mkdir()
    (tree / "Makefile").write_text(MAKEFILE.format(linux=linux))
    (tree / "Kconfig").touch()
    (tree / "Kbuild").touch()
    return tree


def configured(root: Path, text: str = "CONFIG_FAKE=y\n") -> Path:
    build_dir = root / "build"
    build_dir.mkdir()
    (build_dir / ".config").write_text(text)
    return build_dir


def test_command_names_arch_toolchain_kconfig_and_growstacks_cross_compiler(
    tmp_path: Path,
) -> None:
    argv = tuxmake.Tuxmake().command(
        tmp_path / "tree", tmp_path / "b", Target("x86_64", ""), ("-j3", "W=1")
    )
    assert "--target-arch=x86_64" in argv and "--toolchain=gcc" in argv
    assert "--runtime=null" in argv and "--jobs=3" in argv
    assert f"--kconfig={tmp_path / 'b' / tuxmake.KCONFIG}" in argv
    assert f"--output-dir={tmp_path / 'b' / tuxmake.OUTPUT}" in argv
    # The host's gcc, not tuxmake's x86_64-linux-gnu- default.
    assert "CROSS_COMPILE=" in argv and "W=1" in argv
    assert argv[-2:] == list(tuxmake.TARGETS)
    parisc = tuxmake.Tuxmake().command(
        tmp_path, tmp_path, Target("parisc", "", cross_compile="hppa-linux-gnu-")
    )
    assert "CROSS_COMPILE=hppa-linux-gnu-" in parisc


@pytest.mark.parametrize("arg", ["-k", "CC=clang", "O=/tmp/elsewhere"])
def test_make_arguments_tuxmake_would_refuse_are_refused_first(tmp_path: Path, arg: str) -> None:
    with pytest.raises(UsageError, match=f"tuxmake takes no make option '{arg}'"):
        tuxmake.Tuxmake().command(tmp_path, tmp_path, UML, (arg,))


def test_a_real_tuxmake_build_leaves_the_kernel_in_the_build_directory(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path)
    build_dir = configured(tmp_path)
    log = tmp_path / "build.log"
    tuxmake.Tuxmake().build(tree, build_dir, UML, Status(), log)
    # Built from the .config growstack handed over.
    assert (build_dir / "linux").read_text() == "CONFIG_FAKE=y\n"
    assert (build_dir / ".config").read_text() == "CONFIG_FAKE=y\n"
    assert tuxmake.metadata(build_dir / tuxmake.OUTPUT)["results"]["status"] == "PASS"
    assert tuxmake.failed_targets(build_dir / tuxmake.OUTPUT) == []
    assert "--target-arch=um" in log.read_text().splitlines()[0]


def test_a_failing_target_is_one_line_naming_it(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path, linux="echo 'arch/um/kernel/x.c:1: error: nope' >&2; exit 2")
    build_dir = configured(tmp_path)
    with pytest.raises(BuildFailed, match=r"tuxmake kernel failed: .*error: nope") as err:
        tuxmake.Tuxmake().build(tree, build_dir, UML, Status(), tmp_path / "build.log")
    assert "build.log" in err.value.todo
    assert (build_dir / ".config").is_file()


def test_a_build_from_another_config_than_growstacks_is_refused(tmp_path: Path) -> None:
    build_dir = configured(tmp_path, "CONFIG_A=y\n# CONFIG_B is not set\n")
    kunit._require_config(build_dir, "CONFIG_A=y\n# CONFIG_B is not set\n", "tuxmake")
    with pytest.raises(
        ConfigFailed, match=r"tuxmake built with CONFIG_A=y where growstack configured m \(2 symbol"
    ):
        kunit._require_config(build_dir, "CONFIG_A=m\n", "tuxmake")


def test_a_run_that_stops_before_building_keeps_the_config_and_quotes_itself(
    tmp_path: Path,
) -> None:
    tree = fake_tree(tmp_path)
    build_dir = configured(tmp_path)
    tuxmake.Tuxmake().build(tree, build_dir, UML, Status(), tmp_path / "first.log")
    (tree / "Kbuild").unlink()  # no longer a kernel tree: tuxmake stops at once
    log = tmp_path / "second.log"
    with pytest.raises(BuildFailed) as err:
        tuxmake.Tuxmake().build(tree, build_dir, UML, Status(), log)
    # growstack's .config is back, and the error is this run's, not the last build's.
    assert (build_dir / ".config").read_text() == "CONFIG_FAKE=y\n"
    assert "does not look like a Linux source tree" in err.value.what
    assert str(log) in err.value.todo


def test_a_kernel_another_engine_built_is_not_up_to_date(tmp_path: Path) -> None:
    """The results name the engine, so a kernel is reused only by the engine that built it."""
    tree = fake_tree(tmp_path)
    git(tree, "init", "-q")
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", "tree")
    build_dir = configured(tmp_path)
    (build_dir / "vmlinux").write_text("kernel")
    by = {
        name: kunit.build_fingerprint(kunit.Request(tree, build_dir, UML, [], engine=engine))
        for name, engine in (("kunit.py", None), ("tuxmake", tuxmake.TUXMAKE), ("make", MAKE))
    }
    assert None not in by.values() and len(set(by.values())) == 3


def test_an_arch_tuxmake_does_not_know_is_a_usage_error_not_a_build_failure(
    tmp_path: Path,
) -> None:
    tree = fake_tree(tmp_path)
    build_dir = configured(tmp_path)
    with pytest.raises(UsageError, match=r"tuxmake cannot build ARCH=parisc64") as err:
        tuxmake.TUXMAKE.build(
            tree, build_dir, Target("parisc64", ""), Status(), tmp_path / "build.log"
        )
    assert "--engine make" in err.value.todo and "parisc," in err.value.todo
    assert (build_dir / ".config").read_text() == "CONFIG_FAKE=y\n"  # left alone
