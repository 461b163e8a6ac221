"""A loopback Slack for tests: the Web API subset we use, and incoming webhooks.

The real slack-sdk talks to it (`[alerts.slack] api_url = server.api_url`):

    POST /api/auth.test           ok with the right bearer token, else invalid_auth
    POST /api/chat.postMessage    a new message, or a reply with thread_ts
    POST /api/chat.update         edits a message (message_not_found otherwise)
    POST /services/T0/B0/secret   an incoming webhook (404 no_service for other paths)

Faults on demand: `fail_next("chat.postMessage", 429, times=2, retry_after=1)`
answers the next calls with that status (or an API error name such as
"invalid_auth" with HTTP 200, as Slack does), and `down = True` answers 503
to everything until set back; `hang = seconds` holds every answer that long
(a Slack that accepts and then says nothing). Every call, failed or not,
lands in `calls`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

TOKEN = "xoxb-test-0000-token"
WEBHOOK_PATH = "/services/T0/B0/secret"
CHANNELS = {"#oncall": "C0ONCALL", "C0ONCALL": "C0ONCALL"}


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list
    thread_ts: str | None = None
    updates: list[dict] = field(default_factory=list)
    received_at: float = field(default_factory=time.monotonic)

    @property
    def all_text(self) -> str:
        """The fallback and every block's text, for asserts."""
        parts = [self.text]
        for block in self.blocks:
            parts += [block["text"]["text"]] if "text" in block else []
            parts += [element.get("text", "") for element in block.get("elements", [])]
        return "\n".join(parts)


class SlackServer:
    def __init__(self, token: str = TOKEN):
        self.token = token
        self.lock = threading.Lock()
        self.messages: list[Message] = []
        self.webhook_messages: list[dict] = []
        self.calls: list[tuple[str, int]] = []  # (method, HTTP status answered)
        self.down = False
        self.hang = 0.0
        self._faults: dict[str, list[tuple[int | str, float | None]]] = {}
        self._ts = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if server.hang:
                    time.sleep(server.hang)  # the fault itself: a Slack that does not answer
                status, body, headers = server._handle(self.path, dict(self.headers), raw)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.api_url = self.url + "/api/"
        self.webhook_url = self.url + WEBHOOK_PATH
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> SlackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- for tests -------------------------------------------------------

    def fail_next(self, method: str, answer: int | str, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next `times` calls of `method` with an HTTP status or a Slack error name."""
        with self.lock:
            self._faults.setdefault(method, []).extend([(answer, retry_after)] * times)

    def top_level(self) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.thread_ts is None]

    def replies(self, ts: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.thread_ts == ts]

    def count(self, method: str, status: int | None = None) -> int:
        with self.lock:
            return sum(1 for m, s in self.calls if m == method and (status is None or s == status))

    # --- the fake --------------------------------------------------------

    def _handle(self, path: str, headers: dict, raw: bytes):
        if path.startswith("/services/"):
            return self._webhook(path, raw)
        method = path.removeprefix("/api/")
        with self.lock:
            answer = self._answer(method, headers, raw)
            self.calls.append((method, answer[0]))
        return answer

    def _answer(self, method: str, headers: dict, raw: bytes):
        if self.down:
            return 503, "service unavailable", {}
        faults = self._faults.get(method)
        if faults:
            fault, retry_after = faults.pop(0)
            if isinstance(fault, str):
                return 200, {"ok": False, "error": fault}, {}
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            if fault == 429:
                return 429, {"ok": False, "error": "ratelimited"}, extra
            return fault, "upstream error", extra
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if auth != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        args = _parse(headers, raw)
        if method == "auth.test":
            return 200, {"ok": True, "team": "Test", "user": "monitor-bot", "user_id": "U0BOT"}, {}
        channel = CHANNELS.get(args.get("channel", ""))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        blocks = args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if method == "chat.postMessage":
            self._ts += 1
            ts = f"1700000000.{self._ts:06d}"
            self.messages.append(Message(channel, ts, args.get("text", ""), blocks, args.get("thread_ts")))
            return 200, {"ok": True, "channel": channel, "ts": ts, "message": {"text": args.get("text")}}, {}
        if method == "chat.update":
            for message in self.messages:
                if message.channel == channel and message.ts == args.get("ts"):
                    message.updates.append({"text": args.get("text", ""), "blocks": blocks})
                    return 200, {"ok": True, "channel": channel, "ts": message.ts}, {}
            return 200, {"ok": False, "error": "message_not_found"}, {}
        return 200, {"ok": False, "error": "unknown_method"}, {}

    def _webhook(self, path: str, raw: bytes):
        with self.lock:
            if self.down:
                self.calls.append(("webhook", 503))
                return 503, "service unavailable", {}
            if path != WEBHOOK_PATH:
                self.calls.append(("webhook", 404))
                return 404, "no_service", {}
            self.calls.append(("webhook", 200))
            self.webhook_messages.append(json.loads(raw))
            return 200, "ok", {}


def _parse(headers: dict, raw: bytes) -> dict:
    kind = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if "json" in kind:
        return json.loads(raw or b"{}")
    return dict(parse_qsl(raw.decode()))
