"""Incidents, the outbox and silences in the monitor's SQLite database.

Uses the same `sqlite_utils.Database` as `monitor.core.store.Store` (tables from
the `m002_alerts` migration). The one rule that makes alerts trustworthy:
an incident change and the notifications it causes are written in ONE
transaction (`record`), so a crash leaves either both or neither. Delivery
then reads the outbox in id order, per channel.

All times are stored as UTC ISO-8601 strings with milliseconds, which sort
as text. An instance is used by one thread only, as its connection must be:
in `monitor run` one reads on the event loop and another, on the store
writer's connection, does every write on the writer's thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from alerts.incidents import FIRING, CheckState, Event, Incident, Run, streak_state
from monitor.core.store import write_transaction

# The `channel` of a silence that holds every destination.
ALL_CHANNELS = ""

def ts(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_ts(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_required_ts(text: str | None, column: str) -> datetime:
    """`parse_ts` for a column this module always writes (`column` names it in the error); raises if it is empty."""
    moment = parse_ts(text)
    if moment is None:
        raise ValueError(f"{column} is empty in a stored row")
    return moment


def _row_id(incident: Incident) -> int:
    """The row id of an incident read from or written to the incidents table."""
    if incident.id is None:
        raise ValueError(f"the incident of {incident.check} has no row id: it was never recorded")
    return incident.id


@dataclass(frozen=True)
class OutboxRow:
    id: int
    channel: str
    kind: str
    check: str
    incident_id: int | None
    payload: dict[str, Any]
    attempts: int
    # Always written, but not needed to deliver: a row without it (a hand-made one) still goes out.
    created_at: datetime | None
    next_attempt_at: datetime | None


class AlertStore:
    # Tables are reached with `db.table(name)`: unlike `db[name]` it is typed as a Table, never a View.

    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    # --- incidents -------------------------------------------------------

    def load_states(self, checks: list[str], depth: int) -> dict[str, CheckState]:
        """Each check's state after a restart: its open incident and its current streak.

        `depth` is how many latest runs to read; the largest threshold is enough.
        """
        open_incidents = {i.check: i for i in self.open_incidents()}
        states = {}
        for check in checks:
            rows = self.db.execute(
                "select ok, started_at, error_text from runs where check_name = ? order by id desc limit ?",
                [check, depth]).fetchall()
            runs = [Run(ok=bool(ok), at=parse_required_ts(at, "runs.started_at"), error_text=error)
                    for ok, at, error in rows]
            states[check] = streak_state(check, runs, open_incidents.get(check))
        return states

    def channels_told(self, incident_id: int | None) -> set[str]:
        """The channels the incident's notices were written for."""
        rows = self.db.execute("select distinct channel from outbox where incident_id = ?", [incident_id])
        return {channel for (channel,) in rows.fetchall()}

    def told_incidents(self, channel: str, resolved_since: datetime, now: datetime) -> list[dict[str, Any]]:
        """A payload (as the outbox holds them) for every incident `channel` was paged about that is open, or
        resolved since `resolved_since`: what a state-mirroring channel re-sends."""
        rows = self.db.query(
            "select * from incidents i where (i.resolved_at is null or i.resolved_at >= ?) and exists "
            "(select 1 from outbox o where o.incident_id = i.id and o.channel = ? and o.kind = 'firing' "
            "and o.delivered_at is not null) order by i.id", [ts(resolved_since), channel])
        payloads = []
        for row in rows:
            incident = _incident(row)
            kind = "firing" if incident.resolved_at is None else "resolved"
            event = Event(kind, incident.check, now, incident, row.get("closed_reason"))
            payloads.append(event_payload(event, incident.id, incident.group_id))
        return payloads

    def group_heads(self) -> list[Incident]:
        """Open incidents that head their group (a new incident may join one)."""
        return [i for i in self.open_incidents() if i.group_id == i.id]

    def open_incidents(self) -> list[Incident]:
        rows = self.db.query("select * from incidents where resolved_at is null order by id")
        return [_incident(row) for row in rows]

    def record(self, before: CheckState, after: CheckState, events: list[Event], channels: list[str],
               now: datetime, join: Incident | None = None) -> CheckState:
        """Write the incident change and its outbox rows atomically; return `after` with row ids set.

        A new incident joins the group headed by `join` (the caller's choice:
        `alerts.incidents.choose_group` over `group_heads()`), or heads its own
        when it is None; its events then carry the group's id.
        """
        if before.incident is None and after.incident is None and not events:
            return after  # a healthy check: nothing to write, so no write lock on every run
        with write_transaction(self.db):
            incident = after.incident
            if incident is None and before.incident is not None:
                resolve = next((e for e in events if e.kind == "resolved"), None)
                closed = resolve.incident if resolve else replace(before.incident, resolved_at=now)
                self.db.table("incidents").update(_row_id(before.incident), {
                    "resolved_at": ts(closed.resolved_at or now), "closed_reason": resolve.reason if resolve else None})
                incident = closed
            elif incident is not None and incident.id is None:
                row_id = self._insert_incident(incident)
                incident = replace(incident, id=row_id, group_id=join.id if join else row_id)
                self.db.table("incidents").update(row_id, {"group_id": incident.group_id})
                after = replace(after, incident=incident)
            elif incident is not None:
                self.db.table("incidents").update(_row_id(incident), _incident_row(incident))
            if events:
                if incident is None:
                    raise ValueError(f"{after.check}: events without an incident to tell about")
                self._queue(events, incident, channels, now)
        return after

    def _insert_incident(self, incident: Incident) -> int:
        """Insert a new incident row; return its id."""
        row_id = self.db.table("incidents").insert(_incident_row(incident)).last_pk
        if not isinstance(row_id, int):
            raise TypeError(f"the incidents table returned a row id of {row_id!r}")
        return row_id

    def _queue(self, events: list[Event], incident: Incident, channels: list[str], now: datetime) -> None:
        """One outbox row per event and channel; `incident` is the stored one (its row and group ids set)."""
        for event in events:
            payload = event_payload(event, incident.id, incident.group_id)
            for channel in channels:
                self.db.table("outbox").insert({
                    "created_at": ts(now), "channel": channel, "kind": event.kind, "check_name": event.check,
                    "incident_id": incident.id, "payload": json.dumps(payload), "attempts": 0,
                    "next_attempt_at": ts(now)})

    def thread_of(self, incident_id: int | None, channel: str) -> dict[str, Any] | None:
        """What `channel` threads an incident's later notices under: the reference its `send` returned for the
        incident's first message, or for its group's; None when it kept none."""
        if incident_id is None:
            return None
        row = self.db.execute(
            "select own.ref, head.ref from incidents i "
            "left join incident_threads own on own.incident_id = i.id and own.channel = ? "
            "left join incident_threads head on head.incident_id = i.group_id and head.channel = ? "
            "where i.id = ?", [channel, channel, incident_id]).fetchone()
        ref = row and (row[0] or row[1])
        return json.loads(ref) if ref else None

    def group_members(self, group_id: int | None) -> list[dict[str, Any]]:
        """Checks in a group, oldest first, with whether each has resolved (and why, if not by passing)."""
        if group_id is None:
            return []
        rows = self.db.execute("select check_name, resolved_at, closed_reason from incidents where group_id = ? "
                               "order by id", [group_id]).fetchall()
        return [{"check": check, "resolved": resolved is not None, "closed_reason": reason}
                for check, resolved, reason in rows]

    # --- outbox ----------------------------------------------------------

    def next_pending(self, channel: str) -> OutboxRow | None:
        """The oldest notification of `channel` neither delivered nor given up on."""
        rows = list(self.db.query(
            "select * from outbox where channel = ? and delivered_at is null and failed_at is null "
            "order by id limit 1", [channel]))
        return _outbox(rows[0]) if rows else None

    def mark_delivered(self, row: OutboxRow, now: datetime, thread: Mapping[str, Any] | None) -> None:
        """The notification arrived; remember the thread it started in its channel, if any (the first one kept)."""
        with write_transaction(self.db):
            self.db.table("outbox").update(row.id, {"delivered_at": ts(now), "attempts": row.attempts + 1,
                                              "last_error": None})
            if thread and row.incident_id is not None:
                self.db.execute("insert or ignore into incident_threads (incident_id, channel, ref) values (?, ?, ?)",
                                [row.incident_id, row.channel, json.dumps(thread)])

    def mark_retry(self, row: OutboxRow, at: datetime, error: str) -> None:
        self.db.table("outbox").update(row.id, {"attempts": row.attempts + 1, "next_attempt_at": ts(at),
                                          "last_error": error})

    def mark_failed(self, row: OutboxRow, now: datetime, error: str) -> None:
        self.db.table("outbox").update(row.id, {"attempts": row.attempts + 1, "failed_at": ts(now),
                                          "last_error": error})

    def refire_given_up(self, channel: str, now: datetime) -> list[str]:
        """Put back the given-up firing of every open incident that `channel` never delivered; return their checks.

        A firing refused for good (Slack said invalid_auth) left the incident
        unannounced there: once the channel may work again (a restart, a
        reload with new settings) it is tried once more. It keeps its row, so
        it goes out before any later notice of the incident (and the thread
        those reply in is the firing's); its text is brought up to date (runs
        failed, latest words). Later notices given up stay given up: they
        would repeat stale news. A firing that fails again is given up again.
        """
        refired = []
        with write_transaction(self.db):
            rows = self.db.execute(
                "select min(o.id), o.incident_id from outbox o join incidents i on i.id = o.incident_id "
                "where o.channel = ? and o.kind = 'firing' and o.failed_at is not null and i.resolved_at is null "
                "and not exists (select 1 from outbox d where d.incident_id = o.incident_id "
                "and d.channel = o.channel and d.kind = 'firing' and d.failed_at is null) "
                "group by o.incident_id order by min(o.id)", [channel]).fetchall()
            for row_id, incident_id in rows:
                [incident] = [_incident(r) for r in self.db.query("select * from incidents where id = ?",
                                                                    [incident_id])]
                payload = event_payload(Event(FIRING, incident.check, now, incident), incident.id,
                                        incident.group_id)
                self.db.table("outbox").update(row_id, {"payload": json.dumps(payload), "attempts": 0,
                                                        "failed_at": None, "last_error": None,
                                                        "next_attempt_at": ts(now)})
                refired.append(incident.check)
        return refired

    def abandon_other_channels(self, configured: list[str], now: datetime) -> int:
        """Give up on pending rows of channels no longer configured; return how many."""
        marks = ",".join("?" * len(configured)) or "''"
        with write_transaction(self.db):
            cursor = self.db.execute(
                f"update outbox set failed_at = ?, last_error = 'the channel is no longer configured' "
                f"where delivered_at is null and failed_at is null and channel not in ({marks})",
                [ts(now), *configured])
        return cursor.rowcount

    def pending_count(self) -> int:
        return int(self.db.execute(
            "select count(*) from outbox where delivered_at is null and failed_at is null").fetchone()[0])

    def oldest_pending(self) -> tuple[datetime, str | None] | None:
        """When the oldest undelivered notification was written, and why it is still waiting."""
        row = self.db.execute(
            "select created_at, last_error from outbox where delivered_at is null and failed_at is null "
            "order by id limit 1").fetchone()
        return (parse_required_ts(row[0], "outbox.created_at"), row[1]) if row else None

    def permanent_failures(self, limit: int = 20) -> list[dict[str, Any]]:
        """Notifications given up on, newest first: check, kind, channel, error, when."""
        return list(self.db.query(
            "select check_name as check_name, kind, channel, last_error, failed_at from outbox "
            "where failed_at is not null order by id desc limit ?", [limit]))

    def prune(self, older_than: datetime) -> int:
        """Delete delivered or abandoned notices, resolved incidents and ended silences
        from before `older_than`; return how many rows went."""
        cutoff = ts(older_than)
        with write_transaction(self.db):
            gone = self.db.execute("delete from outbox where coalesce(delivered_at, failed_at) < ?",
                                   [cutoff]).rowcount
            gone += self.db.execute("delete from incidents where resolved_at < ? and id not in "
                                    "(select incident_id from outbox where incident_id is not null)",
                                    [cutoff]).rowcount
            gone += self.db.execute("delete from silences where until < ?", [cutoff]).rowcount
            self.db.execute("delete from incident_threads where incident_id not in (select id from incidents)")
        return gone

    # --- silences --------------------------------------------------------

    def silence(self, check: str, until: datetime, now: datetime, channel: str = ALL_CHANNELS) -> None:
        """Hold `check`'s notices until `until`: all of them, or only those to the destination `channel`."""
        self.db.table("silences").upsert({"check_name": check, "channel": channel, "until": ts(until),
                                          "created_at": ts(now)}, pk=("check_name", "channel"))

    def unsilence(self, check: str, channel: str | None = None) -> bool:
        """Lift the silences of `check` (only the one of `channel` when given); return whether there were any."""
        with write_transaction(self.db):
            if channel is None:
                cursor = self.db.execute("delete from silences where check_name = ?", [check])
            else:
                cursor = self.db.execute("delete from silences where check_name = ? and channel = ?",
                                         [check, channel])
        return cursor.rowcount > 0

    def silences(self, now: datetime) -> dict[str, datetime]:
        """Active silences of whole checks: check -> until when."""
        rows = self.db.execute("select check_name, until from silences where until > ? and channel = ?",
                               [ts(now), ALL_CHANNELS]).fetchall()
        return {check: parse_required_ts(until, "silences.until") for check, until in rows}

    def channel_silences(self, now: datetime) -> dict[tuple[str, str], datetime]:
        """Active silences of one destination: (check, destination) -> until when."""
        rows = self.db.execute("select check_name, channel, until from silences where until > ? and channel != ?",
                               [ts(now), ALL_CHANNELS]).fetchall()
        return {(check, channel): parse_required_ts(until, "silences.until") for check, channel, until in rows}


def event_payload(event: Event, incident_id: int | None, group_id: int | None) -> dict[str, Any]:
    """An event as the JSON a channel receives (see alerts/channels/base.py for the keys)."""
    i = event.incident
    return {
        "kind": event.kind, "check": event.check, "at": ts(event.at),
        "incident_id": incident_id, "group_id": group_id,
        "opened_at": ts(i.opened_at), "failing_since": ts(i.first_failure_at),
        "last_failure_at": ts(i.last_failure_at), "resolved_at": ts(i.resolved_at),
        "runs_failed": i.runs_failed, "failure": i.last_failure, "error_text": i.last_error,
        "previous_error_text": i.announced_error if i.error_changed else None,
        "facts": i.facts, "reason": event.reason,
    }


def _incident_row(i: Incident) -> dict[str, Any]:
    return {
        "check_name": i.check, "opened_at": ts(i.opened_at), "resolved_at": ts(i.resolved_at),
        "first_failure_at": ts(i.first_failure_at), "last_failure_at": ts(i.last_failure_at),
        "first_error_text": i.first_error, "last_error_text": i.last_error, "last_failure": i.last_failure,
        "runs_failed": i.runs_failed, "facts": json.dumps(i.facts), "notified_at": ts(i.notified_at),
        "error_changed": int(i.error_changed), "announced_error_text": i.announced_error,
        "changing_error_text": i.changing_to, "changing_runs": i.changing_runs,
    }


def _incident(row: dict[str, Any]) -> Incident:
    return Incident(
        check=row["check_name"], opened_at=parse_required_ts(row["opened_at"], "incidents.opened_at"),
        first_failure_at=parse_required_ts(row["first_failure_at"], "incidents.first_failure_at"),
        last_failure_at=parse_required_ts(row["last_failure_at"], "incidents.last_failure_at"),
        first_error=row["first_error_text"], last_error=row["last_error_text"], last_failure=row["last_failure"],
        runs_failed=row["runs_failed"], facts=json.loads(row["facts"] or "{}"),
        notified_at=parse_ts(row["notified_at"]), error_changed=bool(row["error_changed"]),
        announced_error=row["announced_error_text"], changing_to=row.get("changing_error_text"),
        changing_runs=row.get("changing_runs") or 0, resolved_at=parse_ts(row["resolved_at"]),
        id=row["id"], group_id=row["group_id"],
    )


def _outbox(row: dict[str, Any]) -> OutboxRow:
    return OutboxRow(id=row["id"], channel=row["channel"], kind=row["kind"], check=row["check_name"],
                     incident_id=row["incident_id"], payload=json.loads(row["payload"]),
                     attempts=row["attempts"], created_at=parse_ts(row["created_at"]),
                     next_attempt_at=parse_ts(row["next_attempt_at"]))
