"""Browser journeys against real headless Chromium and loopback pages that misbehave on purpose."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import threading
import time
import uuid
import zipfile

import pytest

from tests.browser_harness import journey
from tests.polling import eventually
from tests.servers import TargetServer, closed_port, respond, send

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SILENT_PAGE = """<!doctype html><title>app</title>
<button id="go">Save</button><p id="state">idle</p>
<script>
document.getElementById("go").addEventListener("click", async () => {
  const r = await fetch("/api/save", {method: "POST", body: "{}"});
  if (!r.ok) return;  // the silent failure
  document.getElementById("state").textContent = "saved";
});
</script>"""

NOISY_PAGE = """<!doctype html><p>hi</p>
<script>console.error("widget exploded"); setTimeout(() => { throw new Error("kaboom"); }, 0);</script>"""


def silent_server(status=500, body=None):
    body = body if body is not None else {"error": "disk full on db-3"}
    return TargetServer({"/": respond(200, SILENT_PAGE, "text/html"), "/api/save": respond(status, body)})


def files_of(harness, check_name):
    folder = harness.artifacts_dir / check_name
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_silent_5xx_fails_the_click_with_the_servers_words(harness):
    with silent_server() as server:
        result = harness.run(journey(server.url + "/", '{ name = "save", click = "#go" }', name="silent"))
    assert not result.ok
    assert result.failure == "step 'save': POST /api/save answered 500"
    assert result.error_text == "disk full on db-3"
    assert result.failing_step == "save"
    assert [(s.name, s.ok) for s in result.steps] == [(f"open {server.url}/", True), ("save", False)]
    assert result.details["network"][0] == {
        "method": "POST", "url": f"{server.url}/api/save", "type": "fetch", "status": 500, "failure": None,
        "error_text": "disk full on db-3", "duration_ms": result.details["network"][0]["duration_ms"],
        "step": "save"}
    names = sorted(os.path.basename(p) for p in result.artifacts)
    assert names == ["log.json", "screenshot.png", "trace.zip"]
    folder = harness.artifacts_dir / os.path.dirname(result.artifacts[0])
    assert (folder / "screenshot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert zipfile.ZipFile(folder / "trace.zip").testzip() is None
    log = json.loads((folder / "log.json").read_text())
    assert {(e["method"], e["status"]) for e in log["network"]} >= {("GET", 200), ("POST", 500)}
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in folder.iterdir())


def test_http_errors_are_recorded_but_do_not_fail_when_switched_off(harness):
    with silent_server() as server:
        result = harness.run(journey(server.url + "/", '{ click = "#go" }', name="lenient",
                                     extra="fail_on_http_errors = false"))
    assert result.ok, result.failure
    assert result.details["network"][0]["error_text"] == "disk full on db-3"
    assert files_of(harness, "lenient") == []  # passing runs keep nothing


def test_secrets_are_redacted_from_error_text_and_the_log(harness):
    secret = "db-password-" + uuid.uuid4().hex[:8]
    with silent_server(body={"error": f"login failed for app:{secret}"}) as server:
        result = harness.run(journey(server.url + "/", '{ click = "#go" }', name="secretive"),
                             secrets={secret})
    assert "[REDACTED]" in result.error_text and secret not in result.error_text
    folder = harness.artifacts_dir / os.path.dirname(result.artifacts[0])
    assert secret not in (folder / "log.json").read_text()


def test_console_and_page_errors_are_recorded_and_fail_only_when_asked(harness):
    with TargetServer({"/": respond(200, NOISY_PAGE, "text/html")}) as server:
        steps = '{ expect_text = "hi" }'
        lenient = harness.run(journey(server.url + "/", steps, name="noisy"))
        strict = harness.run(journey(server.url + "/", steps, name="noisy-strict",
                                     extra="fail_on_console_errors = true"))
    assert lenient.ok, lenient.failure
    assert [m["text"] for m in lenient.details["console"]] == ["widget exploded"]
    assert "kaboom" in lenient.details["page_errors"][0]["text"]
    assert not strict.ok
    assert strict.failure == "step 'expect the page to contain 'hi'': console error: widget exploded"
    assert strict.error_text is None  # no server said anything
    assert strict.browser_said.startswith("page error: ") and "kaboom" in strict.browser_said


def test_a_step_timeout_names_the_step_and_what_it_waited_for(harness):
    with TargetServer({"/": respond(200, "<p>hi</p>", "text/html")}) as server:
        t0 = time.monotonic()
        result = harness.run(journey(server.url + "/", '{ expect_visible = "#never", timeout = "500ms" }'))
    assert result.failure == "step 'expect #never visible': #never was not visible within 500ms"
    assert result.error_text is None  # Playwright's own words are not the server's...
    assert "visible" in result.browser_said  # ...they go apart
    assert time.monotonic() - t0 < 8


NEW_CHAT_PAGE = """<!doctype html><title>chat</title><button id="new">New chat</button><ul id="threads"></ul>
<script>
document.getElementById("new").addEventListener("click", async () => {
  const r = await fetch(API, {method: "POST", body: "{}"});
  const li = document.createElement("li");
  li.className = "thread";
  li.textContent = "new thread";
  document.getElementById("threads").appendChild(li);
});
</script>"""
NEW_CHAT_STEPS = """{ name = "open New chat", click = "#new" },
{ expect_visible = "li.thread", timeout = "1s" },"""


def test_a_hung_api_call_is_named_first_and_playwrights_words_are_not_the_servers(harness):
    release = threading.Event()

    def hang(handler):
        release.wait(20)
        send(handler, 201, b"{}")

    page = NEW_CHAT_PAGE.replace("API", '"/api/threads"')
    with TargetServer({"/": respond(200, page, "text/html"), "/api/threads": hang}) as server:
        result = harness.run(journey(server.url + "/", NEW_CHAT_STEPS, name="hung"))
        release.set()
    assert not result.ok
    # The cause first (the click sent it; the settle and the expectation waited about 1-3 s), then the symptom.
    assert re.fullmatch(r"step 'expect li\.thread visible': POST /api/threads: no response after \d+s; "
                        r"li\.thread was not visible within 1s", result.failure), result.failure
    assert result.failing_step == "expect li.thread visible"
    assert result.error_text is None  # no server said a word
    assert "visible" in result.browser_said and "Timeout" not in (result.error_text or "")


def test_a_hung_api_call_is_named_first_in_a_python_journey_too(harness, tmp_path):
    (tmp_path / "new_chat.py").write_text(
        "async def run(page, step, expect):\n"
        "    async with step('open New chat'):\n"
        "        await page.click('#new')\n"
        "    async with step('see the new thread', timeout='1s'):\n"
        "        await expect(page.locator('li.thread').first).to_be_visible()\n")
    release = threading.Event()
    page = NEW_CHAT_PAGE.replace("API", '"/api/threads"')
    with TargetServer({"/": respond(200, page, "text/html"), "/api/threads": lambda h: release.wait(20)}) as server:
        result = harness.run(journey(server.url + "/", name="hung-script", extra='script = "new_chat.py"',
                                     folder=tmp_path))
        release.set()
    assert result.failing_step == "see the new thread"
    assert re.match(r"step 'see the new thread': POST /api/threads: no response after \d+s; ", result.failure), \
        result.failure
    assert result.error_text is None


def test_a_fetch_that_got_no_answer_is_the_browsers_word_not_the_servers(harness):
    page = NEW_CHAT_PAGE.replace("API", f'"http://127.0.0.1:{closed_port()}/api/threads"')
    with TargetServer({"/": respond(200, page, "text/html")}) as server:
        result = harness.run(journey(server.url + "/", NEW_CHAT_STEPS, name="refused"))
    assert not result.ok
    assert result.failure.startswith("step 'open New chat': POST http://127.0.0.1:")
    assert result.failure.endswith("/api/threads failed: net::ERR_CONNECTION_REFUSED")
    assert result.error_text is None
    assert "Failed to fetch" in result.browser_said  # the page's own rejection, labelled as the browser's


def test_a_page_that_never_loads_fails_at_the_journey_timeout(harness):
    release = threading.Event()
    with TargetServer({"/": lambda h: release.wait(20)}) as server:
        t0 = time.monotonic()
        result = harness.run(journey(server.url + "/", timeout="2s"))
        elapsed = time.monotonic() - t0
        release.set()
    assert not result.ok
    assert result.failure == f"step 'open {server.url}/': GET /: no response after 2s; the journey timed out after 2s"
    assert result.duration_ms < 5000
    assert elapsed < 8  # keeping the evidence of a stuck page is bounded too


def test_expect_response_checks_the_status_of_the_request_a_click_made(harness):
    with silent_server() as server:
        result = harness.run(journey(server.url + "/", """
            { click = "#go" },
            { expect_response = { url = "**/api/save", method = "POST", status = 201 } },
        """, extra="fail_on_http_errors = false"))
    assert result.failure == "step 'expect response POST **/api/save -> 201': POST /api/save answered 500, " \
                             "expected 201"
    assert result.error_text == "disk full on db-3"


def test_a_python_journey_gets_the_same_steps_capture_and_failure(harness, tmp_path):
    script = tmp_path / "journey.py"
    script.write_text(
        "async def run(page, step, expect):\n"
        "    async with step('save', timeout='3s'):\n"
        "        await page.click('#go')\n"
        "    async with step('never reached'):\n"
        "        raise AssertionError('unreachable')\n")
    plain = tmp_path / "plain.py"
    plain.write_text("async def run(page):\n    await page.click('#go')\n")
    with silent_server() as server:
        stepped = harness.run(journey(server.url + "/", name="scripted", folder=tmp_path,
                                      extra='script = "journey.py"'))
        whole = harness.run(journey(server.url + "/", name="plain", folder=tmp_path, extra='script = "plain.py"'))
    assert stepped.failure == "step 'save': POST /api/save answered 500"
    assert [s.name for s in stepped.steps] == [f"open {server.url}/", "save"]
    assert stepped.error_text == "disk full on db-3"
    assert whole.failure == "step 'run plain.py': POST /api/save answered 500"


def test_replay_keeps_the_trace_of_a_passing_run(harness):
    with TargetServer({"/": respond(200, "<p>hi</p>", "text/html")}) as server:
        result = harness.run(journey(server.url + "/", '{ expect_text = "hi" }', name="kept"), keep="always")
    assert result.ok
    assert files_of(harness, "kept") == ["log.json", "screenshot.png", "trace.zip"]


def test_parallel_journeys_share_no_cookies(harness):
    both_arrived = threading.Barrier(2, timeout=10)

    def visit(h):
        cookie = h.headers.get("Cookie")
        if cookie is None:
            both_arrived.wait()  # the two journeys are on their first page at the same time
            send(h, 200, b"<p>new visitor</p>", "text/html",
                 headers={"Set-Cookie": f"sid={uuid.uuid4().hex}; Path=/"})
        else:
            send(h, 200, f"<p>returning {cookie}</p>".encode(), "text/html")

    with TargetServer({"/": visit}) as server:
        check = journey(server.url + "/", """
            { expect_text = "new visitor" },
            { goto = "/" },
            { expect_text = "returning sid=" },
        """, name="cookies")
        results = harness.gather(harness.probe().run(check), harness.probe().run(check))
        sent = [headers.get("Cookie") for _, path, headers in server.requests if headers.get("Cookie")]
    assert all(r.ok for r in results), [r.failure for r in results]
    assert len(sent) == 2 and len(set(sent)) == 2  # each journey sent only its own cookie


def test_a_killed_browser_fails_that_run_and_the_next_run_relaunches_it(harness):
    entered, release = threading.Event(), threading.Event()

    def hang(h):
        entered.set()
        release.wait(20)

    with TargetServer({"/hang": hang, "/": respond(200, "<p>hi</p>", "text/html")}) as server:
        async def kill_mid_run():
            run = asyncio.ensure_future(harness.probe().run(journey(server.url + "/hang", timeout="15s")))
            await eventually(entered.is_set, "the journey to reach the page", timeout=10)
            pids = harness.runtime.main_pids()
            assert pids
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            return await run

        restarts = harness.telemetry.restarts
        t0 = time.monotonic()
        crashed = harness.loop.run_until_complete(kill_mid_run())
        release.set()
        assert time.monotonic() - t0 < 12
        after = harness.run(journey(server.url + "/", '{ expect_text = "hi" }'))
    assert not crashed.ok
    assert "browser crashed" in crashed.failure
    assert after.ok, after.failure
    assert harness.telemetry.restarts == restarts + 1


async def test_no_browser_is_one_clear_failure(tmp_path):
    from probes.base import ProbeContext
    from probes.browser.probe import BrowserProbe
    from probes.browser.runtime import BrowserRuntime
    from probes.browser.settings import BrowserSettings

    runtime = BrowserRuntime(BrowserSettings(executable_path=str(tmp_path / "no-chrome")))
    probe = BrowserProbe(ProbeContext(artifacts_dir=tmp_path), runtime)
    try:
        result = await probe.run(journey("http://127.0.0.1:9/"))
    finally:
        await probe.close()
    assert not result.ok
    assert result.failure.startswith(f"[browser] executable_path '{tmp_path / 'no-chrome'}' does not exist")
    assert "playwright install chromium" in result.failure and "apt-get install chromium" in result.failure


@pytest.fixture
def trace_mode(harness):
    """Set the shared runtime's `[browser] trace` for one test."""
    from dataclasses import replace

    kept = harness.runtime.settings

    def set_mode(mode: str) -> None:
        harness.runtime.settings = replace(kept, trace=mode)

    yield set_mode
    harness.runtime.settings = kept


def test_trace_off_keeps_the_screenshot_and_log_of_a_failing_run_but_records_no_trace(harness, trace_mode):
    trace_mode("off")
    with silent_server() as server:
        result = harness.run(journey(server.url + "/", '{ name = "save", click = "#go" }', name="untraced"))
    assert result.failure == "step 'save': POST /api/save answered 500"
    assert result.error_text == "disk full on db-3"
    assert files_of(harness, "untraced") == ["log.json", "screenshot.png"]


def test_on_first_retry_records_the_trace_of_the_retry_only(harness, trace_mode, tmp_path):
    from monitor.app.config import parse_config
    from monitor.app.runner import Prober

    trace_mode("on-first-retry")
    with silent_server() as server:
        text = (f'[monitor]\nartifacts_dir = "{harness.artifacts_dir}"\n'
                f'[[checks]]\nname = "NAME"\ntype = "browser"\nurl = "{server.url}/"\nretries = RETRIES\n'
                'steps = [{ name = "save", click = "#go" }]\n')
        for name, retries in (("first-try-only", 0), ("retried", 1)):
            config = parse_config(text.replace("NAME", name).replace("RETRIES", str(retries)),
                                  path=tmp_path / "config.toml", env={})
            prober = Prober(config, probes={"browser": harness.probe()})
            result = harness.loop.run_until_complete(prober.probe(config.checks[0]))
            assert result.failure == "step 'save': POST /api/save answered 500", name
    # No retry, no trace: the failing run keeps its screenshot and log. The retry recorded one, and it is the run's.
    assert files_of(harness, "first-try-only") == ["log.json", "screenshot.png"]
    assert files_of(harness, "retried") == ["log.json", "screenshot.png", "trace.zip"]
    assert sorted(os.path.basename(p) for p in result.artifacts) == ["log.json", "screenshot.png", "trace.zip"]


VIEW_THEN_FETCH_PAGE = """<!doctype html><title>app</title>
<button id="go">New chat</button><ul id="threads"></ul>
<script>
document.getElementById("go").addEventListener("click", () => setTimeout(() => {
  document.getElementById("threads").innerHTML = '<li class="thread">New chat</li>';
  // As a view's effect does: what it shows is fetched once it has rendered.
  setTimeout(() => fetch("/api/messages").then(r => r.json()), 30);
}, 200));
</script>"""


def test_a_fetch_the_view_starts_after_the_last_assertion_passed_still_fails_the_run(harness):
    server = TargetServer({"/": respond(200, VIEW_THEN_FETCH_PAGE, "text/html"),
                           "/api/messages": respond(500, {"error": 'relation "messages" does not exist'})})
    with server:
        result = harness.run(journey(server.url + "/", '{ name = "new chat", click = "#go" }, '
                                                       '{ name = "see it", expect_visible = "li.thread" }',
                                     name="view-then-fetch"))
    assert not result.ok
    assert result.failure == "step 'see it': GET /api/messages answered 500"
    assert result.error_text == 'relation "messages" does not exist'
