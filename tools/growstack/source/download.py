"""Fetch a base tarball over https, streamed and checked against its sha256."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

import requests

from ..errors import BaseTreeError, UsageError
from ..progress import Status, human_bytes

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected.lower():
        raise BaseTreeError(
            f"sha256 mismatch for {path}: expected {expected}, got {actual}",
            "check the --sha256 value, or fetch the tarball again",
        )


def fetch(url: str, sha256: str, dest_dir: Path, status: Status | None = None) -> Path:
    """Download `url` into `dest_dir` unless a verified copy is already there."""
    if not url.startswith("https://"):
        raise UsageError(f"refusing to download {url}", "use an https:// URL")
    if len(sha256) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha256):
        raise UsageError(f"{sha256!r} is not a sha256 digest", "pass the 64-digit hex sha256")
    dest_dir.mkdir(parents=True, exist_ok=True)
    name = url.rstrip("/").rsplit("/", 1)[-1] or "base.tar"
    target = dest_dir / f"{sha256.lower()[:16]}-{name}"
    if target.exists():
        check_sha256(target, sha256)
        return target
    status = status or Status()
    fd, partial = tempfile.mkstemp(dir=dest_dir, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            _stream(url, out, name, status)
        check_sha256(Path(partial), sha256)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


def _stream(url: str, out: BinaryIO, name: str, status: Status) -> None:
    try:
        with requests.get(url, stream=True, timeout=(15, 60)) as response:
            response.raise_for_status()
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            start = time.monotonic()
            for block in response.iter_content(CHUNK):
                out.write(block)
                done += len(block)
                rate = done / max(time.monotonic() - start, 1e-3)
                share = f"{100 * done // total}% " if total else ""
                of = f"/{human_bytes(total)}" if total else ""
                status.update(
                    f"downloading {name}: {share}{human_bytes(done)}{of} at {human_bytes(rate)}/s",
                    topic="download",
                )
            status.clear()
            if total and done != total:
                raise BaseTreeError(
                    f"download of {url} ended after {done} of {total} bytes",
                    "retry; the connection was cut",
                )
    except requests.RequestException as err:
        status.clear()
        raise BaseTreeError(
            f"cannot download {url}: {_reason(err)}",
            "check the URL and your network, or pass a local tarball",
        ) from None


def _reason(err: requests.RequestException) -> str:
    if isinstance(err, requests.HTTPError) and err.response is not None:
        return f"HTTP {err.response.status_code}"
    return type(err).__name__
