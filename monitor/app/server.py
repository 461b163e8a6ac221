"""The monitor's own HTTP server: /metrics, /healthz, /artifacts/..., and the status page at /.

A `ServicePart` listening on `[monitor] listen`. The standard library's
ThreadingHTTPServer answers from its own threads, so a slow scrape or a big
trace download never holds up probing. What touches the service's SQLite
connection or its health functions is handed to the event loop, the one
thread that uses them (`_on_loop`); when the loop does not answer in time,
/healthz says so, because a stuck loop runs no checks either.

Routes:
    GET /metrics          Prometheus text format
    GET /healthz          200 {"status": "ok"}, or 503 {"status": "unhealthy", "unhealthy": {part: why}}
    GET /artifacts/PATH   a file under artifacts_dir (CORS open to trace.playwright.dev)
    GET /                 the status page

Auth: with `[monitor] auth_token` set, artifacts and the status page need
`Authorization: Bearer TOKEN` (or HTTP Basic with the token as password, so a
browser can log in); an artifact also opens with its signed link
(monitor.core.artifacts). /metrics and /healthz take the same token only when
`protect_metrics = true`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import os
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from monitor.app.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from monitor.app.metrics import Metrics
from monitor.app.status_page import HistoryReader, load_status, render_status_page
from monitor.core.artifacts import (
    CORS_ORIGIN,
    artifact_link,
    content_type,
    resolve_artifact,
    signature_ok,
    trace_viewer_link,
)
from monitor.core.config import Config, ConfigError
from monitor.core.config_schema import ConfigIssue
from monitor.core.results import utcnow

if TYPE_CHECKING:
    from monitor.app.service import Service

log = logging.getLogger("monitor.server")
T = TypeVar("T")

# The page may show a target's text; it needs no script, so it may run none.
STATUS_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; " \
                  "form-action 'none'; frame-ancestors 'none'"
# An artifact (a page snapshot, say) is the target's content: never script on our origin.
ARTIFACT_CSP = "sandbox"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    file: Path | None = None


def text_reply(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, (text + "\n").encode(), headers=headers or [])


def json_reply(status: int, payload: object) -> Reply:
    return Reply(status, json.dumps(payload, indent=2).encode() + b"\n", "application/json")


def bearer_or_basic_ok(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries `token` (always True without a token)."""
    if not token:
        return True
    scheme, _, value = (header or "").partition(" ")
    supplied = value.strip()
    if scheme.lower() == "basic":
        try:
            supplied = base64.b64decode(supplied, validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(supplied.encode(), token.encode())


UNAUTHORIZED = text_reply(401, "unauthorized: send Authorization: Bearer <[monitor] auth_token>", [
    ("WWW-Authenticate", 'Basic realm="synthetic-monitor"'),
    ("WWW-Authenticate", 'Bearer realm="synthetic-monitor"'),
])


class MonitorServer:
    """Serves one monitor process over HTTP; see the module docstring for the routes."""

    def __init__(self, metrics: Metrics, *, loop_timeout: float = 5.0):
        self.metrics = metrics
        self.loop_timeout = loop_timeout
        self.url = ""
        self._httpd: ThreadingHTTPServer | None = None

    # -- ServicePart -----------------------------------------------------------------------

    async def start(self, service: Service) -> None:
        self.service = service
        self.settings = service.config.monitor  # [monitor] changes take effect after a restart
        self.checks = service.config.checks
        self._history = HistoryReader(service.store.path)
        self._loop = asyncio.get_running_loop()
        host, port = self.settings.listen_host_port
        try:
            self._httpd = _HTTPServer((host, port), self)
        except OSError as exc:
            raise ConfigError(str(service.config.path), [ConfigIssue(
                "monitor.listen", f"cannot listen on {self.settings.listen}: {exc.strerror or exc}; "
                                  "stop what uses the port or choose another one")]) from exc
        bound_host, bound_port = self._httpd.server_address[:2]
        if not isinstance(bound_host, str):  # an AF_INET or AF_INET6 socket's address: (host, port, ...)
            raise TypeError(f"unexpected server address {self._httpd.server_address!r}")
        self.url = f"http://{'[' + bound_host + ']' if ':' in bound_host else bound_host}:{bound_port}"
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                         name=f"monitor-http {self.url}", daemon=True).start()
        log.info("serving the status page, /metrics and /healthz on %s", self.url)

    async def stop(self) -> None:
        if self._httpd is not None:
            await asyncio.to_thread(self._httpd.shutdown)
            self._httpd.server_close()
            self._httpd = None

    def on_reload(self, config: Config) -> None:
        self.checks = config.checks

    # -- routing (called from the server's threads) ----------------------------------------

    def handle(self, method: str, target: str, headers: Message) -> Reply:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        auth = headers.get("Authorization")
        token = self.settings.auth_token
        if path.startswith("/artifacts/"):
            return self._artifact(method, path.removeprefix("/artifacts/"), query, auth)
        if method == "OPTIONS":
            return Reply(204, headers=[("Allow", "GET, HEAD")])
        if path in ("/metrics", "/healthz") and self.settings.protect_metrics and not bearer_or_basic_ok(auth, token):
            return UNAUTHORIZED
        if path == "/metrics":
            return Reply(200, self.metrics.exposition(), METRICS_CONTENT_TYPE)
        if path == "/healthz":
            return self._health()
        if path == "/":
            if not bearer_or_basic_ok(auth, token):
                return UNAUTHORIZED
            return self._status_page(headers.get("Host"))
        return text_reply(404, f"not found: {path}; try /, /metrics, /healthz")

    def _health(self) -> Reply:
        try:
            problems = self._on_loop(self.service.unhealthy)
        except TimeoutError:
            problems = {"event_loop": f"the monitor's event loop did not answer within {self.loop_timeout:g}s"}
        if problems:
            return json_reply(503, {"status": "unhealthy", "unhealthy": problems})
        return json_reply(200, {"status": "ok"})

    def _artifact(self, method: str, relative: str, query: dict[str, list[str]], auth: str | None) -> Reply:
        cors = [("Access-Control-Allow-Origin", CORS_ORIGIN), ("Vary", "Origin")]
        if method == "OPTIONS":
            # Chrome asks before a public site (the trace viewer) may read from a private address.
            return Reply(204, headers=cors + [("Access-Control-Allow-Methods", "GET, HEAD"),
                                              ("Access-Control-Allow-Private-Network", "true"),
                                              ("Access-Control-Max-Age", "600")])
        token = self.settings.auth_token
        sigs = query.get("sig")
        sig = sigs[0] if sigs else None
        if not bearer_or_basic_ok(auth, token) and not signature_ok(token, unquote(relative), sig):
            return UNAUTHORIZED
        file = resolve_artifact(self.settings.artifacts_dir, relative)
        if file is None:
            return text_reply(404, "no such artifact")
        return Reply(200, content_type=content_type(file), file=file, headers=cors + [
            ("Content-Security-Policy", ARTIFACT_CSP), ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "private, max-age=3600")])

    def _status_page(self, host: str | None) -> Reply:
        now = utcnow()
        try:
            statuses = self._on_loop(lambda: load_status(self.service.store, self.checks, now))
        except TimeoutError:
            return text_reply(503, "the monitor is not answering; see /healthz")
        # On this thread, through a connection of its own: the event loop never waits for a week of runs.
        history = self._history.read([c.name for c in self.checks], now)
        base = self.settings.public_url or (f"http://{host}" if host else "")
        token = self.settings.auth_token

        def links(path: str) -> list[tuple[str, str]]:
            found = [(path.rsplit("/", 1)[-1], artifact_link(path, token=token))]
            if path.endswith(".zip") and base:
                found.append(("open in trace viewer", trace_viewer_link(artifact_link(path, base_url=base,
                                                                                      token=token))))
            return found

        page = render_status_page(statuses, now=now, location=self.settings.location, links=links, history=history)
        return Reply(200, page.encode(), "text/html; charset=utf-8", [
            ("Content-Security-Policy", STATUS_PAGE_CSP), ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-store")])

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the service's event loop; TimeoutError when it does not answer in time."""
        async def call() -> T:
            return fn()

        future = asyncio.run_coroutine_threadsafe(call(), self._loop)
        try:
            return future.result(self.loop_timeout)
        except TimeoutError:
            future.cancel()
            raise


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: MonitorServer):
        self.app = app
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "synthetic-monitor"
    # A client that stops sending mid-request frees its thread after this long.
    timeout = 30

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_OPTIONS(self) -> None:
        self._serve("OPTIONS")

    def _serve(self, method: str) -> None:
        try:
            reply = self.server.app.handle(method, self.path, self.headers)
        except Exception:
            log.exception("%s %s failed", method, self.path)
            reply = text_reply(500, "internal error; see the monitor's log")
        try:
            self._send(reply, body=method != "HEAD")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away

    def _send(self, reply: Reply, body: bool) -> None:
        handle = reply.file.open("rb") if reply.file is not None else None
        try:
            length = os.fstat(handle.fileno()).st_size if handle else len(reply.body)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(length))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            if body and handle:
                shutil.copyfileobj(handle, self.wfile)
            elif body:
                self.wfile.write(reply.body)
        finally:
            if handle:
                handle.close()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
