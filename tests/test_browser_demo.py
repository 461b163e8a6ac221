"""The incident, in a real browser: `monitor check new-chat` against the broken demo, then migrated.

Uses the shipped demo/monitor.toml (copied, so its relative paths land in a
temporary folder) and opens the kept trace with Playwright's own viewer.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from demo.app import start_server
from monitor.app.cli import main

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo(tmp_path, monkeypatch):
    """The broken demo app, and a copy of demo/monitor.toml pointing at it."""
    shutil.copytree(ROOT / "demo" / "journeys", tmp_path / "demo" / "journeys")
    shutil.copy(ROOT / "demo" / "monitor.toml", tmp_path / "demo" / "monitor.toml")
    server, url = start_server(db_path=tmp_path / "demo.db", broken=True)
    monkeypatch.setenv("TARGET_URL", url)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    yield server, tmp_path / "demo" / "monitor.toml", tmp_path / ".demo" / "artifacts"
    server.shutdown()


def cli(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def trace_events(trace: Path, name: str) -> list[dict]:
    with zipfile.ZipFile(trace) as z:
        return [json.loads(line) for line in z.read(name).decode().splitlines() if line.strip()]


def test_check_new_chat_fails_at_the_click_with_the_databases_words_then_passes_after_migrate(demo, capsys):
    server, config, artifacts = demo
    code, out = cli(capsys, "check", "new-chat", "-c", str(config), "--json")
    assert code == 1
    [result] = json.loads(out)
    assert result["failing_step"] == "open New chat"
    assert result["failure"] == "step 'open New chat': POST /api/threads answered 500"
    assert result["error_text"] == "no such table: threads"
    run_dir = artifacts / "new-chat" / str(result["run_id"])
    assert sorted(result["artifacts"]) == [f"new-chat/{result['run_id']}/{f}"
                                           for f in ("log.json", "screenshot.png", "trace.zip")]

    # The trace holds the click, the failing request and screenshots: what the viewer shows.
    trace = run_dir / "trace.zip"
    events = trace_events(trace, "trace.trace")
    clicks = [e for e in events if e.get("type") == "before" and e.get("method") == "click"]
    assert clicks and "New chat" in clicks[0]["params"]["selector"]
    assert any(e.get("type") == "before" and e.get("title") == "open New chat" for e in events)
    frames = [e["file"] for e in events if e.get("type") == "screencast-frame"]
    network = [e["snapshot"] for e in trace_events(trace, "trace.network") if e.get("type") == "resource-snapshot"]
    assert any(s["request"]["method"] == "POST" and s["request"]["url"].endswith("/api/threads")
               and s["response"]["status"] == 500 for s in network)
    with zipfile.ZipFile(trace) as z:
        assert frames and set(frames) <= set(z.namelist())
        assert z.read(frames[-1])[:2] == b"\xff\xd8"  # JPEG
    assert (run_dir / "screenshot.png").read_bytes()[:4] == b"\x89PNG"

    # `history` shows the steps and the artifacts of the failed run.
    code, out = cli(capsys, "history", "new-chat", "-c", str(config))
    assert "✗ open New chat" in out and "server said: no such table: threads" in out
    assert f"artifact: new-chat/{result['run_id']}/trace.zip" in out

    server.database.migrate()
    kept_before = sorted(artifacts.rglob("*"))
    code, out = cli(capsys, "check", "new-chat", "new-chat-script", "-c", str(config))
    assert code == 0, out
    assert "✓ open New chat" in out and "✓ see the new thread" in out
    assert sorted(artifacts.rglob("*")) == kept_before  # passing runs keep no trace


def test_replay_prints_steps_live_and_run_shows_the_stored_run(demo, capsys):
    server, config, artifacts = demo
    code, out = cli(capsys, "replay", "new-chat", "-c", str(config))
    assert code == 1
    assert re.search(r"✗ open New chat  [\d.]+m?s  POST /api/threads answered 500", out)
    assert "! POST" in out and "-> 500: no such table: threads" in out
    run_id = int(re.search(r"stored as run (\d+)", out).group(1))

    code, out = cli(capsys, "replay", "new-chat", "-c", str(config), "--run", str(run_id))
    assert code == 0
    assert "server said: no such table: threads" in out
    trace = artifacts / "new-chat" / str(run_id) / "trace.zip"
    assert f"show-trace --host 127.0.0.1 --port 9322 {trace.resolve()}" in out  # no display: the command

    assert main(["replay", "new-chat", "-c", str(config), "--headed"]) == 2
    assert "--headed needs a display" in capsys.readouterr().err
    assert main(["replay", "new-chat", "-c", str(config), "--run", "999"]) == 2
    # An HTTP check replays too: its request sent again, both sides shown (it used to exit 2).
    code, out = cli(capsys, "replay", "threads-api", "-c", str(config))
    assert code == 1 and "< HTTP/1.0 500 Internal Server Error" in out  # the demo app speaks HTTP/1.0


def test_playwrights_trace_viewer_opens_the_kept_trace(demo, capsys):
    server, config, artifacts = demo
    code, out = cli(capsys, "check", "new-chat", "-c", str(config), "--json")
    trace = (artifacts / json.loads(out)[0]["artifacts"][0]).parent / "trace.zip"
    viewer = subprocess.Popen(
        [str(Path(sys.executable).parent / "playwright"), "show-trace", "--host", "127.0.0.1", "--port", "0",
         str(trace)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "BROWSER": "true"})
    try:
        line = ""
        while "Listening on" not in line:
            line = viewer.stdout.readline()
            assert line, "the trace viewer exited before listening"
        url = re.search(r"http://\S+", line).group(0)
        # A synchronous test on purpose: `monitor check` above runs its own event loop (asyncio.run), which
        # cannot start inside a test's running loop; only this last look at the viewer needs one.
        asyncio.run(_viewer_lists_the_steps(url))
    finally:
        os.killpg(viewer.pid, signal.SIGTERM)
        viewer.wait(10)


async def _viewer_lists_the_steps(url: str) -> None:
    from playwright.async_api import expect

    from probes.browser.runtime import BrowserRuntime
    from probes.browser.settings import BrowserSettings

    runtime = BrowserRuntime(BrowserSettings())
    try:
        context = await runtime.new_context()
        page = await context.new_page()
        await page.goto(url)
        # The viewer lists the journey's steps as actions, and the requests it captured.
        await expect(page.get_by_role("treeitem", name=re.compile("open New chat"))).to_be_visible(timeout=20_000)
        await expect(page.get_by_role("tab", name=re.compile(r"Network [1-9]"))).to_be_visible()
    finally:
        await runtime.close()


@pytest.fixture
def display():
    """A virtual X display (Xvfb, from `scripts/setup --test`), as an engineer's desktop would have."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (scripts/setup --test installs it)")
    ready, told = os.pipe()
    # -displayfd: Xvfb picks a free display and writes its number once it accepts clients.
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(told), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(told,), stderr=subprocess.DEVNULL)
    os.close(told)
    try:
        if not select.select([ready], [], [], 15)[0]:
            raise TimeoutError("Xvfb did not start within 15s")
        number = os.read(ready, 16).decode().strip()
        assert number.isdigit(), f"Xvfb said {number!r}"
        yield f":{number}"
    finally:
        os.close(ready)
        xvfb.terminate()
        try:
            xvfb.wait(10)
        except subprocess.TimeoutExpired:
            xvfb.kill()
            xvfb.wait()


def user_agents(trace: Path) -> set[str]:
    return {h["value"] for e in trace_events(trace, "trace.network") if e.get("type") == "resource-snapshot"
            for h in e["snapshot"]["request"]["headers"] if h["name"].lower() == "user-agent"}


def test_replay_headed_drives_a_visible_browser_on_the_display(demo, display, monkeypatch, capsys):
    server, config, artifacts = demo
    code, out = cli(capsys, "replay", "new-chat", "-c", str(config))
    headless_run = int(re.search(r"stored as run (\d+)", out).group(1))
    monkeypatch.setenv("DISPLAY", display)
    code, out = cli(capsys, "replay", "new-chat", "-c", str(config), "--headed", "--slow-mo", "20")
    assert code == 1
    assert re.search(r"✗ open New chat  [\d.]+m?s  POST /api/threads answered 500", out)
    assert "server said: no such table: threads" in out
    headed_run = int(re.search(r"stored as run (\d+)", out).group(1))
    # Headless Chromium says so in every request; the window on the display does not.
    assert all("HeadlessChrome" in ua for ua in user_agents(artifacts / "new-chat" / str(headless_run) / "trace.zip"))
    headed = user_agents(artifacts / "new-chat" / str(headed_run) / "trace.zip")
    assert headed and not any("HeadlessChrome" in ua for ua in headed)
