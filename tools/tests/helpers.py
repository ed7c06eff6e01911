"""Small synthetic inputs for the unit tests: a fake kernel tarball, patches."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

MAKEFILE = "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 7\nEXTRAVERSION =\nNAME = Tiny\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_tarball(
    tmp: Path,
    files: dict[str, str] | None = None,
    name: str = "linux-tiny",
    executable: tuple[str, ...] = (),
) -> Path:
    """A tarball shaped like linux-source: one top directory holding a Makefile."""
    src = tmp / "tarball-src" / name
    contents = {
        "Makefile": MAKEFILE,
        "mm/mmap.c": "int mmap;\n",
        "README": "tiny\n",
        ".gitignore": "*.o\n",
        "kept.o": "an object the tarball ships\n",
    }
    contents.update(files or {})
    for rel, text in contents.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
        if rel in executable:
            (src / rel).chmod(0o755)
    out = tmp / f"{name}.tar.xz"
    with tarfile.open(out, "w:xz") as tar:
        tar.add(src, arcname=name)
    return out


SERIES = "tiny"  # the one series of make_project, patches/tiny/


def make_project(root: Path, series: list[str] | None = None) -> Path:
    """A growstack checkout skeleton with one series, patches/tiny/, listing `series`."""
    (root / "patches" / "local").mkdir(parents=True, exist_ok=True)
    (root / "patches" / SERIES).mkdir(exist_ok=True)
    (root / "kunit").mkdir(exist_ok=True)
    (root / "patches" / "base.toml").write_text(
        '[base]\nkernel = "6.12.7"\npackage = "linux-source-tiny"\n'
        'package_version = "1"\ntarball = "/nonexistent.tar.xz"\nsha256 = "00"\n'
    )
    (root / "patches" / SERIES / "series").write_text("\n".join(series or []) + "\n")
    (root / "patches" / "local" / "series").write_text("")
    return root


def commit_change(tree: Path, rel: str, text: str, subject: str) -> str:
    path = tree / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(tree, "add", "--force", rel)  # the base's own .gitignore files may match it
    git(
        tree,
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.org",
        "commit",
        "-q",
        "-m",
        subject,
        "-m",
        "Why it is needed.\n\nSigned-off-by: Dev <dev@example.org>",
    )
    return git(tree, "rev-parse", "HEAD")


def fake_kunit_tree(root: Path) -> Path:
    """The tools/testing/kunit files growstack reads, in a tiny tree."""
    kunit = root / "tools/testing/kunit"
    (kunit / "configs").mkdir(parents=True)
    (kunit / "qemu_configs").mkdir()
    (kunit / "kunit.py").write_text("")
    (kunit / "configs/arch_uml.config").write_text("CONFIG_VIRTIO_UML=y\n")
    (kunit / "configs/default.config").write_text("CONFIG_KUNIT=y\n")
    (kunit / "qemu_configs/x86_64.py").write_text(
        "from ..qemu_config import QemuArchParams\n"
        "QEMU_ARCH = QemuArchParams(linux_arch='x86_64', kconfig='''\nCONFIG_SERIAL_8250=y''',\n"
        "    qemu_arch='x86_64', kernel_path='arch/x86/boot/bzImage',\n"
        "    kernel_command_line='console=ttyS0', extra_qemu_params=[])\n"
    )
    return root


def read_newc(data: bytes) -> dict[str, tuple[int, int, int, bytes]]:
    """name -> (mode, rdev major, rdev minor, contents) of a newc cpio archive."""
    entries: dict[str, tuple[int, int, int, bytes]] = {}
    offset = 0
    while True:
        assert data[offset : offset + 6] == b"070701"
        fields = [int(data[offset + 6 + 8 * i : offset + 14 + 8 * i], 16) for i in range(13)]
        size, namesize = fields[6], fields[11]
        name_at = offset + 110
        name = data[name_at : name_at + namesize - 1].decode()
        body = name_at + namesize + (-(110 + namesize) % 4)
        if name == "TRAILER!!!":
            return entries
        entries[name] = (fields[1], fields[9], fields[10], data[body : body + size])
        offset = body + size + (-size % 4)
