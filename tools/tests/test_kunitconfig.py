"""Fragment selection and merging, as kunit.py merges them."""

from __future__ import annotations

from pathlib import Path

import pytest

from growstack.errors import ConfigFailed, UsageError
from growstack.kernel import kunitconfig, targets
from growstack.project import Project

from helpers import fake_kunit_tree, make_project


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_parse_and_render_round_trip() -> None:
    text = 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\nCONFIG_D=0x10\n'
    assert kunitconfig.parse(text, "t") == {"A": "y", "B": "n", "C": '"x y"', "D": "0x10"}
    assert kunitconfig.render(kunitconfig.parse(text, "t")) == text


def test_parse_rejects_garbage_with_its_line() -> None:
    with pytest.raises(ConfigFailed, match=r"frag:2: cannot parse 'KUNIT=y'"):
        kunitconfig.parse("CONFIG_A=y\nKUNIT=y\n", "frag")


def test_merge_order_matches_kunit_py(tmp_path: Path) -> None:
    one = write(tmp_path / "one", "CONFIG_A=y\nCONFIG_B=m\n")
    two = write(tmp_path / "two", "CONFIG_C=y\n")
    merged = kunitconfig.merge([one, two], ["CONFIG_B=y"], "CONFIG_A=n\nCONFIG_UML=y\n")
    # Fragments override the arch lines, --kconfig_add overrides the fragments.
    assert merged == {"A": "y", "UML": "y", "B": "y", "C": "y"}


def test_conflicting_fragments_are_refused(tmp_path: Path) -> None:
    one = write(tmp_path / "one", "CONFIG_A=y\n")
    two = write(tmp_path / "two", "CONFIG_A=m\n")
    with pytest.raises(ConfigFailed, match="CONFIG_A is y in an earlier fragment but m"):
        kunitconfig.merge([one, two], [], "")


def test_available_respects_arch_lines(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path))
    write(project.kunit / "all.kunitconfig", "CONFIG_KUNIT=y\n")
    write(project.kunit / "hppa.kunitconfig", "# arch: parisc\nCONFIG_KUNIT=y\n")
    assert kunitconfig.available(project, "um") == ["all"]
    assert kunitconfig.available(project, "parisc") == ["all", "hppa"]
    assert kunitconfig.available(project) == ["all", "hppa"]


def test_a_variant_runs_only_when_named(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path))
    write(project.kunit / "all.kunitconfig", "CONFIG_KUNIT=y\n")
    write(project.kunit / "rt.kunitconfig", "# variant: its own kernel\nCONFIG_PREEMPT_RT=y\n")
    assert kunitconfig.available(project, "x86_64") == ["all", "rt"]
    assert kunitconfig.available(project, "x86_64", variants=False) == ["all"]
    assert kunitconfig.fragment_path("rt", tmp_path, project) == project.kunit / "rt.kunitconfig"


def test_unknown_fragment_names_the_choices(tmp_path: Path) -> None:
    project = Project(make_project(tmp_path))
    write(project.kunit / "mine.kunitconfig", "CONFIG_KUNIT=y\n")
    with pytest.raises(UsageError, match="pick from kunit-default, mine"):
        kunitconfig.fragment_path("nope", tmp_path, project)


def test_targets_read_kunit_and_our_qemu_configs(tmp_path: Path) -> None:
    tree = fake_kunit_tree(tmp_path / "linux")
    project = Project(make_project(tmp_path / "project"))
    um = targets.resolve("um", tree, project)
    assert um.kconfig == "CONFIG_VIRTIO_UML=y\n" and um.packages == []
    x86 = targets.resolve("x86_64", tree, project)
    assert (x86.arch, x86.qemu_arch, x86.qemu_config) == ("x86_64", "x86_64", None)
    assert "CONFIG_SERIAL_8250=y" in x86.kconfig and x86.packages == ["qemu-system-x86"]
    ours = project.kunit / "qemu_configs"
    ours.mkdir()
    write(
        ours / "parisc.py",
        "QEMU_ARCH = QemuArchParams(linux_arch='parisc', "
        "kconfig='CONFIG_SERIAL_8250=y', qemu_arch='hppa')\n",
    )
    hppa = targets.resolve("parisc", tree, project)
    assert hppa.qemu_config == ours / "parisc.py"
    assert hppa.cross_compile == "hppa-linux-gnu-"
    assert hppa.packages == ["gcc-hppa-linux-gnu", "libc6-dev-hppa-cross", "qemu-system-misc"]
    assert not hppa.kunit_builds and x86.kunit_builds and um.kunit_builds


def test_our_parisc_qemu_config_is_read(tmp_path: Path) -> None:
    tree = fake_kunit_tree(tmp_path / "linux")
    project = Project(Path(__file__).resolve().parents[2])
    hppa = targets.resolve("parisc", tree, project)
    assert (hppa.arch, hppa.qemu_arch) == ("parisc", "hppa")
    assert hppa.qemu_config == project.kunit / "qemu_configs/parisc.py"
    assert "CONFIG_SERIAL_8250_CONSOLE=y" in hppa.kconfig and "CONFIG_64BIT" not in hppa.kconfig


def test_parisc64_is_built_with_both_compilers_and_never_booted(tmp_path: Path) -> None:
    tree = fake_kunit_tree(tmp_path / "linux")
    project = Project(make_project(tmp_path / "project"))
    wide = targets.resolve("parisc64", tree, project)
    assert (wide.arch, wide.cross_compile, wide.kconfig) == ("parisc64", "hppa64-linux-gnu-", "")
    assert wide.packages == ["gcc-hppa-linux-gnu", "gcc-hppa64-linux-gnu"]
    assert not wide.kunit_builds
    with pytest.raises(UsageError, match="cannot boot them"):
        targets.require_bootable("parisc64")
    for arch in ("um", "x86_64", "parisc"):
        targets.require_bootable(arch)


@pytest.mark.parametrize(
    "args, make_args, rest",
    [
        (["--make_options=W=1", "--jobs", "4", "mman"], ["W=1", "-j4"], ["mman"]),
        (["--kernel_args=a=b"], [], ["--kernel_args=a=b"]),
    ],
)
def test_build_options_are_split_from_kunit_py_options(
    args: list[str], make_args: list[str], rest: list[str]
) -> None:
    from growstack.kernel import kunit

    assert kunit.split_build_options(args) == (make_args, rest)


def test_unknown_target_lists_the_known_ones(tmp_path: Path) -> None:
    tree = fake_kunit_tree(tmp_path / "linux")
    project = Project(make_project(tmp_path / "project"))
    with pytest.raises(UsageError, match="pick one of parisc64, um, x86_64"):
        targets.resolve("vax", tree, project)


def test_passthrough_paths_are_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from growstack.kernel import kunit

    monkeypatch.chdir(tmp_path)
    args = [
        "--kunitconfig=my.config",
        "--qemu_config",
        "q.py",
        "--json",
        "stdout",
        "--kernel_args=a=b",
        "mm_*",
        "--json=out.json",
    ]
    assert kunit.absolute_paths(args) == [
        f"--kunitconfig={tmp_path}/my.config",
        "--qemu_config",
        f"{tmp_path}/q.py",
        "--json",
        "stdout",
        "--kernel_args=a=b",
        "mm_*",
        f"--json={tmp_path}/out.json",
    ]


def test_rerun_lines_are_read_from_the_fragments(tmp_path: Path) -> None:
    frag = write(
        tmp_path / "a.kunitconfig",
        "# arch: um\n# rerun: off_* feature=off 'quiet=1 x'\nCONFIG_KUNIT=y\n",
    )
    plain = write(tmp_path / "b.kunitconfig", "CONFIG_KUNIT=y\n")
    [rerun] = kunitconfig.reruns([plain, frag])
    assert (rerun.glob, rerun.kernel_args, rerun.origin) == (
        "off_*",
        ("feature=off", "quiet=1 x"),
        frag,
    )
    assert str(rerun) == "off_* with feature=off quiet=1 x"


def test_rerun_line_without_kernel_arguments_is_refused(tmp_path: Path) -> None:
    frag = write(tmp_path / "a.kunitconfig", "# rerun: off_*\n")
    with pytest.raises(
        ConfigFailed,
        match=r"a.kunitconfig: '# rerun:' needs a suite glob and "
        r"kernel arguments",
    ):
        kunitconfig.reruns([frag])
