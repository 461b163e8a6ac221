"""Hostile server text through a full `monitor run`: it arrives escaped everywhere it goes.

The target answers 500 with a body built to break each place its words
reach: terminal escapes (colour, window title, clear screen), a Slack
`<!channel>` and a link, `<script>`, a newline followed by a fake log line,
and quotes, braces and newlines that would end a Prometheus label. We then
read the CLI output, the console alerts, the log, the Slack messages, the
status page HTML and /metrics.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import TargetServer, closed_port, send
from tests.slack_server import TOKEN, SlackServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
FAKE_LOG = "2026-01-01 00:00:00 INFO monitor.runs everything is fine"
HOSTILE = ('\x1b[2J\x1b]0;pwned\x07\x1b[31mboom\x1b[0m <!channel> <https://evil.example|click me> '
           '<script>alert(1)</script>\n' + FAKE_LOG + '\n"} evil_metric{x="1\r\n')


def hostile(handler) -> None:
    send(handler, 500, json.dumps({"error": HOSTILE}).encode())


def cli(folder: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": TOKEN}
    done = subprocess.run([sys.executable, "-m", "monitor", *args, "-c", "config.toml"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def assert_terminal_safe(text: str, where: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text, where
    assert not any(line.startswith(FAKE_LOG) for line in text.splitlines()), where


def test_hostile_server_text_is_escaped_in_cli_console_slack_status_page_and_metrics(tmp_path):
    port = closed_port()
    with TargetServer({"/api": hostile}) as target, SlackServer() as slack:
        (tmp_path / "config.toml").write_text(f"""
[monitor]
database = "monitor.db"
listen = "127.0.0.1:{port}"
[alerts]
failure_threshold = 1
reminder_interval = "off"
[alerts.slack]
token = "${{SLACK_BOT_TOKEN}}"
channel = "#oncall"
api_url = "{slack.api_url}"
[alerts.console]
enabled = true
[[checks]]
name = "api"
url = "{target.url}/api?q=%22%7D"
interval = "1s"
timeout = "2s"
""")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": TOKEN}
        out_path = tmp_path / "run.out"
        with open(out_path, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", "config.toml"], cwd=tmp_path,
                                    env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while not (slack.messages and "FIRING" in out_path.read_text()):
                assert time.monotonic() < deadline and proc.poll() is None, out_path.read_text()[-3000:]
                time.sleep(0.05)
            page = httpx.get(f"http://127.0.0.1:{port}/").text
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        said = {"check": cli(tmp_path, "check"), "history": cli(tmp_path, "history", "api"),
                "status": cli(tmp_path, "status")}

    # The words are kept (they are the evidence), made harmless.
    with sqlite3.connect(tmp_path / "monitor.db") as db:
        assert "<!channel>" in db.execute("select error_text from runs limit 1").fetchone()[0]

    # Terminal: the log and console alerts of `monitor run`, and every CLI command.
    assert_terminal_safe(out_path.read_text(), "monitor run output")
    for command, text in said.items():
        assert_terminal_safe(text, f"monitor {command}")
    assert "boom" in said["history"] and "<!channel>" in said["history"]

    # Slack: no mention, no link, no markup of the server's making.
    [firing] = slack.top_level()
    assert "<!channel>" not in firing.all_text and "&lt;!channel&gt;" in firing.all_text
    assert "<https://evil.example" not in firing.all_text

    # The status page: text, not markup.
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "\x1b" not in page

    # /metrics: parses, holds no error text, and the odd target stays one label value.
    families = list(text_string_to_metric_families(metrics))
    labels = [v for f in families for s in f.samples for v in s.labels.values()]
    assert not any("boom" in v or "channel" in v or "evil" in v for v in labels)
    assert "evil_metric" not in {f.name for f in families}
    assert any(v.endswith('/api?q=%22%7D') for v in labels)
