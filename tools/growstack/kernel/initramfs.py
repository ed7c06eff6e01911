"""An initramfs for QEMU's -initrd: a newc cpio archive, written without cpio or root.

The kernel unpacks it as its root file system and runs /init. It holds
directories, regular files and the /dev/console node, without which init
would have no console to print to.
"""

from __future__ import annotations

import stat
from pathlib import Path

_TRAILER = "TRAILER!!!"
_CONSOLE = (5, 1)  # major, minor of /dev/console


def _entry(
    name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0), ino: int = 0
) -> bytes:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
    header = b"070701" + b"".join(f"{value:08x}".encode() for value in fields)
    out = header + encoded
    out += b"\0" * (-len(out) % 4)
    out += data
    return out + b"\0" * (-len(out) % 4)


def write(path: Path, files: dict[str, Path]) -> None:
    """An archive at `path` with `files` (archive path -> local file, kept executable)."""
    dirs = {"dev", "proc", "sys", "tmp"}
    for name in files:
        parts = name.split("/")[:-1]
        dirs |= {"/".join(parts[:i]) for i in range(1, len(parts) + 1)}
    chunks = []
    ino = 1
    for name in sorted(dirs):
        chunks.append(_entry(name, stat.S_IFDIR | 0o755, ino=ino))
        ino += 1
    chunks.append(_entry("dev/console", stat.S_IFCHR | 0o600, rdev=_CONSOLE, ino=ino))
    for name, source in sorted(files.items()):
        ino += 1
        chunks.append(_entry(name, stat.S_IFREG | 0o755, source.read_bytes(), ino=ino))
    chunks.append(_entry(_TRAILER, 0))
    path.write_bytes(b"".join(chunks))
