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
from monitor.app.status_page import (
    CheckStatus,
    HistoryReader,
    _percent,
    load_status,
    read_history,
    render_status_page,
)
from monitor.core.results import Result, utcnow
from monitor.core.store import write_transaction
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


def test_a_passing_check_whose_incident_is_still_open_is_recovering(tmp_path, target):
    seed(tmp_path)  # api: a failed run and an open incident
    config = load_config(write_config(tmp_path, target.url))
    store = open_store(tmp_path / "monitor.db")
    try:
        store.record(Result(check="api", type="http", location="l", target="t", started_at=utcnow(),
                            duration_ms=1.0, ok=True))
        states = {s.name: s.state for s in load_status(store, config.checks, utcnow())}
    finally:
        store.close()
    assert states["api"] == "recovering"


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


# -- uptime, recent runs, and text that wraps well ------------------------------------------------------------


def test_uptime_is_cut_never_rounded_up():
    assert [_percent(s) for s in (None, 1.0, 0.99996, 0.5, 0)] == ["-", "100%", "99.99%", "50.00%", "0.00%"]


def test_history_reads_uptime_per_window_and_the_latest_runs_oldest_first(tmp_path):
    store = open_store(tmp_path / "monitor.db")
    now = utcnow()
    ages = [timedelta(days=6)] * 2 + [timedelta(hours=30)] * 2 + [timedelta(hours=2)] * 3
    outcomes = [False, False, True, True, True, False, True]
    for age, ok in zip(ages, outcomes, strict=True):
        store.record(Result(check="api", type="http", location="l", target="http://x/", started_at=now - age,
                            duration_ms=5.0, ok=ok, status_code=200 if ok else 500,
                            failure=None if ok else "expected status 200, got 500"))
    store.record(Result(check="api", type="http", location="l", target="http://x/", started_at=now - timedelta(days=9),
                        duration_ms=5.0, ok=False))  # older than a week: in no window
    history = read_history(store, ["api", "never"], now)
    store.close()
    assert history["api"].uptime == {"24h": 2 / 3, "7d": 4 / 7}
    assert history["never"].uptime == {"24h": None, "7d": None} and history["never"].recent == []
    recent = history["api"].recent
    assert [r["ok"] for r in recent] == [False, False, False, True, True, True, False, True]  # oldest first
    assert recent[-2] == {**recent[-2], "ok": False, "status_code": 500, "failure": "expected status 200, got 500"}


def test_the_uptime_is_read_again_only_after_a_minute_and_the_strip_every_time(tmp_path):
    path = tmp_path / "monitor.db"
    store = open_store(path)

    def run(ok: bool) -> None:
        store.record(Result(check="api", type="http", location="l", target="t", started_at=utcnow(), duration_ms=1.0,
                            ok=ok))

    run(True)
    clock = [0.0]
    reader = HistoryReader(str(path), ttl=60.0, clock=lambda: clock[0])
    assert reader.read(["api"], utcnow())["api"].uptime["24h"] == 1.0
    run(False)
    again = reader.read(["api"], utcnow())["api"]
    assert again.uptime["24h"] == 1.0 and [r["ok"] for r in again.recent] == [True, False]
    clock[0] = 61.0
    assert reader.read(["api"], utcnow())["api"].uptime["24h"] == 0.5
    store.close()


def test_a_step_is_named_once_and_urls_break_only_after_their_slashes():
    run = {"ok": False, "started_at": NOW.isoformat(), "failing_step": "open New chat",
           "target": "http://127.0.0.1:8000/api/threads?x=1",
           "failure": "step 'open New chat': POST /api/threads answered 500"}
    page = render_status_page([CheckStatus("new-chat", "browser", "failing", run)], now=NOW, location="l")
    assert page.count("open New chat") == 1
    assert '<span class="host">http://127.0.0.1:8000</span><wbr>/<wbr>api/<wbr>threads?<wbr>x=1' in page


def test_a_host_port_target_never_breaks():
    run = {"ok": False, "started_at": NOW.isoformat(), "target": "mx1-eu-west.mail.example.com:25",
           "failure": "connection refused"}
    page = render_status_page([CheckStatus("mail", "tcp", "failing", run)], now=NOW, location="l")
    assert '<div class="target"><span class="host">mx1-eu-west.mail.example.com:25</span></div>' in page


NARROW_WORDS = """table => {
  const broken = [];
  const walker = document.createTreeWalker(table, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const word of node.data.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (lines.size > 1) broken.push(word[0]);
    }
  }
  return broken;
}"""


def seed_a_week(folder: Path) -> None:
    """A week of runs every 20 minutes for the README's checks, the journey hung for the last hour, an incident."""
    store = open_store(folder / "monitor.db")
    now = utcnow()
    plan = {"threads-api": ("http", "https://chat.example.com:8443/api/threads"),
            "health": ("http", "https://chat.example.com:8443/api/health"),
            "new-chat": ("browser", "https://chat.example.com:8443/"),
            "threads-graphql": ("http", "https://chat.example.com:8443/graphql")}
    with write_transaction(store.db):
        for step in range(7 * 72, 0, -1):
            at = now - timedelta(minutes=20 * step - 10)  # none near a window's edge
            for name, (kind, target) in plan.items():
                broken = (name == "threads-api" and step <= 3) or (name == "new-chat" and step in (1, 2, 200)) \
                    or (name == "threads-graphql" and step % 97 == 0)
                kept = [f"new-chat/{step}/{f}" for f in ("log.json", "screenshot.png", "trace.zip")] \
                    if name == "new-chat" and step == 1 else []
                failure, said, browser, failing_step = None, None, None, None
                if broken and name == "threads-api":
                    failure, said = "expected status 200, got 500", "no such table: threads"
                elif broken and name == "new-chat":
                    failing_step = "expect li.thread visible"
                    failure = ("step 'expect li.thread visible': POST /api/threads: no response after 7s; li.thread "
                               "was not visible within 5s")
                    browser = "Locator expected to be visible Actual value: None Error: element(s) not found"
                elif broken:
                    failure = "the GraphQL response has 1 error (the first at threads)"
                    said = "Cannot return null for non-nullable field Query.threads."
                store.record(Result(check=name, type=kind, location="eu-west", target=target, started_at=at,
                                    duration_ms=1800.0 if kind == "browser" else 42.0, ok=not broken,
                                    status_code=500 if said == "no such table: threads" else 200,
                                    method="GET", failure=failure, error_text=said, browser_said=browser,
                                    failing_step=failing_step, artifacts=kept))
    for check, minutes in (("threads-api", 40), ("new-chat", 30)):
        opened = (now - timedelta(minutes=minutes)).isoformat()
        store.db["incidents"].insert({"check_name": check, "opened_at": opened, "first_failure_at": opened,
                                      "last_failure_at": opened})
    store.close()


@pytest.mark.slow
@pytest.mark.browser
def test_the_status_page_breaks_no_word_and_is_the_readmes_screenshot(tmp_path, chromium):
    """At a narrow width no word (`since`, a host and port) is split over two lines; at a normal one the page is
    photographed for the README (written to docs/status-page.png with UPDATE_DOCS=1)."""
    seed_a_week(tmp_path)
    names = ("threads-api", "health", "new-chat", "threads-graphql")
    (tmp_path / "config.toml").write_text(
        '[monitor]\ndatabase = "monitor.db"\nlisten = "127.0.0.1:0"\nlocation = "eu-west"\n'
        + "".join(f'[[checks]]\nname = "{n}"\nurl = "http://127.0.0.1:9/{n}"\ncron = "0 0 1 1 *"\n' for n in names))
    config = load_config(tmp_path / "config.toml")
    with ServiceThread(build_service(config)) as running:
        page = chromium.new_page(viewport={"width": 640, "height": 900})
        with screenshot_on_failure(page, "status-page-narrow"):
            assert page.goto(running.url + "/").status == 200
            assert page.locator("table").evaluate(NARROW_WORDS) == []
            api = page.locator('tr[data-check="threads-api"]')
            assert "incident open since 40m ago" in api.inner_text()
            assert api.locator(".uptime").all_inner_texts() == ["95.83% 24h", "99.40% 7d"]  # 69/72, 501/504
            assert api.locator(".runs i").count() == 30 and api.locator(".runs i.fail").count() == 3
            assert "no such table: threads" in api.locator(".runs i.fail").last.get_attribute("title")
            journey = page.locator('tr[data-check="new-chat"]')
            assert journey.inner_text().count("expect li.thread visible") == 1  # the step, named once
            assert "browser said: Locator expected to be visible" in journey.inner_text()
            assert page.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.check)") == [
                "threads-api", "new-chat", "health", "threads-graphql"]
        page.set_viewport_size({"width": 1100, "height": 200})  # the full page's own height, nothing below
        shot = RESULTS / "status-page.png"
        RESULTS.mkdir(exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        page.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("UPDATE_DOCS"):
        shutil.copy(shot, ROOT / "docs" / "status-page.png")


def test_the_readme_shows_the_status_page_screenshot():
    picture = ROOT / "docs" / "status-page.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size < 200_000  # small: it lives in the repository
    assert "](docs/status-page.png)" in (ROOT / "README.md").read_text()
