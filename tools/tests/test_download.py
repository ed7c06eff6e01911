"""Tarball downloads over real https, from a server on loopback."""

from __future__ import annotations

import hashlib
import http.server
import io
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from growstack.errors import BaseTreeError, UsageError
from growstack.progress import Status
from growstack.source import download

PAYLOAD = bytes(range(256)) * 8192  # 2 MiB: several chunks, so progress is drawn


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/linux.tar.xz":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/short.tar.xz":  # promises more than it sends
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[:1000])
        else:
            self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    certs = tmp_path_factory.mktemp("certs")
    key, cert = certs / "key.pem", certs / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    with pytest.MonkeyPatch.context() as patch:
        # Trust the test certificate the way a user trusts a private CA.
        patch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Recorder(Status):
    def __init__(self) -> None:
        super().__init__(tty=True, stream=io.StringIO())
        self.lines: list[str] = []

    def update(self, text: str, *, topic: str = "") -> None:
        self.lines.append(text)


def test_download_is_streamed_verified_and_cached(server: str, tmp_path: Path) -> None:
    status = Recorder()
    path = download.fetch(f"{server}/linux.tar.xz", sha(PAYLOAD), tmp_path, status)
    assert path.read_bytes() == PAYLOAD
    assert any("100%" in line for line in status.lines)
    assert any("%" in line and "100%" not in line for line in status.lines)
    # A second fetch reuses the verified file without downloading.
    again = Recorder()
    assert download.fetch(f"{server}/linux.tar.xz", sha(PAYLOAD), tmp_path, again) == path
    assert again.lines == []


def test_checksum_mismatch_keeps_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(BaseTreeError, match="sha256 mismatch"):
        download.fetch(f"{server}/linux.tar.xz", "3" * 64, tmp_path, Recorder())
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_is_refused(server: str, tmp_path: Path) -> None:
    with pytest.raises(BaseTreeError):
        download.fetch(f"{server}/short.tar.xz", sha(PAYLOAD), tmp_path, Recorder())
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_named(server: str, tmp_path: Path) -> None:
    with pytest.raises(BaseTreeError, match="HTTP 404"):
        download.fetch(f"{server}/missing.tar.xz", sha(PAYLOAD), tmp_path, Recorder())


def test_plain_http_and_bad_digests_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="https"):
        download.fetch("http://127.0.0.1/x.tar.xz", sha(PAYLOAD), tmp_path, Recorder())
    with pytest.raises(UsageError, match="not a sha256"):
        download.fetch("https://127.0.0.1/x.tar.xz", "xyz", tmp_path, Recorder())
