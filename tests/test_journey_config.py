"""Browser checks in config.toml, and the pure parts of journeys: no browser needed."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from monitor.app.artifact_claim import claim_artifacts, final_paths
from monitor.app.config import parse_config
from monitor.core.config import ConfigError
from probes.browser.capture import (
    NetworkEntry,
    choose_browser_said,
    choose_error_text,
    describe_entry,
    describe_stuck,
    http_problems,
    most_related,
    stuck_request,
)
from probes.browser.runtime import BrowserNotFound, find_browser, not_found_message
from probes.browser.settings import ResponseMatch, Step
from probes.browser.steps import glob_to_regex


def config_with_steps(steps: str, extra: str = "", path="/etc/monitor/config.toml"):
    text = textwrap.dedent(f"""
        [[checks]]
        name = "new-chat"
        type = "browser"
        url = "http://127.0.0.1:8000/"
        steps = [
        {steps}
        ]
        {extra}
    """)
    return parse_config(text, path=path, env={})


def step_errors(steps: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_with_steps(steps)
    return [f"{i.path}: {i.message}" for i in caught.value.issues]


def test_the_issue_example_reads_into_steps_with_readable_names():
    check = config_with_steps("""
      { name = "open New chat", click = "role=button[name='New chat']" },
      { expect_visible = "li.thread", timeout = "5s" },
      { fill = { selector = "#title", value = "hello" } },
      { press = "Enter" },
      { expect_text = { selector = "h1", text = "Chats" } },
      { expect_response = { url = "**/api/threads", status = 201, method = "post" } },
      { goto = "/settings" },
      { wait = "500ms" },
    """).check("new-chat")
    opts = check.settings
    assert [s.name for s in opts.steps] == [
        "open New chat", "expect li.thread visible", "fill #title", "press Enter",
        "expect h1 to contain 'Chats'", "expect response POST **/api/threads -> 201", "go to /settings",
        "wait 500ms"]
    assert opts.steps[0] == Step("click", "open New chat", selector="role=button[name='New chat']")
    assert opts.steps[1].timeout == 5
    assert opts.steps[5].response == ResponseMatch("**/api/threads", 201, "POST")
    assert opts.steps[7].seconds == 0.5
    assert opts.fail_on_http_errors is True and opts.fail_on_console_errors is False


STEP = 'checks["new-chat"].steps[0]'


@pytest.mark.parametrize("steps, expected", [
    ("{ clik = 'text=New chat' }", STEP + ".clik: unknown step key; did you mean 'click'?"),
    ("{ click = 'a', fill = { selector = 'b', value = 'c' } }",
     STEP + ": has 2 actions (click, fill); a step does one thing"),
    ("{ }", STEP + ": is an empty step; give it one action: goto, click, fill"),
    ("{ name = 'x' }", STEP + ": needs one action: goto, click"),
    ("{ click = '  ' }", STEP + ".click: must not be empty: give a selector"),
    ("{ click = 3 }", STEP + ".click: must be a selector string"),
    ("{ expect_visible = '' }", STEP + ".expect_visible: must not be empty"),
    ("{ fill = '#title' }", STEP + ".fill: must be a table: fill = { selector"),
    ("{ fill = { selector = '#t' } }", STEP + ".fill.value: is required"),
    ("{ fill = { selector = '', value = 'x' } }", STEP + ".fill.selector: must not be empty"),
    ("{ fill = { selecter = '#t', value = 'x' } }",
     STEP + ".fill.selecter: unknown key; did you mean 'selector'?"),
    ("{ wait = '5' }", STEP + ".wait: expected a duration"),
    ("{ click = 'a', timeout = 'soon' }", STEP + ".timeout: expected a duration"),
    ("{ click = 'a', timeout = '0s' }", STEP + ".timeout: must be longer than zero"),
    ("{ expect_response = { status = 201 } }", STEP + ".expect_response.url: is required"),
    ("{ expect_response = { url = '**/x', status = 700 } }",
     STEP + ".expect_response.status: must be between 100 and 599"),
    ("{ expect_response = { url = '**/x', method = 'FETCH' } }",
     STEP + ".expect_response.method: must be an HTTP method"),
    ("{ press = '' }", STEP + ".press: must name a key"),
    ("{ goto = '' }", STEP + ".goto: must not be empty"),
    ("{ click = 'a', name = '' }", STEP + ".name: must not be empty"),
    ("'click #a'", STEP + ": must be a table"),
])
def test_every_step_mistake_names_the_step_and_the_fix(steps, expected):
    errors = step_errors(steps)
    assert any(e.startswith(expected) for e in errors), errors


def test_every_mistake_is_reported_at_once():
    assert len(step_errors("{ clik = 'a' }, { click = '' }, { wait = 'x' }")) == 3


def test_steps_and_script_exclude_each_other_and_scripts_must_exist(tmp_path):
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "ok.py").write_text("async def run(page):\n    pass\n")
    (tmp_path / "journeys" / "sync.py").write_text("def run(page):\n    pass\n")
    (tmp_path / "journeys" / "bad.py").write_text("async def run(page:\n")
    config = tmp_path / "config.toml"

    def errors(line: str) -> list[str]:
        text = f'[[checks]]\nname = "j"\ntype = "browser"\nurl = "http://x/"\n{line}\n'
        try:
            parse_config(text, path=config, env={})
        except ConfigError as exc:
            return [f"{i.path}: {i.message}" for i in exc.issues]
        return []

    assert errors('script = "journeys/ok.py"') == []
    assert parse_config('[[checks]]\nname = "j"\ntype = "browser"\nurl = "http://x/"\nscript = "journeys/ok.py"',
                        path=config, env={}).check("j").settings.script == tmp_path / "journeys" / "ok.py"
    assert "does not exist (script paths are relative to the config file)" in errors('script = "nope.py"')[0]
    assert "must define `async def run(page, ...)`" in errors('script = "journeys/sync.py"')[0]
    assert "is not valid Python" in errors('script = "journeys/bad.py"')[0]
    assert errors('script = "journeys/ok.py"\nsteps = [{ click = "a" }]') == [
        'checks["j"].script: set either steps or script, not both']
    assert "unknown key; did you mean 'fail_on_http_errors'?" in errors("fail_on_http_error = false")[0]


def test_a_typed_password_becomes_a_secret():
    config = config_with_steps("{ fill = { selector = \"input[type=password]\", value = \"hunter2-long\" } }")
    assert "hunter2-long" in config.secrets


def test_the_demo_and_top_level_configs_validate():
    root = Path(__file__).resolve().parent.parent
    from monitor.app.config import load_config

    for path in (root / "config.toml", root / "demo" / "monitor.toml"):
        checks = {c.name: c for c in load_config(path, env={}).checks}
        assert checks["new-chat"].type == "browser"
    demo = {c.name: c for c in load_config(root / "demo" / "monitor.toml", env={}).checks}
    assert demo["new-chat"].interval == 5
    assert demo["new-chat-script"].settings.script.name == "new_chat.py"


# -- browser discovery --

def test_browser_discovery_order():
    which = {"chromium-browser": "/usr/bin/chromium-browser", "google-chrome": "/opt/chrome"}.get
    assert find_browser(None, None, which) == "/usr/bin/chromium-browser"
    assert find_browser(None, "/nonexistent/playwright/chrome", which) == "/usr/bin/chromium-browser"
    assert find_browser("/bin/sh", None, which) == "/bin/sh"  # configured wins
    assert find_browser(None, "/bin/sh", which) == "/bin/sh"  # then Playwright's own


def test_no_browser_found_says_the_three_ways_to_fix_it():
    with pytest.raises(BrowserNotFound) as caught:
        find_browser(None, "/nonexistent/chrome", lambda name: None)
    message = str(caught.value)
    assert message.startswith("no Chromium found")
    assert "[browser] executable_path" in message
    assert "playwright install chromium" in message
    assert "apt-get install chromium" in message
    with pytest.raises(BrowserNotFound, match="'/opt/none/chrome' does not exist"):
        find_browser("/opt/none/chrome", "/bin/sh", lambda name: "/usr/bin/chromium")
    assert "chromium, chromium-browser, google-chrome" in not_found_message()


# -- which request explains a failure --

def entry(method, path, status=None, step=0, kind="fetch", words=None, failure=None, started=0.0):
    return NetworkEntry(method, f"http://app{path}", kind, step, started, status=status, failure=failure,
                        error_text=words)


def test_the_request_sent_during_the_failing_step_explains_it():
    on_load = entry("GET", "/api/threads", 500, step=0, words="no such table: threads", started=1)
    on_click = entry("POST", "/api/threads", 500, step=1, words="insert failed: no such table", started=2)
    image = entry("GET", "/logo.png", 404, step=1, kind="image", started=3)
    assert most_related([on_load, on_click, image], 1) is on_click
    assert most_related([on_load, image], 1) is image  # during the step beats before it
    assert most_related([on_load], 1) is on_load
    assert choose_error_text(1, [on_load, on_click, image]) == "insert failed: no such table"


def test_error_text_is_only_a_servers_words_and_the_browsers_go_apart():
    from probes.browser.capture import Message

    silent = entry("GET", "/x", 502, step=1)  # no words
    page_error = Message("page_error", "TypeError: Failed to fetch", 1)
    console = Message("console", "widget failed", 0)
    assert choose_error_text(1, [silent]) is None  # never Playwright's or the page's words
    assert choose_browser_said(1, [console, page_error], "pw") == "page error: TypeError: Failed to fetch"
    assert choose_browser_said(1, [console], "pw") == "console error: widget failed"
    assert choose_browser_said(1, [], "Timeout 5000ms exceeded.") == "Timeout 5000ms exceeded."
    later = Message("page_error", "after", 2)
    assert choose_browser_said(1, [later], "pw") == "pw"  # a later step's error explains nothing


def test_a_timed_out_step_names_the_request_still_waiting_for_its_answer():
    clicked = entry("POST", "/api/threads", step=1, started=10.0)  # sent by the click, never answered
    assert describe_stuck(clicked, "http://app/", now=15.2) == "POST /api/threads: no response after 5s"
    assert describe_stuck(clicked, "http://app/", now=10.25) == "POST /api/threads: no response after 250ms"
    assert stuck_request([clicked], 2) is clicked  # the expectation after the click timed out
    assert stuck_request([clicked], 3) is None  # two steps on, it is not what this step waited for
    answered = entry("POST", "/api/threads", 201, step=1, started=10.0)
    assert stuck_request([answered], 2) is None
    poll = entry("GET", "/events", step=2, kind="eventsource", started=11.0)
    assert stuck_request([poll], 2) is None  # open by design
    refused = entry("POST", "/api/save", step=2, failure="net::ERR_CONNECTION_REFUSED", started=12.0)
    assert stuck_request([poll, refused], 2) is refused
    assert stuck_request([refused], 2, failed_too=False) is None  # fail_on_http_errors = false
    assert describe_stuck(refused, "http://app/", now=20.0) == "POST /api/save failed: net::ERR_CONNECTION_REFUSED"
    image = entry("GET", "/logo.png", step=2, kind="image", started=9.0)
    assert stuck_request([image, clicked], 2) is clicked  # the page's own call beats an image
    assert stuck_request([image], 2) is image


@pytest.mark.parametrize("e, counts", [
    (entry("POST", "/api", 500), True),
    (entry("POST", "/api", 404), False),          # 4xx is often an answer the UI handles
    (entry("GET", "/img.png", 500, kind="image"), False),
    (entry("GET", "/api", failure="net::ERR_CONNECTION_REFUSED"), True),
    (entry("GET", "/api", failure="net::ERR_ABORTED"), False),  # the page cancelled it
])
def test_which_requests_fail_a_journey(e, counts):
    assert (http_problems([e]) == [e]) is counts


def test_descriptions_use_the_path_on_the_pages_own_origin():
    assert describe_entry(entry("POST", "/api/threads?x=1", 500), "http://app/") == \
        "POST /api/threads?x=1 answered 500"
    other = NetworkEntry("GET", "https://cdn.example/app.js", "script", 0, 0, failure="net::ERR_NAME_NOT_RESOLVED")
    assert describe_entry(other, "http://app/") == "GET https://cdn.example/app.js failed: net::ERR_NAME_NOT_RESOLVED"


@pytest.mark.parametrize("glob, url, matches", [
    ("**/api/threads", "http://127.0.0.1:8000/api/threads", True),
    ("**/api/threads", "http://127.0.0.1:8000/api/threads?x=1", False),
    ("**/api/*", "http://h/api/threads", True),
    ("**/api/*", "http://h/api/threads/1", False),
    ("**/api/{threads,users}", "http://h/api/users", True),
    ("http://h/a.b", "http://h/aXb", False),
])
def test_url_globs_follow_playwright(glob, url, matches):
    assert bool(glob_to_regex(glob).fullmatch(url)) is matches


# -- artifacts: pending folder -> run id, and retention --

async def test_pending_artifacts_move_to_the_run_id_and_retention_deletes_them(tmp_path):
    from datetime import timedelta

    from monitor.app.service import Service
    from monitor.core.results import Result, StepResult, utcnow
    from probes.browser.artifacts import ArtifactFolder

    folder = ArtifactFolder(tmp_path / "artifacts", "new-chat")
    folder.file("trace.zip").write_bytes(b"PK")
    folder.keep("trace.zip")
    folder.write_json("log.json", {"url": "http://x/?token=abcdef123456"})
    assert (folder.path.stat().st_mode & 0o777) == 0o700
    assert ((tmp_path / "artifacts").stat().st_mode & 0o777) == 0o700
    assert ((folder.path / "trace.zip").stat().st_mode & 0o777) == 0o600
    assert "abcdef123456" not in (folder.path / "log.json").read_text()

    config = parse_config(f'[monitor]\ndatabase = "{tmp_path}/m.db"\nartifacts_dir = "{tmp_path}/artifacts"\n'
                          f'retention_days = 1\n', path=tmp_path / "c.toml", env={})
    service = Service(config)
    old = Result("new-chat", "browser", "local", "http://x/", utcnow() - timedelta(days=3), 1.0, False,
                 steps=[StepResult("open", False, 1.0, "boom")], artifacts=list(folder.files))
    service.store.record(old)
    moved = claim_artifacts(config.monitor.artifacts_dir, old.run_id, old.artifacts)
    service.store.replace_artifacts(old.run_id, moved)
    assert moved == [f"new-chat/{old.run_id}/trace.zip", f"new-chat/{old.run_id}/log.json"]
    assert service.store.run(old.run_id)["artifacts"] == sorted(moved)
    run_dir = tmp_path / "artifacts" / "new-chat" / str(old.run_id)
    assert (run_dir / "trace.zip").is_file() and not folder.path.exists()
    # Files of runs never stored (given up, or a crash before the write): gone once as old as retention.
    unclaimed, fresh = (ArtifactFolder(tmp_path / "artifacts", "new-chat") for _ in range(2))
    for pending in (unclaimed, fresh):
        pending.file("trace.zip").write_bytes(b"PK")
    # ... and only those: not a folder reached through a symlink out of the artifacts.
    outside = tmp_path / "elsewhere" / "pending-old"
    outside.mkdir(parents=True)
    (tmp_path / "artifacts" / "linked-check").symlink_to(tmp_path / "elsewhere")
    three_days_ago = (utcnow() - timedelta(days=3)).timestamp()
    for old_folder in (unclaimed.path, outside):
        os.utime(old_folder, (three_days_ago, three_days_ago))
    assert await service.prune() == 1
    assert not run_dir.exists() and not unclaimed.path.exists()
    assert (fresh.path / "trace.zip").is_file()  # maybe a run being stored right now
    assert outside.is_dir()
    service.writer.close()
    service.store.close()


def test_only_pending_folders_are_renamed():
    assert final_paths(["c/pending-ab/t.zip", "c/pending-ab/s.png", "c/7/x"], 9) == {"c/pending-ab": "c/9"}


@pytest.mark.slow
def test_http_only_monitors_never_load_playwright():
    import subprocess
    import sys

    code = ("import sys, monitor.app.cli, monitor.app.service, monitor.app.runner, probes;"
            "print(any(m.startswith('playwright') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_trace_mode_is_one_of_playwrights():
    def read(line: str):
        return parse_config(f"[browser]\n{line}\n", path=Path("/tmp/config.toml"), env={}).sections["browser"]

    assert read("").trace == "retain-on-failure"
    assert read('trace = "on-first-retry"').trace == "on-first-retry"
    with pytest.raises(ConfigError) as caught:
        read('trace = "on"')
    assert [f"{i.path}: {i.message}" for i in caught.value.issues] == [
        "browser.trace: must be one of retain-on-failure, on-first-retry, off, got 'on'"]
