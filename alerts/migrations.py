"""The alert tables: incidents, the outbox, silences, and each channel's thread of an incident.

A migration set of their own (`synthetic-monitor-alerts`), applied by
whoever opens the database for the application (monitor/app/database.py)
next to the core's. 0.1 created the first tables from the core's set
(`m002_alerts`, `m003_incident_closed_reason`), so the first two steps here
only do what such a database does not have yet.
"""

from __future__ import annotations

import json

import sqlite_utils
from sqlite_utils import Migrations

alert_migrations = Migrations("synthetic-monitor-alerts")


@alert_migrations()
def a001_alerts(db: sqlite_utils.Database) -> None:
    """Incidents, the alert outbox and silences (alerts/state_store.py reads and writes them)."""
    if "incidents" in db.table_names():  # made by 0.1's m002_alerts
        return
    db.table("incidents").create({
        "id": int, "check_name": str, "group_id": int, "opened_at": str, "resolved_at": str,
        "first_failure_at": str, "last_failure_at": str, "first_error_text": str, "last_error_text": str,
        "last_failure": str, "runs_failed": int, "facts": str, "notified_at": str, "error_changed": int,
        "announced_error_text": str,
    }, pk="id")
    db.table("incidents").create_index(["check_name", "resolved_at"])
    db.table("outbox").create({
        "id": int, "created_at": str, "channel": str, "kind": str, "check_name": str, "incident_id": int,
        "payload": str, "attempts": int, "next_attempt_at": str, "delivered_at": str, "failed_at": str,
        "last_error": str,
    }, pk="id")
    db.table("outbox").create_index(["channel", "delivered_at", "failed_at", "id"])
    # The few rows still waiting, found without scanning the delivered history.
    db.execute("create index outbox_pending on outbox(id) where delivered_at is null and failed_at is null")
    db.table("silences").create({"check_name": str, "until": str, "created_at": str}, pk="check_name")


@alert_migrations()
def a002_incident_closed_reason(db: sqlite_utils.Database) -> None:
    """Why an incident closed without passing runs (its check was removed from the config); null if it passed."""
    if "closed_reason" not in db.table("incidents").columns_dict:  # else made by 0.1's m003
        db.table("incidents").add_column("closed_reason", str)


@alert_migrations()
def a003_threads_per_channel(db: sqlite_utils.Database) -> None:
    """Each channel's reference to an incident's first message, for the notices that follow it.

    0.1 kept one Slack thread per incident (`incidents.slack_channel`,
    `slack_ts`); they move here as the `slack` channel's.
    """
    db.table("incident_threads").create({"incident_id": int, "channel": str, "ref": str}, pk=("incident_id", "channel"))
    columns = db.table("incidents").columns_dict
    if "slack_ts" not in columns:
        return
    db.table("incident_threads").insert_all(
        {"incident_id": row["id"], "channel": "slack",
         "ref": json.dumps({"channel": row["slack_channel"], "ts": row["slack_ts"]})}
        for row in db.query("select id, slack_channel, slack_ts from incidents where slack_ts is not null"))
    db.table("incidents").transform(drop={"slack_channel", "slack_ts"})


@alert_migrations()
def a004_silences_per_destination(db: sqlite_utils.Database) -> None:
    """A silence holds one destination (its name) or all of them (''), so its key is (check, destination)."""
    silences = db.table("silences")
    silences.add_column("channel", str, not_null_default="")
    silences.transform(pk=("check_name", "channel"))


@alert_migrations()
def a005_incident_changing_words(db: sqlite_utils.Database) -> None:
    """New words of a failing check not announced yet, and how many runs in a row they held (a "changed" notice
    goes out once they hold for failure_threshold runs).

    What an incident announced now falls back to the failure sentence when the server said nothing; rows
    announced before kept only the server's words (or none), so they take that fallback too, and a check
    failing without words does not read as changed after the upgrade.
    """
    incidents = db.table("incidents")
    incidents.add_column("changing_error_text", str)
    incidents.add_column("changing_runs", int, not_null_default=0)
    db.execute("update incidents set announced_error_text = last_failure "
               "where announced_error_text is null and notified_at is not null")
