"""Real HTTP servers on loopback for tests: routes that misbehave on purpose.

Each route is a function (handler) -> None writing a response with the
standard library's BaseHTTPRequestHandler, so a test reads as the server it
talks to. Servers run in a daemon thread; `release` unblocks routes that hang.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler], None]


class TargetServer:
    def __init__(self, routes: dict[str, Route], tls: ssl.SSLContext | None = None):
        self.routes = routes
        self.release = threading.Event()
        self.requests: list[tuple[str, str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _dispatch(self):
                path = self.path.split("?", 1)[0]
                server.requests.append((self.command, self.path, dict(self.headers)))
                route = server.routes.get(path)
                if route is None:
                    send(self, 404, b"not found", "text/plain")
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _dispatch

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        # A short poll: shutdown() waits up to one poll interval (0.5 s by default) on every test's exit.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> TargetServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "application/json",
         headers: dict | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def respond(status: int, body: bytes | str | dict | list, content_type: str | None = None) -> Route:
    """A route that always answers `status` with `body` (dicts and lists as JSON)."""
    if isinstance(body, (dict, list)):
        body, content_type = json.dumps(body).encode(), content_type or "application/json"
    elif isinstance(body, str):
        body = body.encode()
    return lambda h: send(h, status, body, content_type or "text/plain")


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BreakableTarget:
    """`path` answers 500 with `{"error": said}` while `broken`, else 200 `[]`: a target a test breaks and fixes.

        target = BreakableTarget("/api/threads", 'relation "threads" does not exist')
        with target.server: ...
    """

    def __init__(self, path: str, said: str, broken: bool = False):
        self.said = said
        self.broken = broken
        self.server = TargetServer({path: self._answer})

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        if self.broken:
            send(handler, 500, json.dumps({"error": self.said}).encode())
        else:
            send(handler, 200, b"[]")
