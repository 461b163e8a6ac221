"""The alert tables migrate with the alerts: a 0.1 database opens, and its Slack threads carry on per channel."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alerts.state_store import AlertStore
from monitor.app.database import open_store
from monitor.core.results import utcnow
from tests.alerts_harness import Harness, make_config
from tests.polling import eventually

DUMP_0_1 = Path(__file__).parent / "data" / "monitor-0.1.sql"
THREAD_0_1 = {"channel": "C0ONCALL", "ts": "1764496800.000100"}


def database_from_0_1(folder: Path) -> Path:
    path = folder / "monitor.db"
    conn = sqlite3.connect(path)
    conn.executescript(DUMP_0_1.read_text())
    conn.close()
    return path


def test_a_0_1_database_opens_with_its_slack_thread_kept_as_the_slack_channels(tmp_path):
    store = open_store(database_from_0_1(tmp_path))
    alerts = AlertStore(store.db)
    [incident] = alerts.open_incidents()
    assert incident.check == "threads-api" and incident.last_error == 'relation "threads" does not exist'
    assert alerts.thread_of(incident.id, "slack") == THREAD_0_1
    assert alerts.thread_of(incident.id, "pagerduty") is None
    assert "slack_ts" not in store.db["incidents"].columns_dict
    assert store.history("threads-api")[0]["error_text"] == 'relation "threads" does not exist'


def test_an_incident_announced_without_the_servers_words_keeps_its_failure_as_what_it_announced(tmp_path):
    """Before a004 an incident that fired on a failure without server words announced None; a later run saying
    the same must not read as changed words after the upgrade."""
    path = database_from_0_1(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("update incidents set last_error_text = null, announced_error_text = null, "
                 "last_failure = 'connection refused'")
    conn.commit()
    conn.close()
    store = open_store(path)
    [incident] = AlertStore(store.db).open_incidents()
    assert incident.announced_error == "connection refused" and incident.changing_runs == 0
    store.close()


def delivered(alerts: AlertStore, channel: str, incident_id: int, ref: dict) -> None:
    """A notice of `incident_id` written for `channel`, then delivered there with the reference `ref`."""
    alerts.db["outbox"].insert({"created_at": "2026-12-01T00:00:00+00:00", "channel": channel, "kind": "firing",
                                "check_name": "api", "incident_id": incident_id, "payload": "{}", "attempts": 0})
    row = alerts.next_pending(channel)
    assert row is not None
    alerts.mark_delivered(row, utcnow(), ref)


def test_each_channel_keeps_its_own_thread_of_an_incident(tmp_path):
    store = open_store(tmp_path / "monitor.db")
    alerts = AlertStore(store.db)
    incident_id = store.db["incidents"].insert({"check_name": "api", "opened_at": "2026-12-01T00:00:00+00:00"}).last_pk
    store.db["incidents"].update(incident_id, {"group_id": incident_id})
    delivered(alerts, "chat", incident_id, {"message": 7})
    delivered(alerts, "pager", incident_id, {"dedup_key": "api-1"})
    delivered(alerts, "chat", incident_id, {"message": 8})  # a later message does not replace the first
    assert alerts.thread_of(incident_id, "chat") == {"message": 7}
    assert alerts.thread_of(incident_id, "pager") == {"dedup_key": "api-1"}
    assert alerts.thread_of(incident_id, "console") is None


async def test_the_resolve_of_a_0_1_incident_replies_in_its_slack_thread(tmp_path, slack):
    database_from_0_1(tmp_path)
    config = make_config(tmp_path, slack)
    async with Harness(config) as h:
        h.pass_()
        await eventually(lambda: h.pending() == 0, "the resolve delivered")
    [reply] = slack.messages
    assert reply.text.startswith("RESOLVED threads-api") and reply.thread_ts == THREAD_0_1["ts"]
