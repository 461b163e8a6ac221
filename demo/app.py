"""The demo's HTTP server: stdlib `ThreadingHTTPServer`, one route table.

Routes (every API answer is JSON):

    GET  /                  the page (demo.page)
    GET  /api/threads       200 [{"id", "title", "created_at"}]
    POST /api/threads       {"title": str} -> 201 the created thread
    GET  /api/threads/ID    200 the thread, or 404 {"error": "no thread ID"}
    DELETE /api/threads/ID  204, or 404; needs `Authorization: Bearer TOKEN` (else 401)
    POST /api/login         200 {"token": TOKEN}: a fresh token, good until the server stops
    GET  /api/health        200 {"status": "ok"}, ALWAYS (see `naive_health`)
    GET  /api/health/deep   200 {"status": "ok"} or 503 {"status": "error", "error": ...}
    POST /admin/migrate     create the threads table (idempotent)
    POST /admin/break       drop the threads table (the bad deploy)

When the database refuses a query the API answers 500 `{"error": <the
database's own text>}`, as the incident's app did.

`start_server(...)` runs the app in a daemon thread and returns
`(server, base_url)`; `server.shutdown()` stops it and frees the port.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from demo.db import DatabaseError, open_database
from demo.page import PAGE_HTML

MAX_BODY_BYTES = 64 * 1024
MAX_TITLE_LENGTH = 255


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


def json_response(status: int, payload) -> Response:
    return Response(status, json.dumps(payload).encode())


def database_error(exc: DatabaseError, status: int = 500) -> Response:
    return json_response(status, {"error": str(exc)})


# Each route takes the database and the raw request body and returns a Response.


def page(database, body: bytes) -> Response:
    return Response(200, PAGE_HTML.encode(), "text/html; charset=utf-8")


def list_threads(database, body: bytes) -> Response:
    try:
        return json_response(200, database.list_threads())
    except DatabaseError as exc:
        return database_error(exc)


def create_thread(database, body: bytes) -> Response:
    try:
        payload = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return json_response(400, {"error": f"body is not valid JSON: {exc}"})
    title = payload.get("title") if isinstance(payload, dict) else None
    if not isinstance(title, str) or not title.strip():
        return json_response(400, {"error": 'body must be a JSON object like {"title": "New chat"}'})
    if len(title) > MAX_TITLE_LENGTH:
        return json_response(400, {"error": f"title is longer than {MAX_TITLE_LENGTH} characters"})
    try:
        return json_response(201, database.create_thread(title))
    except DatabaseError as exc:
        return database_error(exc)


def get_thread(database, body: bytes, thread_id: int) -> Response:
    try:
        thread = database.get_thread(thread_id)
    except DatabaseError as exc:
        return database_error(exc)
    return json_response(200, thread) if thread else json_response(404, {"error": f"no thread {thread_id}"})


def delete_thread(database, body: bytes, thread_id: int) -> Response:
    try:
        deleted = database.delete_thread(thread_id)
    except DatabaseError as exc:
        return database_error(exc)
    return Response(204, b"") if deleted else json_response(404, {"error": f"no thread {thread_id}"})


def naive_health(database, body: bytes) -> Response:
    """Always 200, deliberately: this is the incident's health check.

    It never touches the database, so it said "ok" through the whole outage.
    Monitors should not trust it; compare `deep_health`.
    """
    return json_response(200, {"status": "ok"})


def deep_health(database, body: bytes) -> Response:
    """Query the threads table, as the incident's follow-up asked; 503 with the db error if that fails."""
    try:
        database.list_threads()
    except DatabaseError as exc:
        return json_response(503, {"status": "error", "error": str(exc)})
    return json_response(200, {"status": "ok"})


def migrate(database, body: bytes) -> Response:
    try:
        database.migrate()
    except DatabaseError as exc:
        return database_error(exc)
    return json_response(200, {"threads_table": "present"})


def break_(database, body: bytes) -> Response:
    try:
        database.drop()
    except DatabaseError as exc:
        return database_error(exc)
    return json_response(200, {"threads_table": "missing"})


Route = Callable[[object, bytes], Response]
ItemRoute = Callable[[object, bytes, int], Response]

ROUTES: dict[str, dict[str, Route]] = {
    "/": {"GET": page},
    "/api/threads": {"GET": list_threads, "POST": create_thread},
    "/api/health": {"GET": naive_health},
    "/api/health/deep": {"GET": deep_health},
    "/admin/migrate": {"POST": migrate},
    "/admin/break": {"POST": break_},
}
# /api/threads/ID: the same, with the thread's id.
THREAD_PATH = re.compile(r"/api/threads/(\d{1,18})")
THREAD_ROUTES: dict[str, ItemRoute] = {"GET": get_thread, "DELETE": delete_thread}
# Changing data someone else made needs a token from POST /api/login.
NEEDS_TOKEN = frozenset({"DELETE"})


class DemoHandler(BaseHTTPRequestHandler):
    server: DemoServer
    server_version = "demo-chat/0.1"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        if path == "/api/login" and method == "POST":
            if self._read_body() is not None:
                self._send(json_response(200, {"token": self.server.new_token()}))
            return
        item = THREAD_PATH.fullmatch(path)
        if item is not None:
            self._dispatch_thread(method, int(item.group(1)))
            return
        methods = ROUTES.get(path)
        if methods is None:
            self._send(json_response(404, {"error": f"no route {path}"}))
            return
        route = methods.get(method)
        if route is None:
            allowed = ", ".join(methods)
            self._send(json_response(405, {"error": f"{path} accepts {allowed}"}), {"Allow": allowed})
            return
        body = self._read_body()
        if body is not None:
            self._send(route(self.server.database, body))

    def _read_body(self) -> bytes | None:
        """The request's body; None, with a 413 sent, when its length is missing or too large."""
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body must not be parsed as a request
            self._send(json_response(413, {"error": f"Content-Length must be 0 to {MAX_BODY_BYTES}"}))
            return None
        return self.rfile.read(int(length))

    def _dispatch_thread(self, method: str, thread_id: int) -> None:
        route = THREAD_ROUTES.get(method)
        if route is None:
            allowed = ", ".join(THREAD_ROUTES)
            self._send(json_response(405, {"error": f"/api/threads/ID accepts {allowed}"}), {"Allow": allowed})
            return
        if method in NEEDS_TOKEN and not self.server.knows(self.headers.get("Authorization", "")):
            self._send(json_response(401, {"error": "deleting a thread needs the token from "
                                                    "POST /api/login in an Authorization bearer header"}))
            return
        body = self._read_body()
        if body is not None:
            self._send(route(self.server.database, body, thread_id))

    def _send(self, response: Response, headers: dict[str, str] | None = None) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The browser closed the page mid-response: nothing to tell anyone.
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:
        if self.server.log_requests:
            super().log_message(format, *args)  # one line per request, to stderr


class DemoServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its database and its URL."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], database, log_requests: bool = False):
        self.database = database
        self.log_requests = log_requests
        self.tokens: set[str] = set()  # issued by POST /api/login
        super().__init__(address, DemoHandler)

    def new_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return token

    def knows(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        return scheme.lower() == "bearer" and token.strip() in self.tokens

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def shutdown(self) -> None:
        """Stop serving and close the listening socket (call from another thread)."""
        super().shutdown()
        self.server_close()


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    db_path: str | Path = "demo.db",
    *,
    database_url: str | None = None,
    broken: bool = False,
    log_requests: bool = False,
) -> DemoServer:
    """Bind the demo app (not yet serving); port 0 picks a free port.

    `broken=True` drops the threads table (the bad deploy); otherwise the
    table is created. `database_url` (a postgres:// URL) wins over `db_path`.
    """
    database = open_database(db_path, database_url)
    if broken:
        database.drop()
    else:
        database.migrate()
    return DemoServer((host, port), database, log_requests)


def start_server(
    host: str = "127.0.0.1",
    port: int = 0,
    db_path: str | Path = "demo.db",
    *,
    database_url: str | None = None,
    broken: bool = False,
    log_requests: bool = False,
) -> tuple[DemoServer, str]:
    """Serve the demo app from a daemon thread; return `(server, base_url)`.

    Stop it with `server.shutdown()`. Arguments as for `make_server`.
    """
    server = make_server(
        host, port, db_path, database_url=database_url, broken=broken, log_requests=log_requests
    )
    # A short poll interval makes shutdown() return in ~50 ms instead of 500 ms.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"demo-app {server.base_url}", daemon=True
    )
    thread.start()
    return server, server.base_url
