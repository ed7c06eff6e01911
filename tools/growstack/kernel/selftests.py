"""Kernel selftests that a guest runs after booting, compiled static from the tree.

guest/selftests.c is the guest's init: it runs every program in /kselftests
and prints one KTAP suite per program, parsed like KUnit's. On a QEMU target
whose qemu config boots on to init after KUnit, the programs come in an
initramfs, in the same boot as KUnit; on UML, `growstack boot --selftests`
runs them from the hostfs root.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from ..errors import BuildFailed, MissingDependency
from . import initramfs

GUEST = Path(__file__).resolve().parent / "guest"
INIT = "selftests"  # guest/selftests.c
TESTS = "kselftests"  # the directory it runs the programs of
# Under the tree's tools/testing/selftests; a tree without one skips it.
PROGRAMS = ("mm/map_stack",)
_SELFTESTS = "tools/testing/selftests"


def compile_static(
    gcc: str,
    source: Path,
    binary: Path,
    *,
    include: Path | None = None,
    libc_package: str = "libc6-dev",
) -> None:
    """`source` compiled and linked statically into `binary`, unless it already is."""
    argv = [
        gcc,
        "-static",
        "-O2",
        "-Wall",
        "-pthread",
        *([f"-I{include}"] if include else []),
        "-o",
        str(binary),
        str(source),
    ]
    digest = hashlib.sha256(" ".join(argv).encode() + source.read_bytes())
    # The headers beside it (guest/guest.h) are part of what is compiled.
    for header in sorted(source.parent.glob("*.h")):
        digest.update(header.read_bytes())
    if include:
        digest.update((include / "kselftest.h").read_bytes())
    stamp = binary.with_name(f".{binary.name}.sha256")
    if binary.is_file() and stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return
    binary.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        if "cannot find -lc" in result.stderr:
            raise MissingDependency(
                f"static libc is missing: {gcc} cannot link -static", f"install {libc_package}"
            )
        raise BuildFailed(f"cannot compile {source.name}: {first}", "fix the program")
    stamp.write_text(digest.hexdigest())


def install(tree: Path, root: Path, gcc: str, *, libc_package: str = "libc6-dev") -> list[str]:
    """The init program and the tree's selftests compiled into `root`; the tests' names."""
    compile_static(gcc, GUEST / f"{INIT}.c", root / INIT, libc_package=libc_package)
    names = []
    for program in PROGRAMS:
        source = tree / _SELFTESTS / f"{program}.c"
        if source.is_file():
            name = Path(program).name
            compile_static(
                gcc,
                source,
                root / TESTS / name,
                include=tree / _SELFTESTS,
                libc_package=libc_package,
            )
            names.append(name)
    return names


def build_initramfs(
    tree: Path, build_dir: Path, cross_compile: str | None, libc_package: str
) -> Path:
    """An initramfs whose /init runs the tree's selftests; its path in `build_dir`."""
    root = build_dir / "growstack-selftests"
    names = install(tree, root, f"{cross_compile or ''}gcc", libc_package=libc_package)
    path = build_dir / "growstack-initramfs.cpio"
    initramfs.write(
        path, {"init": root / INIT, **{f"{TESTS}/{n}": root / TESTS / n for n in names}}
    )
    return path
