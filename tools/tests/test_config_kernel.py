"""growstack's .config equals make's, symbol for symbol, on the real base tree.

For um, x86_64 and parisc (32-bit, CROSS_COMPILE=hppa-linux-gnu-) each input
goes through growstack's config stage and through make's config targets in
a separate O= directory; the two .config files must agree on every symbol
(set and "is not set" lines). Only config targets run make; each arch is
parsed once per session by growstack (config keeps parsed trees).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from growstack import deps
from growstack.kernel import config, kunitconfig, targets
from growstack.kernel.kconfig_compat import KconfigSyntax
from growstack.progress import Status

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]
KUNIT_CONFIGS = Path("tools/testing/kunit/configs")
CROSS_COMPILE = {"um": None, "x86_64": None, "parisc": "hppa-linux-gnu-"}
DEFCONFIG = {
    "um": "arch/um/configs/x86_64_defconfig",
    "x86_64": "arch/x86/configs/x86_64_defconfig",
    "parisc": "arch/parisc/configs/generic-32bit_defconfig",
}
# Kernel kunitconfigs beside the repository's own, which may be none yet.
KERNEL_KUNITCONFIGS = (
    "lib/kunit/.kunitconfig",
    "fs/ext4/.kunitconfig",
    "drivers/of/.kunitconfig",
    "drivers/gpu/drm/tests/.kunitconfig",
)


def entries(text: str) -> dict[str, str]:
    return kunitconfig.parse(text, "test")


def kunit_fragment(tree: Path, arch: str, path: Path) -> str:
    """What kunit.py writes as .config: its additions for arch, then the kunitconfig."""
    additions = {
        "um": (tree / KUNIT_CONFIGS / "arch_uml.config").read_text(),
        "x86_64": "CONFIG_SERIAL_8250=y\nCONFIG_SERIAL_8250_CONSOLE=y\n",  # qemu_configs/x86_64.py
        "parisc": "",  # kunit.py has no parisc qemu config
    }[arch]
    return additions + "\n" + path.read_text()


@dataclass(frozen=True)
class Case:
    """One input: a fragment (from the tree) and a base, as configure() takes them."""

    name: str
    fragment: Callable[[Path, str], str]
    base: str = "olddefconfig"


def kunitconfig_case(name: str, path: Path | str) -> Case:
    """A kunitconfig at `path` in the tree; an absolute path (ours) is taken as it is."""
    return Case(name, lambda tree, arch: kunit_fragment(tree, arch, tree / path))


CASES = [
    kunitconfig_case("kunit-default", KUNIT_CONFIGS / "default.config"),
    *(kunitconfig_case(f"kernel:{p}", p) for p in KERNEL_KUNITCONFIGS),
    *(
        kunitconfig_case(f"repo:{p.name}", p)
        for p in sorted((REPO / "kunit").glob("*.kunitconfig"))
    ),
    Case("defconfig-file", lambda tree, arch: (tree / DEFCONFIG[arch]).read_text()),
    Case("allnoconfig", lambda tree, arch: "", base="allnoconfig"),
]


class Make:
    """make's config targets, one O= directory per arch so conf is built once."""

    def __init__(self, tree: Path, root: Path):
        self.tree, self.root = tree, root

    def run(self, arch: str, target: str) -> Path:
        out = self.root / arch
        out.mkdir(exist_ok=True)
        cross = CROSS_COMPILE[arch]
        command = ["make", "-s", "-C", str(self.tree), f"ARCH={arch}", f"O={out}", target]
        subprocess.run(
            command + [f"CROSS_COMPILE={cross}"] * bool(cross), check=True, capture_output=True
        )
        return out / ".config"

    def config(self, arch: str, fragment: str, base: str) -> str:
        """`make <base>`, the fragment merged on top like kunit.py, `make olddefconfig`."""
        merged = {} if base == "olddefconfig" else entries(self.run(arch, base).read_text())
        merged |= entries(fragment)
        (self.root / arch).mkdir(exist_ok=True)
        (self.root / arch / ".config").write_text(kunitconfig.render(merged))
        return self.run(arch, "olddefconfig").read_text()


@pytest.fixture(scope="session")
def make(kernel_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Make:
    # make's config targets probe the compiler: install the cross compilers
    # as growstack does for a build, or a fresh machine fails here.
    cross = [c for c in CROSS_COMPILE.values() if c]
    deps.ensure(
        [targets.cross_package(c) for c in cross], Status(), why="comparing configs with make"
    )
    return Make(kernel_tree, tmp_path_factory.mktemp("make"))


def growstack(
    tree: Path, build: Path, arch: str, fragment: str, base: str
) -> tuple[str, list[str]]:
    """growstack's .config and its unmet settings (expected for series symbols)."""
    try:
        result = config.configure(
            tree, build, arch, fragment, cross_compile=CROSS_COMPILE[arch], base=base
        )
    except config.UnmetConfig as unmet:
        return (build / ".config").read_text(), unmet.details
    return result.path.read_text(), []


def assert_same_symbols(ours: str, theirs: str) -> None:
    ours_entries, theirs_entries = entries(ours), entries(theirs)
    differ = {
        name: (ours_entries.get(name), theirs_entries.get(name))
        for name in ours_entries.keys() | theirs_entries.keys()
        if ours_entries.get(name) != theirs_entries.get(name)
    }
    assert differ == {}, "symbol: (growstack, make)"
    assert ours == theirs  # and byte for byte: same order, comments and header


@pytest.mark.parametrize("arch", CROSS_COMPILE)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_config_equals_make(
    kernel_tree: Path, make: Make, tmp_path: Path, arch: str, case: Case
) -> None:
    fragment = case.fragment(kernel_tree, arch)
    ours, unmet = growstack(kernel_tree, tmp_path, arch, fragment, case.base)
    assert_same_symbols(ours, make.config(arch, fragment, case.base))
    if case.name == "kunit-default":
        assert unmet == []  # what kunit.py checks after olddefconfig


def test_defconfig_base_with_fragment_equals_make(
    kernel_tree: Path, make: Make, tmp_path: Path
) -> None:
    fragment = kunit_fragment(kernel_tree, "x86_64", kernel_tree / KUNIT_CONFIGS / "default.config")
    ours, unmet = growstack(kernel_tree, tmp_path, "x86_64", fragment, "defconfig")
    assert_same_symbols(ours, make.config("x86_64", fragment, "defconfig"))
    assert unmet == []


@pytest.fixture(scope="module")
def plain_x86_64(kernel_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> KconfigSyntax:
    """x86_64 parsed by kconfiglib with only the syntax fix: its own semantics."""
    with (
        config._environment(config.kconfig_env(kernel_tree, "x86_64")),
        contextlib.chdir(tmp_path_factory.mktemp("plain")),
    ):
        return KconfigSyntax("Kconfig", warn=False)


def test_choice_member_n_in_x86_64_defconfig_matches_make(
    kernel_tree: Path, make: Make, tmp_path: Path, plain_x86_64: KconfigSyntax
) -> None:
    # x86_64_defconfig says "# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set", the
    # choice's default: C skips it for the next member, kconfiglib keeps it.
    defconfig = kernel_tree / DEFCONFIG["x86_64"]
    ours, _ = growstack(kernel_tree, tmp_path, "x86_64", defconfig.read_text(), "olddefconfig")
    theirs = make.config("x86_64", defconfig.read_text(), "olddefconfig")
    assert_same_symbols(ours, theirs)
    values = entries(ours)
    assert (values["INTEL_IOMMU_DEFAULT_ON"], values["INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF"]) == (
        "n",
        "y",
    )
    plain_x86_64.load_config(str(defconfig))
    assert plain_x86_64.syms["INTEL_IOMMU_DEFAULT_ON"].str_value == "y"


def test_select_from_choice_member_in_x86_64_allmodconfig_matches_make(
    kernel_tree: Path, make: Make, tmp_path: Path, plain_x86_64: KconfigSyntax
) -> None:
    # USB_DWC3_DUAL_ROLE, a member of a choice inside `if USB_DWC3` (m),
    # selects USB_ROLE_SWITCH: m in C, y in kconfiglib.
    ours, _ = growstack(kernel_tree, tmp_path, "x86_64", "", "allmodconfig")
    theirs = make.config("x86_64", "", "allmodconfig")
    assert_same_symbols(ours, theirs)
    values = entries(ours)
    assert (values["USB_DWC3"], values["USB_DWC3_DUAL_ROLE"], values["USB_ROLE_SWITCH"]) == (
        "m",
        "y",
        "m",
    )
    made = tmp_path / "make-allmod.config"
    made.write_text(theirs)
    plain_x86_64.load_config(str(made))
    assert plain_x86_64.syms["USB_ROLE_SWITCH"].str_value == "y"
