"""KUnit targets: how each architecture is built and booted.

UML runs natively. Every other arch boots under QEMU with a kunit.py qemu
config: the tree's own (tools/testing/kunit/qemu_configs/ARCH.py) or ours
(kunit/qemu_configs/ARCH.py), which takes precedence. The kconfig lines a
qemu config adds are read with ast, without executing the file, because
kunit.py loads them through a relative import only it can satisfy.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from ..errors import MissingDependency, UsageError
from ..project import Project

# Debian package of each cross compiler prefix and QEMU system emulator.
_CROSS_PACKAGES = {"hppa-linux-gnu-": "gcc-hppa-linux-gnu"}
# The C library to link the static test programs a QEMU guest runs (only a
# recommendation of the cross gcc, so not installed with it).
_CROSS_LIBC = {"hppa-linux-gnu-": "libc6-dev-hppa-cross"}
_QEMU_PACKAGES = {
    "x86_64": "qemu-system-x86",
    "i386": "qemu-system-x86",
    "aarch64": "qemu-system-arm",
    "arm": "qemu-system-arm",
    "ppc64": "qemu-system-ppc",
    "riscv64": "qemu-system-misc",
    "hppa": "qemu-system-misc",
    "s390x": "qemu-system-misc",
    "alpha": "qemu-system-misc",
    "m68k": "qemu-system-misc",
    "sh4": "qemu-system-misc",
    "sparc": "qemu-system-sparc",
}
# Host-native arches need no cross compiler.
_NATIVE = {"um", "x86_64", "i386"}
_DEFAULT_CROSS = {"parisc": "hppa-linux-gnu-"}
# kunit.py builds `make all compile_commands.json`, and gen_compile_commands.py
# fails on archives from outside the build: parisc links the compiler's
# libgcc.a. growstack builds these itself and has kunit.py only boot them.
_BUILT_BY_GROWSTACK = {"parisc"}
# Arches growstack builds (check) but cannot boot: Debian 12's QEMU 7.2 has no
# 64-bit PA-RISC machine (the C3700 came in QEMU 8.2). A 64-bit parisc kernel
# also builds its 32-bit vDSO, with the 32-bit cross compiler.
_BUILD_ONLY = {"parisc64": ("hppa64-linux-gnu-", ("gcc-hppa-linux-gnu",))}


@dataclass(frozen=True)
class Target:
    arch: str
    kconfig: str  # what kunit.py adds to every kunitconfig of this arch
    qemu_arch: str | None = None
    qemu_config: Path | None = None  # passed to kunit.py only when it is ours
    cross_compile: str | None = None
    kunit_builds: bool = True  # False: growstack runs make, kunit.py only boots
    # The qemu config's command line ends in "--": after KUnit, the kernel goes
    # on to init (kunit.py's kunit_shutdown= lands behind it, as init's argument).
    runs_init: bool = False
    extra_packages: tuple[str, ...] = ()  # more Debian packages its build needs

    @property
    def libc_package(self) -> str:
        """The Debian package that links static programs for this target."""
        return _CROSS_LIBC.get(self.cross_compile or "", "libc6-dev")

    @property
    def packages(self) -> list[str]:
        """Debian packages needed to build and boot this target (its QEMU last)."""
        wanted = list(self.extra_packages)
        if self.cross_compile:
            wanted.append(cross_package(self.cross_compile))
            if self.cross_compile in _CROSS_LIBC:
                wanted.append(_CROSS_LIBC[self.cross_compile])
        if self.qemu_arch:
            wanted.append(_QEMU_PACKAGES.get(self.qemu_arch, "qemu-system-misc"))
        return wanted


def require_bootable(arch: str) -> None:
    """Refuse, before anything is made or built, an arch growstack cannot boot."""
    if arch in _BUILD_ONLY:
        raise UsageError(
            f"growstack builds {arch} kernels but cannot boot them: QEMU has no machine for it",
            f"check that every prefix builds with growstack check --arch {arch}; "
            "run KUnit on another arch",
        )


def cross_package(cross_compile: str) -> str:
    """The Debian package of the cross compiler for a CROSS_COMPILE prefix."""
    return _CROSS_PACKAGES.get(cross_compile, f"gcc-{cross_compile.rstrip('-')}")


def _qemu_params(path: Path) -> dict[str, str]:
    try:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "QemuArchParams":
                return {
                    k.arg: ast.literal_eval(k.value)
                    for k in node.keywords
                    if k.arg in ("linux_arch", "kconfig", "qemu_arch", "kernel_command_line")
                }
    except (OSError, SyntaxError, ValueError) as err:
        raise UsageError(
            f"cannot read qemu config {path}: {err}",
            "fix the file; it must call QemuArchParams with literal arguments",
        ) from None
    raise UsageError(f"{path} defines no QemuArchParams", "see kunit.py's qemu_configs/")


def kunit_dir(tree: Path) -> Path:
    """The tree's tools/testing/kunit, which must hold kunit.py."""
    path = tree / "tools/testing/kunit"
    if not (path / "kunit.py").is_file():
        raise MissingDependency(
            f"{tree} has no tools/testing/kunit/kunit.py", "use a Linux tree of 5.5 or later"
        )
    return path


def resolve(arch: str, tree: Path, project: Project, cross_compile: str | None = None) -> Target:
    kunit = kunit_dir(tree)
    if arch == "um":
        return Target(
            "um", (kunit / "configs/arch_uml.config").read_text(), cross_compile=cross_compile
        )
    if arch in _BUILD_ONLY:
        prefix, extra = _BUILD_ONLY[arch]
        return Target(
            arch,
            "",
            cross_compile=cross_compile or prefix,
            kunit_builds=False,
            extra_packages=extra,
        )
    ours = project.kunit / "qemu_configs" / f"{arch}.py"
    theirs = kunit / "qemu_configs" / f"{arch}.py"
    path = ours if ours.is_file() else theirs
    if not path.is_file():
        known = sorted(
            {
                p.stem
                for d in (ours.parent, theirs.parent)
                if d.is_dir()
                for p in d.glob("*.py")
                if p.stem != "__init__"
            }
            | {"um"}
            | set(_BUILD_ONLY)
        )
        raise UsageError(f"no KUnit target for arch {arch!r}", f"pick one of {', '.join(known)}")
    params = _qemu_params(path)
    linux_arch = params.get("linux_arch", arch)
    if cross_compile is None and linux_arch not in _NATIVE:
        cross_compile = _DEFAULT_CROSS.get(linux_arch)
    return Target(
        linux_arch,
        params.get("kconfig", ""),
        qemu_arch=params.get("qemu_arch"),
        qemu_config=path if path == ours else None,
        cross_compile=cross_compile,
        kunit_builds=linux_arch not in _BUILT_BY_GROWSTACK,
        runs_init=params.get("kernel_command_line", "").split()[-1:] == ["--"],
    )
