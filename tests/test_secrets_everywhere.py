"""Secrets never written anywhere: one real `monitor run` that used them, then grep everything it wrote.

The same run checks the modes of what it wrote: owner-only, every file.

The target is hostile in the worst way: it echoes the bearer token and the
typed password back in bodies, console messages and the page title, sets a
session cookie, and serves its database DSN (a password the monitor knows
only by its shape) to the page, which logs it. After the run we read every
byte the monitor left behind: its log, the SQLite files, the artifacts (JSON
logs, and the trace.zip unpacked, Playwright's full recording), the Slack
messages the loopback Slack received, and what `monitor check`, `history`
and `status` print.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.servers import TargetServer, send
from tests.slack_server import SlackServer

ROOT = Path(__file__).resolve().parent.parent
API_TOKEN = "tok-API-1f2e3d4c5b6a"
LOGIN_PASSWORD = "pw-Hunter2-9a8b7c"
SLACK_BOT_TOKEN = "xoxb-secret-5e6f7a8b"
SECRETS = {"API_TOKEN": API_TOKEN, "LOGIN_PASSWORD": LOGIN_PASSWORD, "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN}
# Not in the config: redacted by their shape (a password in a connection URL) or their place (a cookie).
DSN_PASSWORD = "dsn-pw-4c3b2a1f0e"
SESSION_COOKIE = "sess-7e6d5c4b3a2f"
UNKNOWN_TO_THE_CONFIG = {"DSN_PASSWORD": DSN_PASSWORD, "SESSION_COOKIE": SESSION_COOKIE}

LOGIN_PAGE = """<!doctype html><title>login</title>
<input id="password" type="password"><button id="go">Log in</button><p id="state">idle</p>
<script>
document.getElementById("go").addEventListener("click", async () => {
  const typed = document.getElementById("password").value;
  document.title = "welcome " + typed;
  console.error("login failed for password " + typed);
  const r = await fetch("/api/login", {method: "POST", body: JSON.stringify({password: typed})});
  document.getElementById("state").textContent = await r.text();
});
fetch("/api/config").then(r => r.text()).then(t => console.log("config " + t));
</script>"""

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def echo_auth(handler) -> None:
    said = handler.headers.get("Authorization", "")
    send(handler, 500, json.dumps({"error": f"token {said} is not allowed"}).encode())


def echo_login(handler) -> None:
    body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()
    send(handler, 500, json.dumps({"error": f"bad login {body}"}).encode())


def config_text(target: str, slack: SlackServer) -> str:
    return f"""
[monitor]
database = "monitor.db"
artifacts_dir = "artifacts"
listen = "127.0.0.1:0"
[alerts]
failure_threshold = 1
reminder_interval = "off"
retry_backoff = "100ms"
[alerts.slack]
token = "${{SLACK_BOT_TOKEN}}"
channel = "#oncall"
api_url = "{slack.api_url}"
[[checks]]
name = "api"
url = "{target}/api/me"
interval = "1s"
timeout = "2s"
[checks.headers]
Authorization = "Bearer ${{API_TOKEN}}"
[[checks]]
name = "login"
type = "browser"
url = "{target}/"
interval = "2s"
timeout = "10s"
steps = [
  {{ fill = {{ selector = "#password", value = "${{LOGIN_PASSWORD}}" }} }},
  {{ click = "#go" }},
  {{ expect_text = "welcome", timeout = "2s" }},
]
"""


def cli(folder: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **SECRETS}
    done = subprocess.run([sys.executable, "-m", "monitor", *args, "-c", "config.toml"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def failed_runs(db: Path, check: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("select count(*) from runs where check_name = ? and not ok", [check]).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def everything_written(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, and every member of every zip, by name."""
    found = {}
    for path in folder.rglob("*"):
        if not path.is_file() or path.name == "config.toml":
            continue
        data = path.read_bytes()
        found[str(path.relative_to(folder))] = data
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    found[f"{path.relative_to(folder)}!{member}"] = zf.read(member)
    return found


def leaks(where: dict[str, bytes | str]) -> list[tuple[str, str]]:
    out = []
    for name, data in where.items():
        text = data if isinstance(data, str) else data.decode("latin-1")
        out += [(name, key) for key, secret in {**SECRETS, **UNKNOWN_TO_THE_CONFIG}.items() if secret in text]
    return out


def test_no_secret_reaches_logs_database_artifacts_slack_or_cli(tmp_path):
    routes = {"/api/me": echo_auth, "/api/login": echo_login,
              "/api/config": lambda h: send(h, 200, json.dumps(
                  {"dsn": f"postgres://app:{DSN_PASSWORD}@db/prod"}).encode()),
              "/": lambda h: send(h, 200, LOGIN_PAGE.encode(), "text/html",
                                  {"Set-Cookie": f"session={SESSION_COOKIE}; Path=/"})}
    with TargetServer(routes) as target, SlackServer(token=SLACK_BOT_TOKEN) as slack:
        (tmp_path / "config.toml").write_text(config_text(target.url, slack))
        env = {**os.environ, "PYTHONPATH": str(ROOT), **SECRETS}
        log_path = tmp_path / "run.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", "config.toml"], cwd=tmp_path,
                                    env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not (failed_runs(tmp_path / "monitor.db", "login") >= 1
                       and failed_runs(tmp_path / "monitor.db", "api") >= 2 and len(slack.messages) >= 2):
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                assert proc.poll() is None, log_path.read_text()[-3000:]
                time.sleep(0.1)
            # Copy the database files while the monitor runs, so the -wal is seen before its checkpoint.
            live = {f"live:{p.name}": p.read_bytes() for p in tmp_path.glob("monitor.db*")}
            live_modes = {p.name: mode(p) for p in tmp_path.glob("monitor.db*")}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        # Slack heard the failures, and saw the token only where Slack must: the Authorization header.
        slack_said = {f"slack:{m.ts}": json.dumps([m.text, m.blocks, m.updates]) for m in slack.messages}
        cli_said = {"cli:check": cli(tmp_path, "check"), "cli:history api": cli(tmp_path, "history", "api"),
                    "cli:history login": cli(tmp_path, "history", "login"), "cli:status": cli(tmp_path, "status")}

    written = everything_written(tmp_path)
    assert any(name.endswith(".json") and name.startswith("artifacts") for name in written), sorted(written)
    assert "token [REDACTED]" in cli_said["cli:history api"] or "REDACTED" in cli_said["cli:history api"]

    traces = {n: d for n, d in written.items() if "trace.zip" in n}
    assert any(n.endswith("!trace.network") for n in traces) and any("screencast" in n for n in traces), traces
    # Playwright's trace is the browser's full recording (the typed value of a `fill`, request and response
    # bodies and headers, the console, DOM snapshots): its text is redacted like everything else.
    assert leaks({**written, **live, **slack_said, **cli_said}) == []

    # Owner-only files: the database with its -wal and -shm (seen while running), every artifact and folder.
    assert set(live_modes) >= {"monitor.db", "monitor.db-wal", "monitor.db-shm"}
    assert all(m == 0o600 for m in live_modes.values()), live_modes
    artifacts = list((tmp_path / "artifacts").rglob("*"))
    assert any(p.name == "trace.zip" for p in artifacts), artifacts
    wrong = {str(p.relative_to(tmp_path)): oct(mode(p)) for p in artifacts
             if mode(p) != (0o700 if p.is_dir() else 0o600)}
    assert wrong == {}
    assert mode(tmp_path / "artifacts") == 0o700
