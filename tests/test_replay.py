"""`monitor replay` for every check kind, and the replay hint of every alert, run as on-call would type it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from alerts.channels.base import Facts, Notice
from alerts.channels.slack.message import build_slack_message
from alerts.incidents import Run
from monitor.app.cli import main
from monitor.app.config import load_config
from monitor.core.config import Check, ReadContext
from monitor.core.config_schema import Table
from monitor.core.results import Result, utcnow
from probes import PROBE_KINDS
from probes.base import ProbeContext, ProbeKind
from tests.servers import TargetServer, closed_port, send

API_TOKEN = "tok-replay-7c6b5a4d3e2f"
DSN_PASSWORD = "s3cr3t-dsn-pw"


def broken_threads(handler) -> None:
    """The incident's endpoint, with a hostile streak: a DSN in the body, a cookie, and an escape sequence."""
    handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    body = json.dumps({"error": "no such table: threads", "dsn": f"postgres://app:{DSN_PASSWORD}@db/prod"}).encode()
    send(handler, 500, body, headers={"Set-Cookie": "session=abc123def456; HttpOnly",
                                      "X-Note": "\x1b]0;pwned\x07\x1b[2J"})


def http_config(folder: Path, url: str) -> Path:
    path = folder / "config.toml"
    path.write_text(f"""
[monitor]
database = "monitor.db"
[[checks]]
name = "threads-api"
url = "{url}/api/threads"
method = "POST"
json = {{ title = "hello" }}
headers = {{ Authorization = "Bearer ${{API_TOKEN}}" }}
""")
    return path


@pytest.fixture
def target():
    with TargetServer({"/api/threads": broken_threads}) as server:
        yield server


def cli(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def test_replaying_an_http_check_sends_it_again_and_shows_both_sides_like_curl(tmp_path, capsys, monkeypatch,
                                                                                 target):
    monkeypatch.setenv("API_TOKEN", API_TOKEN)
    config = http_config(tmp_path, target.url)
    code, out = cli(capsys, "replay", "threads-api", "-c", str(config))
    assert code == 1, out
    lines = out.splitlines()
    assert "> POST /api/threads HTTP/1.1" in lines
    assert "> authorization: [REDACTED]" in lines  # the whole value of a credential header
    assert '> {"title": "hello"}' in lines
    assert "< HTTP/1.1 500 Internal Server Error" in lines
    assert "< set-cookie: [REDACTED]" in lines
    assert any(line.startswith("{") and '"dsn": "postgres://app:[REDACTED]@db/prod"' in line for line in lines)
    assert "FAILED: expected status 200-399, got 500" in lines
    assert "server said: no such table: threads" in lines
    assert API_TOKEN not in out and DSN_PASSWORD not in out and "abc123def456" not in out
    assert "\x1b" not in out and "\\x1b]0;pwned\\x07" in out  # shown, never executed
    assert "FAILED in" not in out  # the verdict is said once, not again by the run log
    run_id = int(re.search(r"stored as run (\d+)", out).group(1))

    # What that run recorded, looked up later (the hint older alerts gave).
    code, out = cli(capsys, "replay", "threads-api", "--run", str(run_id), "-c", str(config))
    assert code == 0, out
    assert f"  POST {target.url}/api/threads -> 500" in out.splitlines()
    assert "server said: no such table: threads" in out
    assert "send it again now and see the whole exchange: monitor replay threads-api" in out


def test_replaying_an_http_check_that_gets_no_answer_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("API_TOKEN", API_TOKEN)
    config = http_config(tmp_path, f"http://127.0.0.1:{closed_port()}")
    code, out = cli(capsys, "replay", "threads-api", "-c", str(config))
    assert code == 1
    assert "* no response: connection refused" in out
    assert "FAILED: connection refused" in out


def test_headed_is_for_journeys_only(tmp_path, capsys, monkeypatch, target):
    monkeypatch.setenv("API_TOKEN", API_TOKEN)
    code, out = cli(capsys, "replay", "threads-api", "--headed", "-c", str(http_config(tmp_path, target.url)))
    assert code == 2 and "'threads-api' is a http check" in out


def test_the_replay_hint_of_an_http_alert_works_as_written(tmp_path, capsys, monkeypatch, target):
    """The hint is taken from the Slack message the failed run would page with, and typed as it stands."""
    monkeypatch.setenv("API_TOKEN", API_TOKEN)
    config = http_config(tmp_path, target.url)
    code, out = cli(capsys, "check", "threads-api", "--json", "-c", str(config))
    [row] = json.loads(out)
    failed = Result(**{**row, "started_at": utcnow()})
    facts = Facts.from_mapping(Run.from_result(failed).facts)
    message = build_slack_message(Notice(kind="firing", check="threads-api", at=utcnow(), facts=facts,
                                         failure=failed.failure, error_text=failed.error_text))
    hint = re.search(r"replay: `([^`]*)`", json.dumps(message["blocks"])).group(1)
    assert hint == "monitor replay threads-api"
    code, out = cli(capsys, *hint.split()[1:], "-c", str(config))
    assert code == 1  # it ran, and it failed as the alert said: not 2, a usage error
    assert "< HTTP/1.1 500 Internal Server Error" in out


@dataclass(frozen=True)
class PingSettings:
    target: str


class PingProbe:
    async def run(self, check: Check) -> Result:
        return Result(check=check.name, type=check.type, location="test", target=check.target,
                      started_at=utcnow(), duration_ms=1.0, ok=False, failure="no pong",
                      browser_said=None, error_text="host unreachable")

    async def close(self) -> None:
        pass


def read_ping(t: Table, ctx: ReadContext) -> PingSettings:
    settings = PingSettings(t.string("host", required=True) or "")
    t.reject_unknown()
    return settings


def test_a_kind_without_a_replay_of_its_own_is_run_once_and_shown(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(PROBE_KINDS, "ping", ProbeKind("ping", read_ping, lambda ctx: PingProbe()))
    path = tmp_path / "config.toml"
    path.write_text('[monitor]\ndatabase = "monitor.db"\n[[checks]]\nname = "db"\ntype = "ping"\nhost = "db-1"\n')
    assert load_config(path).check("db").type == "ping"
    code, out = cli(capsys, "replay", "db", "-c", str(path))
    assert code == 1
    assert out.splitlines()[0] == "db: FAIL in 1ms: no pong"
    assert "server said: host unreachable" in out and "stored as run 1" in out
    assert isinstance(ProbeContext(), ProbeContext)
