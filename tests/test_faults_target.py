"""The target side of the fault matrix: servers that misbehave at the socket level.

Each test asserts what on-call would read (one clear failure sentence) and
that the probe came back in bounded time with bounded memory.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from monitor.app.config import parse_config
from probes.base import ProbeContext
from probes.http.probe import HttpProbe
from tests.servers import TargetServer, send

pytestmark = pytest.mark.slow


class RawServer:
    """A TCP server on loopback whose every connection is handed to `serve(conn)`."""

    def __init__(self, serve):
        self.serve = serve
        self.release = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self):
        while not self.release.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            conn.recv(65536)
            self.serve(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.sock.close()


async def run_probe(url: str, timeout: str = "2s", extra: str = ""):
    """The result of one run of an http check of `url`, and how long the run took."""
    check = parse_config(f'[[checks]]\nname = "t"\nurl = "{url}"\ntimeout = "{timeout}"\n{extra}').check("t")
    probe = HttpProbe(ProbeContext())
    try:
        started = time.monotonic()
        result = await probe.run(check)
        return result, time.monotonic() - started
    finally:
        await probe.close()


def hang_after_accept(server, conn):
    server.release.wait()


def close_mid_response(server, conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\nonly part")


def reset(server, conn):
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def byte_by_byte(server, conn):
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
        conn.sendall(bytes([byte]))
        if server.release.wait(0.2):  # paced by the event, never longer than the test
            return


def garbage(server, conn):
    conn.sendall(b"\x00\x01\x02 this is not HTTP\r\n\r\n")


@pytest.mark.parametrize("serve, failure, within", [
    pytest.param(hang_after_accept, "timed out after 1s", 2.0, id="hangs-after-accepting"),
    pytest.param(close_mid_response, "server closed the connection without a complete response", 2.0,
                 id="closes-mid-response"),
    pytest.param(reset, "connection reset by peer", 2.0, id="resets"),
    pytest.param(byte_by_byte, "timed out after 1s", 2.0, id="slow-byte-by-byte"),
    pytest.param(garbage, "server closed the connection without a complete response", 2.0, id="not-http"),
])
async def test_socket_level_faults_give_one_clear_sentence(serve, failure, within):
    with RawServer(serve) as server:
        result, elapsed = await run_probe(server.url + "/", timeout="1s")
    assert not result.ok
    assert result.failure == failure
    assert elapsed < within


async def test_a_name_that_does_not_resolve():
    result, _ = await run_probe("http://nothing-here.invalid/")
    assert not result.ok and result.failure == "DNS lookup failed: the host name does not resolve"


async def test_a_never_ending_chunked_body_is_cut_at_the_limit():
    def endless(handler):
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b"y" * 65536
        while not handler.server_release.is_set():
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    with TargetServer({"/": endless}) as server:
        server.httpd.RequestHandlerClass.server_release = server.release
        result, elapsed = await run_probe(server.url + "/", timeout="5s",
                                          extra='max_body_bytes = 65536\n[checks.expect]\nbody_contains = "never"')
    assert not result.ok
    assert result.failure == "body did not contain 'never' (within the first 64 KiB read)"
    assert elapsed < 5


@pytest.mark.parametrize("body, content_type, expected", [
    pytest.param(b"broken \xc3\x28 utf8 \xfa error: disk full", "text/plain", "disk full", id="invalid-utf8"),
    pytest.param(bytes(range(256)) * 4, "application/octet-stream", None, id="binary"),
    pytest.param(b'{"error": "half', "application/json", '{"error": "half', id="invalid-json"),
])
async def test_odd_bodies_never_break_the_probe(body, content_type, expected):
    with TargetServer({"/": lambda h: send(h, 500, body, content_type)}) as server:
        result, _ = await run_probe(server.url + "/")
    assert not result.ok and result.status_code == 500
    if expected is None:
        assert result.error_text is None
    else:
        assert expected in result.error_text
