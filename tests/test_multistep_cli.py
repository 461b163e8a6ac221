"""Multistep checks through the CLI and a running monitor, against the demo app on loopback.

The check logs in and carries its token in a URL (`?t=...`), where nothing
looks like a credential, of a step that fails: only the kind's own redaction
of extracted values keeps it out of what the monitor writes and sends.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from demo.app import start_server
from tests.multistep_lifecycle import lifecycle
from tests.polling import wait_until
from tests.slack_server import SlackServer

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def write_config(folder: Path, url: str, read: str = "{{ id }}", alerts: str = "") -> None:
    (folder / "config.toml").write_text(
        f'[monitor]\ndatabase = "monitor.db"\nartifacts_dir = "artifacts"\nlisten = "127.0.0.1:0"\n{alerts}\n'
        + lifecycle(url, read=f'name = "read thread"\nurl = "/api/threads/{read}?t={{{{ token }}}}"', interval="1s"))


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args, "-c", "config.toml"], cwd=folder,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)


@pytest.fixture
def demo(tmp_path):
    server, url = start_server(db_path=tmp_path / "demo.db")
    yield server, url
    server.shutdown()


def test_validate_check_json_and_replay_show_every_step(tmp_path, demo):
    server, url = demo
    write_config(tmp_path, url)
    assert cli(tmp_path, "validate").stdout.strip() == "config.toml: OK (1 multistep)"
    done = cli(tmp_path, "check", "--json")
    assert done.returncode == 0, done.stderr
    [run] = json.loads(done.stdout)
    assert run["ok"] and [s["name"] for s in run["steps"]] == ["log in", "create thread", "read thread",
                                                               "delete thread"]
    # A broken deploy: replay sends every step again and prints each exchange, then the verdict.
    server.database.drop()
    replay = cli(tmp_path, "replay", "thread-lifecycle")
    assert replay.returncode == 1
    assert "> POST /api/login HTTP/1.1" in replay.stdout and "> POST /api/threads HTTP/1.1" in replay.stdout
    assert '{"error": "no such table: threads"}' in replay.stdout
    assert "FAILED: step 'create thread': POST /api/threads answered 500" in replay.stdout
    assert "server said: no such table: threads" in replay.stdout
    assert server.tokens and not [t for t in server.tokens if t in replay.stdout + done.stdout]


def test_an_extracted_token_never_reaches_the_database_the_cli_or_a_notice(tmp_path, demo):
    server, url = demo
    with SlackServer() as slack:
        # Reading a thread that is not there fails the same way every run, in the server's words.
        write_config(tmp_path, url, read="0", alerts=f"""
[alerts]
failure_threshold = 1
reminder_interval = "off"
[alerts.console]
[alerts.slack]
token = "{slack.token}"
channel = "#oncall"
api_url = "{slack.api_url}"
""")
        log_path = tmp_path / "run.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", "config.toml"], cwd=tmp_path,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: slack.messages and "FIRING thread-lifecycle" in log_path.read_text()
                       and failed_runs(tmp_path / "monitor.db") >= 2, "a notice and two failed runs", timeout=30)
            # Copied while the monitor runs, so the -wal is read before its checkpoint.
            live = {p.name: p.read_bytes() for p in tmp_path.glob("monitor.db*")}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        said_to_slack = json.dumps([[m.text, m.blocks, m.updates] for m in slack.messages])
    written = {**live, **{p.name: p.read_bytes() for p in tmp_path.glob("monitor.db*")},
               "log": log_path.read_bytes(), "slack": said_to_slack.encode(),
               "check --json": cli(tmp_path, "check", "--json").stdout.encode(),
               "history": cli(tmp_path, "history", "thread-lifecycle").stdout.encode()}
    assert "FIRING thread-lifecycle: step 'read thread': GET /api/threads/0 answered 404: no thread 0" in \
        log_path.read_text()
    assert "no thread 0" in said_to_slack
    assert b"?t=[REDACTED]" in written["check --json"]
    assert len(server.tokens) >= 3  # one per run: every run's token was looked for
    leaks = [(name, token[:4]) for name, data in written.items() for token in server.tokens
             if token.encode() in data]
    assert leaks == []
    assert server.database.list_threads() == []  # every run's teardown deleted its thread


def failed_runs(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("select count(*) from runs where not ok").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
