"""The status page: what it reads (real SQLite), how it renders, and what a real Chromium shows.

On failure the browser tests save a screenshot to test-results/ (named in the failure message).
"""

from __future__ import annotations

import html
import os
import shutil
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from alerts.state_store import AlertStore
from monitor.app.config import load_config
from monitor.app.database import open_store
from monitor.app.service import build_service
from monitor.app.status_page import CheckStatus, load_status, render_status_page
from monitor.core.results import Result, utcnow
from tests.polling import wait_until
from tests.servers import TargetServer, respond
from tests.service_thread import ServiceThread

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "test-results"
EVIL = "<script>window.pwned = 1</script> & <b>not bold</b> \"quoted\""
TOKEN = "status-page-token"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def write_config(folder: Path, url: str, monitor: str = "") -> Path:
    path = folder / "config.toml"
    checks = {"ok": ("/ok", 'interval = "1s"'), "api": ("/api", 'interval = "1s"'),
              "muted": ("/api", 'interval = "1s"'), "quiet": ("/ok", 'cron = "0 0 1 1 *"')}
    path.write_text(f'[monitor]\ndatabase = "monitor.db"\nlisten = "127.0.0.1:0"\nlocation = "eu-west"\n{monitor}\n'
                    + "".join(f'[[checks]]\nname = "{name}"\nurl = "{url}{route}"\n{when}\ntimeout = "2s"\n'
                              for name, (route, when) in checks.items()))
    return path


def seed(folder: Path) -> None:
    """A failed run of `api` that kept a trace; an open incident on `api`; `muted` silenced for an hour.

    The incidents and silences tables are the alerts package's; made here with the columns the page reads.
    """
    store = open_store(folder / "monitor.db")
    run_dir = folder / "artifacts" / "api" / "run-1"
    run_dir.mkdir(parents=True)
    (run_dir / "trace.zip").write_bytes(b"PK\x03\x04 a trace")
    (run_dir / "screenshot.png").write_bytes(b"\x89PNG")
    store.record(Result(check="api", type="http", location="eu-west", target="http://x/api",
                        started_at=utcnow() - timedelta(minutes=5), duration_ms=12.0, ok=False,
                        failure="expected status 200, got 500", error_text="older failure",
                        artifacts=["api/run-1/screenshot.png", "api/run-1/trace.zip"]))
    db = store.db
    opened = (utcnow() - timedelta(minutes=4)).isoformat()
    db["incidents"].insert({"check_name": "api", "opened_at": opened, "first_failure_at": opened,
                            "last_failure_at": opened})
    db["incidents"].insert({"check_name": "ok", "opened_at": "2026-01-01T00:00:00+00:00",
                            "first_failure_at": "2026-01-01T00:00:00+00:00",
                            "last_failure_at": "2026-01-01T00:00:00+00:00", "resolved_at": "2026-01-01T00:10:00+00:00"})
    db["silences"].create({"check_name": str, "until": str, "created_at": str}, pk="check_name", if_not_exists=True)
    db["silences"].insert({"check_name": "muted", "until": (utcnow() + timedelta(hours=1)).isoformat(),
                           "created_at": utcnow().isoformat()})
    store.close()


@pytest.fixture(scope="module")
def target():
    with TargetServer({"/ok": respond(200, "ok"), "/api": respond(500, {"error": EVIL})}) as server:
        yield server


# -- reading and rendering --------------------------------------------------------------


def test_load_status_reads_runs_incidents_silences_and_artifacts(tmp_path, target):
    seed(tmp_path)
    config = load_config(write_config(tmp_path, target.url))
    store = open_store(tmp_path / "monitor.db")
    try:
        statuses = load_status(store, config.checks, utcnow())
    finally:
        store.close()
    assert [(s.name, s.state) for s in statuses] == [
        ("api", "failing"), ("muted", "silenced"), ("ok", "never run"), ("quiet", "never run")]
    api = statuses[0]
    assert api.artifacts == ["api/run-1/screenshot.png", "api/run-1/trace.zip"]
    assert api.incident_since is not None and api.last_run["error_text"] == "older failure"
    assert statuses[1].silenced_until > utcnow()


def test_states_come_from_runs_and_silences(tmp_path, target):
    config = load_config(write_config(tmp_path, target.url))
    store = open_store(tmp_path / "monitor.db")
    try:
        for name, ok in (("api", False), ("ok", True), ("muted", False)):
            store.record(Result(check=name, type="http", location="l", target="t", started_at=utcnow(),
                                duration_ms=1.0, ok=ok))
        AlertStore(store.db).silence("muted", utcnow() + timedelta(hours=1), utcnow())
        statuses = {s.name: s.state for s in load_status(store, config.checks, utcnow())}
    finally:
        store.close()
    assert statuses == {"api": "failing", "ok": "passing", "muted": "silenced", "quiet": "never run"}


def test_everything_a_server_sent_is_escaped():
    run = {"ok": False, "started_at": (NOW - timedelta(seconds=75)).isoformat(), "status_code": 500,
           "duration_ms": 3.2, "failure": f"expected status 200, got 500: {EVIL}", "error_text": EVIL,
           "failing_step": "<img src=x onerror=alert(1)>", "target": 'http://x/"><script>alert(2)</script>'}
    page = render_status_page([CheckStatus("api", "http", "failing", run, artifacts=["a/<b>.zip"])],
                              now=NOW, location="<eu>", links=lambda p: [(p, f"/artifacts/{p}")])
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert html.escape(EVIL) in page
    assert "1m ago" in page and "&lt;eu&gt;" in page


# -- in a real browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if executable is None:
        pytest.fail("no Chromium: install Debian's chromium (scripts/setup does)")
    args = ["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
            "--disable-gpu"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox as root
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        yield browser
        browser.close()


@contextmanager
def screenshot_on_failure(page, name: str):
    try:
        yield
    except BaseException as exc:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        raise AssertionError(f"{exc}\n(screenshot: {path})") from exc


@pytest.mark.slow
@pytest.mark.browser
def test_status_page_in_chromium(tmp_path, target, chromium):
    seed(tmp_path)
    config = load_config(write_config(tmp_path, target.url))
    with ServiceThread(build_service(config)) as running:
        store = running.service.store
        wait_until(lambda: running.call(lambda: {"api", "ok", "muted"} <= set(store.latest_runs())
                                        and store.latest_runs()["api"]["error_text"] == EVIL), "live runs")
        context = chromium.new_context()
        page = context.new_page()
        with screenshot_on_failure(page, "status-page"):
            response = page.goto(running.url + "/")
            assert response.status == 200
            rows = page.locator("tbody tr")
            assert rows.evaluate_all("rows => rows.map(r => r.dataset.check)") == ["api", "muted", "ok", "quiet"]
            badges = {c: page.locator(f'tr[data-check="{c}"] .badge').inner_text() for c in ("api", "muted", "ok",
                                                                                               "quiet")}
            assert badges == {"api": "failing", "muted": "silenced", "ok": "passing", "quiet": "never run"}
            api = page.locator('tr[data-check="api"]')
            # The server's words, shown as text: the <script> is visible, and never ran.
            assert api.locator("pre.said").inner_text() == EVIL
            assert page.evaluate("() => [window.pwned, document.scripts.length]") == [None, 0]
            assert api.locator("b").count() == 0
            assert "incident open since" in api.inner_text()
            assert "silenced until" in page.locator('tr[data-check="muted"]').inner_text()
            assert page.locator('tr[data-check="api"] .badge').evaluate(
                "e => getComputedStyle(e).backgroundColor") == "rgb(253, 226, 225)"
            assert page.title() == "synthetic-monitor: 1 failing"
            links = api.locator("a")
            assert links.all_inner_texts() == ["screenshot.png", "trace.zip", "open in trace viewer"]
            trace = links.nth(1).get_attribute("href")
            assert context.request.get(running.url + trace).body() == b"PK\x03\x04 a trace"
            viewer = links.nth(2).get_attribute("href")
            assert viewer == "https://trace.playwright.dev/?trace=" + quote(
                f"{running.url}/artifacts/api/run-1/trace.zip", safe="")


@pytest.mark.slow
@pytest.mark.browser
def test_with_an_auth_token_the_browser_logs_in_with_the_token(tmp_path, target, chromium):
    seed(tmp_path)
    config = load_config(write_config(tmp_path, target.url, monitor=f'auth_token = "{TOKEN}"'))
    with ServiceThread(build_service(config)) as running:
        # Without credentials the browser is challenged (headless Chromium has no prompt to show).
        anonymous = chromium.new_context()
        assert anonymous.request.get(running.url + "/").status == 401
        anonymous.close()
        context = chromium.new_context(http_credentials={"username": "oncall", "password": TOKEN})
        page = context.new_page()
        with screenshot_on_failure(page, "status-page-logged-in"):
            assert page.goto(running.url + "/").status == 200
            assert page.locator('tr[data-check="api"] .badge').inner_text() == "failing"
            # The trace link is signed: it opens without the login, as the trace viewer needs.
            trace = page.locator('tr[data-check="api"] a', has_text="trace.zip").get_attribute("href")
            assert "?sig=" in trace
            assert httpx.get(running.url + trace).content == b"PK\x03\x04 a trace"
            assert httpx.get(running.url + trace.split("?")[0]).status_code == 401
