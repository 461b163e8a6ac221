"""`monitor silence`, `unsilence`, `alert-test` and incidents in `monitor status`, as a user types them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from alerts.incidents import CheckState, Incident
from alerts.state_store import AlertStore
from monitor.app.cli import main
from monitor.app.database import open_store
from monitor.core.results import Result, utcnow
from tests.alerts_harness import Harness, make_config
from tests.polling import eventually
from tests.servers import closed_port
from tests.slack_server import TOKEN


def write_config(tmp_path, alerts: str = "") -> str:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[monitor]
database = "monitor.db"
{alerts}
[[checks]]
name = "threads-api"
url = "http://127.0.0.1:9/api/threads"
""")
    return str(path)


def slack_table(api_url: str, token: str = TOKEN, channel: str = "#oncall") -> str:
    return f'[alerts.slack]\ntoken = "{token}"\nchannel = "{channel}"\napi_url = "{api_url}"\n'


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_silence_for_then_unsilence(tmp_path, capsys):
    config = write_config(tmp_path)
    run(capsys, "check", "-c", config)
    code, out, _ = run(capsys, "silence", "threads-api", "--for", "2h", "-c", config)
    assert code == 0 and "silenced threads-api until" in out and "monitor unsilence threads-api" in out
    store = open_store(tmp_path / "monitor.db")
    until = AlertStore(store.db).silences(utcnow())["threads-api"]
    store.close()
    assert timedelta(minutes=119) < until - utcnow() <= timedelta(hours=2)
    code, out, _ = run(capsys, "status", "-c", config)
    assert "silenced until" in out
    assert run(capsys, "unsilence", "threads-api", "-c", config)[1].strip() == \
        "threads-api: notifications are on again"
    assert run(capsys, "unsilence", "threads-api", "-c", config)[1].strip() == "threads-api was not silenced"


def test_silence_until_an_iso_time(tmp_path, capsys):
    later = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    code, out, _ = run(capsys, "silence", "threads-api", "--until", later, "-c", write_config(tmp_path))
    assert code == 0 and later.replace("T", " ") in out


@pytest.mark.parametrize("argv, message", [
    (["silence", "threads-api", "--for", "2 hours"], 'expects a duration such as "500ms"'),
    (["silence", "threads-api", "--until", "tomorrow"], "expects an ISO time"),
    (["silence", "threads-api", "--until", "2001-01-01T00:00"], "not in the future"),
    (["silence", "thread-api", "--for", "1h"], "no check named 'thread-api'"),
])
def test_silence_mistakes_exit_2_and_say_what_to_do(tmp_path, capsys, argv, message):
    code, _, err = run(capsys, *argv, "-c", write_config(tmp_path))
    assert code == 2 and message in err


def test_alert_test_posts_to_slack(tmp_path, capsys, slack):
    code, out, _ = run(capsys, "alert-test", "-c", write_config(tmp_path, slack_table(slack.api_url)))
    assert code == 0 and "slack: test message sent to #oncall" in out
    [message] = slack.messages
    assert message.text.startswith("TEST synthetic-monitor")


@pytest.mark.parametrize("table, says", [
    (lambda s: slack_table(s.api_url, token="xoxb-revoked"), "token: checking the token: invalid_auth"),
    (lambda s: slack_table(s.api_url, channel="#nope"), "channel #nope: posting the test: channel_not_found"),
    (lambda s: slack_table(f"http://127.0.0.1:{closed_port()}/api/"), "network: cannot reach Slack"),
    (lambda s: f'[alerts.slack]\nwebhook_url = "{s.url}/services/T0/B0/gone"\n', "webhook answered 404"),
])
def test_alert_test_says_what_failed(tmp_path, capsys, slack, table, says):
    code, _, err = run(capsys, "alert-test", "-c", write_config(tmp_path, table(slack)))
    assert code == 1 and says in err
    assert "xoxb-revoked" not in err


def test_alert_test_on_the_console(tmp_path, capsys):
    code, out, _ = run(capsys, "alert-test", "-c", write_config(tmp_path))
    assert code == 0 and "TEST synthetic-monitor alerts reach this terminal" in out


def test_alert_test_without_any_channel_is_a_usage_error(tmp_path, capsys):
    code, _, err = run(capsys, "alert-test", "-c", write_config(tmp_path, "[alerts.console]\nenabled = false\n"))
    assert code == 2 and "no alert channel is configured" in err


async def test_status_shows_open_incidents_and_undelivered_alerts(tmp_path, capsys, slack):
    slack.fail_next("chat.postMessage", "not_in_channel")
    config = make_config(tmp_path, slack)
    async with Harness(config) as h:
        h.fail(times=3)
        await eventually(lambda: h.pending() == 0, "the firing given up")
    code, out, _ = run(capsys, "status", "-c", str(tmp_path / "config.toml"))
    line = next(line for line in out.splitlines() if line.startswith("threads-api"))
    assert "failing (incident since" in line and "3 failed runs" in line
    assert "firing alert NOT delivered via slack" in line and "not_in_channel" in line


def test_a_check_passing_again_with_its_incident_still_open_is_recovering_not_failing(tmp_path, capsys):
    """`monitor check` after a fix stores a passing run, but only `monitor run` closes the incident."""
    config = make_config(tmp_path, None, extra="success_threshold = 2")
    store = open_store(config.monitor.database)
    AlertStore(store.db).record(CheckState("threads-api"), CheckState("threads-api", failures=2, incident=Incident(
        check="threads-api", opened_at=utcnow(), first_failure_at=utcnow(), last_failure_at=utcnow(),
        first_error=None, last_error=None, last_failure="connection refused", runs_failed=2)), [], ["console"],
        utcnow())
    store.record(Result(check="threads-api", type="http", location="l", target="t", started_at=utcnow(),
                        duration_ms=1.0, ok=True))
    store.close()
    code, out, _ = run(capsys, "status", "--json", "-c", str(tmp_path / "config.toml"))
    [state] = [c["state"] for c in json.loads(out) if c["check"] == "threads-api"]
    assert state.startswith("recovering (incident since ") and state.endswith(
        "2 failed runs; it closes after 2 passing runs in a row under `monitor run`)")
