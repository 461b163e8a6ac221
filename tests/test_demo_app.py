"""The demo target: a real server on 127.0.0.1, a real SQLite file in tmp_path."""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from demo.__main__ import main
from demo.app import start_server
from demo.db import BackendUnavailable, open_database

REPO_ROOT = Path(__file__).resolve().parents[1]
NO_TABLE = {"error": "no such table: threads"}
URL_LINE = re.compile(
    r"^demo chat app on (http://127\.0\.0\.1:(\d+)) \(database: SQLite (.+), threads table: (missing|present)\)$"
)


def demo_env() -> dict[str, str]:
    """The environment for `python -m demo` subprocesses: this checkout, no DATABASE_URL."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def run_demo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "demo", *args],
        cwd=cwd, env=demo_env(), capture_output=True, text=True, timeout=30,
    )


def client_for(base_url: str) -> httpx.Client:
    # trust_env=False: a proxy from the environment must not see 127.0.0.1 traffic.
    return httpx.Client(base_url=base_url, timeout=5, trust_env=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "demo.db"


@pytest.fixture
def broken_app(db_path: Path):
    """A client for the demo started as the bad deploy left it: no threads table."""
    server, base_url = start_server(db_path=db_path, broken=True)
    try:
        with client_for(base_url) as client:
            yield client
    finally:
        server.shutdown()


@pytest.fixture
def healthy_app(db_path: Path):
    server, base_url = start_server(db_path=db_path)
    try:
        with client_for(base_url) as client:
            yield client
    finally:
        server.shutdown()


def new_chat(client: httpx.Client, title: str = "New chat") -> httpx.Response:
    return client.post("/api/threads", json={"title": title})


# -- the incident: broken start --------------------------------------------------------


def test_page_renders_with_new_chat_button(broken_app):
    response = broken_app.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert re.search(r"<button[^>]*>New chat</button>", page)
    assert '<ul id="threads">' in page
    assert 'fetch("/api/threads", {\n    method: "POST"' in page
    assert 'JSON.stringify({title: "New chat"})' in page
    assert "textContent = thread.title" in page and "innerHTML" not in page


def test_naive_health_says_ok_while_broken(broken_app):
    response = broken_app.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_listing_threads_answers_500_with_database_error(broken_app):
    response = broken_app.get("/api/threads")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == NO_TABLE


def test_creating_a_thread_answers_500_with_database_error(broken_app):
    response = new_chat(broken_app)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == NO_TABLE


def test_deep_health_answers_503_with_database_error(broken_app):
    response = broken_app.get("/api/health/deep")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "error": "no such table: threads"}


# -- the fix, and breaking it again ---------------------------------------------------------


def test_migrate_endpoint_fixes_threads(broken_app):
    migrated = broken_app.post("/admin/migrate")
    assert (migrated.status_code, migrated.json()) == (200, {"threads_table": "present"})

    listed = broken_app.get("/api/threads")
    assert (listed.status_code, listed.json()) == (200, [])
    created = new_chat(broken_app)
    assert created.status_code == 201
    thread = created.json()
    assert thread["title"] == "New chat"
    assert isinstance(thread["id"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", thread["created_at"])
    assert broken_app.get("/api/threads").json() == [thread]
    assert broken_app.get("/api/health/deep").status_code == 200


@pytest.mark.slow
def test_migrate_cli_fixes_a_running_server(broken_app, db_path, tmp_path):
    result = run_demo("migrate", "--db", str(db_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("threads table: present (database: SQLite ")

    assert broken_app.get("/api/threads").json() == []
    assert new_chat(broken_app).status_code == 201
    assert [t["title"] for t in broken_app.get("/api/threads").json()] == ["New chat"]


def test_migrate_is_idempotent_and_keeps_threads(healthy_app):
    new_chat(healthy_app, "kept")
    assert healthy_app.post("/admin/migrate").status_code == 200
    assert [t["title"] for t in healthy_app.get("/api/threads").json()] == ["kept"]


def test_break_endpoint_brings_the_500_back(healthy_app):
    assert new_chat(healthy_app).status_code == 201
    broke = healthy_app.post("/admin/break")
    assert (broke.status_code, broke.json()) == (200, {"threads_table": "missing"})
    assert healthy_app.get("/api/threads").status_code == 500
    assert new_chat(healthy_app).json() == NO_TABLE


@pytest.mark.slow
def test_break_cli_brings_the_500_back(healthy_app, db_path, tmp_path):
    assert healthy_app.get("/api/threads").status_code == 200
    result = run_demo("break", "--db", str(db_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("threads table: missing")
    response = healthy_app.get("/api/threads")
    assert (response.status_code, response.json()) == (500, NO_TABLE)


@pytest.mark.slow
def test_cli_defaults_to_demo_db_in_the_current_directory(tmp_path):
    assert run_demo("migrate", cwd=tmp_path).returncode == 0
    assert open_database(tmp_path / "demo.db").has_threads_table()


def test_healthy_start_creates_the_table(healthy_app):
    assert healthy_app.get("/api/threads").json() == []
    assert healthy_app.get("/api/health/deep").json() == {"status": "ok"}


def test_broken_start_drops_an_existing_table(db_path):
    database = open_database(db_path)
    database.migrate()
    database.create_thread("from before the bad deploy")
    server, base_url = start_server(db_path=db_path, broken=True)
    try:
        with client_for(base_url) as client:
            assert client.get("/api/threads").json() == NO_TABLE
    finally:
        server.shutdown()


def test_shutdown_frees_the_port(db_path):
    server, base_url = start_server(db_path=db_path)
    with client_for(base_url) as client:
        assert client.get("/api/health").status_code == 200
        server.shutdown()
        with pytest.raises(httpx.ConnectError):
            client.get("/api/health")


# -- one thread: read it, delete it (with a token) ---------------------------------------------


def log_in(client: httpx.Client) -> dict[str, str]:
    token = client.post("/api/login").json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_thread_reads_by_id_and_a_missing_one_answers_404(healthy_app):
    created = new_chat(healthy_app, "first").json()
    assert healthy_app.get(f"/api/threads/{created['id']}").json() == created
    missing = healthy_app.get(f"/api/threads/{created['id'] + 1}")
    assert (missing.status_code, missing.json()) == (404, {"error": f"no thread {created['id'] + 1}"})


def test_deleting_a_thread_needs_a_token_from_login(healthy_app):
    created = new_chat(healthy_app).json()
    refused = healthy_app.delete(f"/api/threads/{created['id']}", headers={"Authorization": "Bearer made-up"})
    assert refused.status_code == 401 and "token from POST /api/login" in refused.json()["error"]
    auth = log_in(healthy_app)
    assert auth != log_in(healthy_app)  # every login gets its own token
    assert healthy_app.delete(f"/api/threads/{created['id']}", headers=auth).status_code == 204
    assert healthy_app.get("/api/threads").json() == []
    again = healthy_app.delete(f"/api/threads/{created['id']}", headers=auth)
    assert (again.status_code, again.json()) == (404, {"error": f"no thread {created['id']}"})


def test_one_thread_routes_answer_500_with_database_error_when_broken(broken_app):
    assert (broken_app.get("/api/threads/1").status_code, broken_app.get("/api/threads/1").json()) == (500, NO_TABLE)
    deleted = broken_app.delete("/api/threads/1", headers=log_in(broken_app))
    assert (deleted.status_code, deleted.json()) == (500, NO_TABLE)


def test_one_thread_routes_refuse_other_methods(healthy_app):
    response = healthy_app.post("/api/threads/1", json={"title": "x"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, DELETE"


# -- request validation ---------------------------------------------------------------------


def test_titles_are_stored_verbatim(healthy_app):
    title = '<img src=x onerror="alert(1)"> & co'
    assert new_chat(healthy_app, title).json()["title"] == title
    assert healthy_app.get("/api/threads").json()[0]["title"] == title


@pytest.mark.parametrize(
    "body, message",
    [
        (b"not json", "body is not valid JSON"),
        (b'["New chat"]', 'body must be a JSON object like {"title": "New chat"}'),
        (b'{"title": ""}', 'body must be a JSON object like {"title": "New chat"}'),
        (b'{"title": 7}', 'body must be a JSON object like {"title": "New chat"}'),
        (b'{"title": "' + b"x" * 256 + b'"}', "title is longer than 255 characters"),
    ],
)
def test_create_rejects_bad_bodies_with_400(healthy_app, body, message):
    response = healthy_app.post("/api/threads", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert healthy_app.get("/api/threads").json() == []


def test_unknown_route_answers_404_json(healthy_app):
    response = healthy_app.get("/api/thread")
    assert (response.status_code, response.json()) == (404, {"error": "no route /api/thread"})


def test_admin_routes_refuse_get(broken_app):
    response = broken_app.get("/admin/migrate")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert broken_app.get("/api/threads").status_code == 500  # a crawler did not fix it


# -- backends and CLI errors ----------------------------------------------------------------


def test_postgres_url_without_psycopg_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(BackendUnavailable, match=r"pip install 'synthetic-monitor\[postgres\]'"):
        open_database("ignored.db", "postgresql://app:secret@db.example/chat")


def test_cli_rejects_a_database_url_that_is_not_postgres(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DATABASE_URL", "mysql://db.example/chat")
    with pytest.raises(SystemExit) as exit_info:
        main(["migrate", "--db", str(tmp_path / "demo.db")])
    assert exit_info.value.code == 2
    assert "scheme 'mysql'" in capsys.readouterr().err
    assert not (tmp_path / "demo.db").exists()


def test_postgres_description_hides_the_password(monkeypatch):
    fake_psycopg = type(sys)("psycopg")
    monkeypatch.setitem(sys.modules, "psycopg", fake_psycopg)
    database = open_database("ignored.db", "postgresql://app:s3cret@db.example:5433/chat")
    assert database.describe() == "PostgreSQL db.example:5433/chat"


@pytest.mark.skipif(
    not os.environ.get("DEMO_TEST_POSTGRES_URL"),
    reason="set DEMO_TEST_POSTGRES_URL to a throwaway PostgreSQL database to test that backend",
)
def test_postgres_backend_answers_with_the_incident_text(tmp_path):
    pytest.importorskip("psycopg")
    server, base_url = start_server(
        db_path=tmp_path / "unused.db", database_url=os.environ["DEMO_TEST_POSTGRES_URL"], broken=True
    )
    try:
        with client_for(base_url) as client:
            response = client.get("/api/threads")
            assert (response.status_code, response.json()) == (500, {"error": 'relation "threads" does not exist'})
            assert client.post("/admin/migrate").status_code == 200
            created = new_chat(client).json()
            assert client.get("/api/threads").json() == [created]
            assert client.get(f"/api/threads/{created['id']}").json() == created
            assert client.delete(f"/api/threads/{created['id']}", headers=log_in(client)).status_code == 204
            assert client.get(f"/api/threads/{created['id']}").status_code == 404
            assert client.post("/admin/break").status_code == 200
    finally:
        server.shutdown()
    assert not (tmp_path / "unused.db").exists()


# -- `python -m demo serve` as a subprocess -------------------------------------------------


def read_line(stream, timeout: float) -> str:
    """Return the next line of `stream`, or fail after `timeout` seconds."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"no line within {timeout}s")


def get_with_deadline(client: httpx.Client, path: str, deadline: float) -> httpx.Response:
    while True:
        try:
            return client.get(path)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.slow
def test_serve_cli_prints_its_url_and_serves(tmp_path, db_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "serve", "--port", "0", "--broken", "--db", str(db_path)],
        cwd=tmp_path, env=demo_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = read_line(process.stdout, timeout=15).rstrip("\n")
        match = URL_LINE.match(line)
        assert match, line
        base_url, port, database, table = match.groups()
        assert int(port) != 0
        assert database == str(db_path.resolve())
        assert table == "missing"

        with client_for(base_url) as client:
            response = get_with_deadline(client, "/api/threads", time.monotonic() + 10)
            assert (response.status_code, response.json()) == (500, NO_TABLE)
            assert client.get("/api/health").status_code == 200
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0  # SIGTERM is a clean stop
    log = process.stderr.read()
    assert re.search(r'"GET /api/threads HTTP/1\.1" 500', log), log
    assert re.search(r'"GET /api/health HTTP/1\.1" 200', log), log


# -- the page in a real browser ---------------------------------------------------------------


def chromium_path() -> str | None:
    """Playwright's own Chromium if installed, else a system one, else None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture
def browser_page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch()
        except sync_api.Error:
            if not chromium_path():
                pytest.skip("no Chromium: run `playwright install chromium`")
            browser = playwright.chromium.launch(executable_path=chromium_path())
        try:
            yield browser.new_page()
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.browser
def test_new_chat_button_adds_a_thread(healthy_app, browser_page):
    new_chat(healthy_app, "<b>not bold</b>")
    browser_page.goto(str(healthy_app.base_url))
    threads = browser_page.locator("#threads li.thread")
    threads.first.wait_for()
    browser_page.get_by_role("button", name="New chat", exact=True).click()
    browser_page.wait_for_function("document.querySelectorAll('#threads li.thread').length == 2")
    assert threads.all_text_contents() == ["<b>not bold</b>", "New chat"]
    assert browser_page.locator("#threads b").count() == 0


@pytest.mark.slow
@pytest.mark.browser
def test_new_chat_button_fails_silently_when_broken(broken_app, browser_page):
    page_messages: list[str] = []
    browser_page.on("console", lambda message: page_messages.append(message.text))
    requests: list[str] = []
    browser_page.on("request", lambda request: requests.append(f"{request.method} {request.url}"))
    browser_page.goto(str(broken_app.base_url))
    with browser_page.expect_response(lambda r: r.request.method == "POST") as post:
        browser_page.get_by_role("button", name="New chat", exact=True).click()
    assert post.value.status == 500
    # A later round trip from the page lets the click handler's own continuation run first.
    assert browser_page.evaluate("() => fetch('/api/health').then((r) => r.status)") == 200

    assert browser_page.locator("#threads li").count() == 0
    after_post = requests[requests.index(f"POST {broken_app.base_url}/api/threads") + 1 :]
    assert after_post == [f"GET {broken_app.base_url}/api/health"]  # no reload of the list
    # Only the browser's own "Failed to load resource" lines; the page logs nothing.
    assert all(m.startswith("Failed to load resource") for m in page_messages), page_messages
