"""A loopback HTTP receiver for the channels that POST JSON (webhook, PagerDuty's Events API): it keeps what it got.

    with HookServer() as hooks:
        hooks.answer(500, times=2)            # the next two POSTs get a 500, then 202 again
        ... hooks.received[0].json, hooks.received[0].headers["x-synthetic-monitor-signature"]

Every POST is recorded (path, headers with lower-case names, raw body) and
answered with the next scripted answer, or `default` (202 with PagerDuty's
`{"status": "success"}` body, which a plain webhook ignores).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes = b'{"status": "success", "message": "Event processed"}'
    headers: dict[str, str] = field(default_factory=dict)


class HookServer:
    def __init__(self, default: Answer | None = None):
        self.default = default or Answer(202)
        self.received: list[Received] = []
        self._script: list[Answer] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                answer = server._record(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def answer(self, status: int, *, times: int = 1, body: bytes = b"{}",
               headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` POSTs with `status`."""
        with self._lock:
            self._script.extend([Answer(status, body, headers or {})] * times)

    def _record(self, received: Received) -> Answer:
        with self._lock:
            self.received.append(received)
            return self._script.pop(0) if self._script else self.default

    def __enter__(self) -> HookServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
