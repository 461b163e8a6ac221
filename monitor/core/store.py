"""Results -> SQLite (sqlite-utils), with versioned migrations.

The database is the monitor's memory: run history, and (from later
migrations) incidents and the alert outbox. It is opened in WAL mode so the
CLI can read while `monitor run` writes, and created readable by its owner
only, because error texts and journey logs can hold customer data.

Errors of this database are the monitor's own problem, never the target's.
The monitor's writes go through `monitor.core.store_writer.StoreWriter`, which
holds and retries what the database refuses (locked, full, read-only) on a
thread of its own, so probing never waits for it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from monitor.core.results import Result

migrations = Migrations("synthetic-monitor")


@migrations()
def m001_runs(db: sqlite_utils.Database) -> None:
    db.table("runs").create({
        "id": int, "check_name": str, "type": str, "location": str, "target": str,
        "started_at": str, "duration_ms": float, "ok": int, "status_code": int,
        "method": str, "failure": str, "error_text": str, "failing_step": str,
        "phases": str, "cert_expires_at": float, "details": str,
    }, pk="id")
    db.table("runs").create_index(["check_name", "started_at"])
    db.table("runs").create_index(["started_at"])
    db.table("run_steps").create({
        "run_id": int, "position": int, "name": str, "ok": int, "duration_ms": float, "error": str,
    }, pk=("run_id", "position"))
    db.table("run_artifacts").create({"run_id": int, "path": str}, pk=("run_id", "path"))


def open_database(path: Path | str, extra_migrations: Sequence[Migrations] = ()) -> sqlite_utils.Database:
    """Open (creating owner-only if new) and migrate the database at `path`.

    `extra_migrations` are the sets of the layers above the core (the alert
    tables: alerts/migrations.py), applied after the core's own.

    The file is only ever touched through SQLite. On Linux, closing *any*
    descriptor of a file drops every POSIX lock the process holds on it, so
    a bare `os.open()`/`os.close()` of the database beside an open
    connection (a second `open_database` in the same process) silently
    dropped the locks that tell other processes the monitor is using the
    WAL: the next `monitor status` or `sqlite3` shell to close then
    checkpointed and deleted the WAL under the running service. See SQLite's
    "How To Corrupt An SQLite Database File", section 2.2.
    """
    path = Path(path)
    memory = str(path) == ":memory:"
    if not memory:
        path.parent.mkdir(parents=True, exist_ok=True)
    with owner_only_new_files(path):
        conn = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    if not memory:
        db.enable_wal()
    # NORMAL is durable across application crashes in WAL mode; only a power
    # loss can drop the last transactions, never corrupt the file.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    for migration_set in (migrations, *extra_migrations):
        if migration_set.pending(db):
            # Another process (`monitor run` and `monitor status` starting together)
            # may be migrating too: take the write lock first, then look again.
            with write_transaction(db):
                migration_set.apply(db)
    return db


@contextmanager
def owner_only_new_files(path: Path) -> Iterator[None]:
    """Let SQLite, connecting inside this block, create `path` 0600 from its first byte (-wal and -shm follow it).

    The umask is process-wide: while it is set, a file another thread
    creates is owner-only too, which is harmless, and it is set only when
    `path` does not exist yet.
    """
    if str(path) == ":memory:" or Path(path).exists():
        yield
        return
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE ... COMMIT: take the write lock up front.

    A deferred transaction that reads first and writes later fails at once
    with "database is locked" when another process writes meanwhile; an
    immediate one waits for the busy timeout instead. Nested inside another
    transaction it is a savepoint.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.conn.execute("COMMIT")
    except BaseException:
        # Also after a failed COMMIT (SQLite may leave the transaction open):
        # a retry must start afresh, not nest inside the failed one.
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


class Store:
    """Run history. Every method is one short transaction."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        # The database file ("" in memory), read once: `look_from_outside` runs on another thread.
        self.path: str = db.execute("pragma database_list").fetchone()[2]

    @classmethod
    def open(cls, path: Path | str, extra_migrations: Sequence[Migrations] = ()) -> Store:
        return cls(open_database(path, extra_migrations))

    @classmethod
    def reader(cls, path: str) -> Store:
        """A read-only connection of its own to the database at `path`, which must exist (a service's, from one
        of its threads): a long read there holds up nobody, since WAL readers never block the writer."""
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        return cls(sqlite_utils.Database(conn))

    def close(self) -> None:
        self.db.close()

    def record(self, result: Result) -> int:
        """Write one run (with its steps and artifacts) atomically; set `result.run_id` and return it."""
        result.run_id = self.insert_run(result)
        return result.run_id

    def insert_run(self, result: Result) -> int:
        """Write one run (with its steps and artifacts) atomically and return its id; `result` is left as it was."""
        row = _run_row(result)
        # A plain prepared INSERT: sqlite-utils' insert() reads the table's
        # schema on every call, which costs more than the write itself and
        # is paid once per probe.
        values = [row[c] for c in _RUN_COLUMNS]
        if not result.steps and not result.artifacts:
            # One statement is atomic on its own: no transaction or savepoint
            # to pay for, which is most of the cost of a run in a batch.
            return _inserted_id(self.db.conn.execute(_INSERT_RUN, values))
        with write_transaction(self.db):
            run_id = _inserted_id(self.db.conn.execute(_INSERT_RUN, values))
            if result.steps:
                self.db.table("run_steps").insert_all(
                    {"run_id": run_id, "position": i, "name": s.name, "ok": int(s.ok),
                     "duration_ms": s.duration_ms, "error": s.error}
                    for i, s in enumerate(result.steps))
            if result.artifacts:
                self.db.table("run_artifacts").insert_all({"run_id": run_id, "path": p} for p in result.artifacts)
        return run_id

    def replace_artifacts(self, run_id: int, paths: list[str]) -> None:
        """Point run `run_id` at `paths` (its artifacts moved after it was stored)."""
        with self.db.atomic():
            self.db.execute("delete from run_artifacts where run_id = ?", [run_id])
            self.db.table("run_artifacts").insert_all({"run_id": run_id, "path": p} for p in paths)

    def history(self, check: str, limit: int = 20) -> list[dict[str, Any]]:
        """The latest `limit` runs of `check`, newest first, with steps and artifacts."""
        rows = list(self.db.query(
            "select * from runs where check_name = ? order by started_at desc, id desc limit ?",
            [check, limit]))
        return [self._with_children(row) for row in rows]

    def run(self, run_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from runs where id = ?", [run_id]))
        return self._with_children(rows[0]) if rows else None

    def latest_runs(self) -> dict[str, dict[str, Any]]:
        """The newest run of every check that has one, by check name."""
        rows = self.db.query(
            "select r.* from runs r join (select check_name, max(id) as id from runs "
            "group by check_name) latest on r.id = latest.id")
        return {row["check_name"]: _decode(row) for row in rows}

    def passed_since(self, check: str, since: datetime) -> tuple[int, int]:
        """(runs of `check` started at or after `since`, how many of them passed): its uptime over that time.

        Read from the index alone (m006), so a week of a busy check costs no table reads.
        """
        runs, passed = self.db.execute(
            "select count(*), coalesce(sum(ok), 0) from runs where check_name = ? and started_at >= ?",
            [check, _timestamp(since)]).fetchone()
        return int(runs), int(passed)

    def latest_outcomes(self, check: str, limit: int) -> list[dict[str, Any]]:
        """The latest `limit` runs of `check`, oldest first: id, ok, started_at, status_code, duration_ms, failure,
        error_text."""
        keys = ("id", "ok", "started_at", "status_code", "duration_ms", "failure", "error_text")
        rows = self.db.execute(
            f"select {', '.join(keys)} from runs where check_name = ? order by started_at desc, id desc limit ?",
            [check, limit]).fetchall()
        return [{**dict(zip(keys, row, strict=True)), "ok": bool(row[1])} for row in reversed(rows)]

    def recent_outcomes(self, check: str, limit: int) -> list[bool]:
        """ok of the latest `limit` runs of `check`, newest first."""
        rows = self.db.execute(
            "select ok from runs where check_name = ? order by id desc limit ?", [check, limit])
        return [bool(ok) for (ok,) in rows.fetchall()]

    def prune_batch(self, older_than: datetime, batch: int = 500) -> tuple[int, list[str]]:
        """Delete up to `batch` runs started before `older_than`.

        Returns how many runs went and the artifact paths they had, so the
        caller can remove the files and knows when to stop. Small batches keep each write lock short: probing never
        waits long behind retention.
        """
        cutoff = _timestamp(older_than)
        with write_transaction(self.db):
            ids = [row[0] for row in self.db.execute(
                "select id from runs where started_at < ? order by started_at limit ?", [cutoff, batch])]
            if not ids:
                return 0, []
            marks = ",".join("?" * len(ids))
            paths = [row[0] for row in self.db.execute(
                f"select path from run_artifacts where run_id in ({marks})", ids)]
            for table in ("run_steps", "run_artifacts"):
                self.db.execute(f"delete from {table} where run_id in ({marks})", ids)
            self.db.execute(f"delete from runs where id in ({marks})", ids)
        return len(ids), paths

    def take_over_checkpoints(self) -> None:
        """Stop SQLite from checkpointing inside commits; `checkpoint()` must then be called regularly.

        An automatic checkpoint runs in whichever commit crosses 1,000 WAL
        pages and fsyncs the database file: on a busy disk that held the
        event loop, and every probe's timing, for 50-120 ms.
        """
        self.db.execute("pragma wal_autocheckpoint=0")

    def stamp_heartbeat(self, instance: str, beat: int) -> None:
        """Write this service's heartbeat: `beat` only grows within one `instance` (see monitor/core/store_watch.py)."""
        with write_transaction(self.db):
            self.db.execute("insert or replace into service_heartbeat (id, instance, beat, written_at) "
                            "values (1, ?, ?, ?)", [instance, beat, _timestamp(datetime.now(UTC))])

    def look_from_outside(self) -> tuple[tuple[str, int] | None, tuple[int, int]]:
        """What a new connection sees, as another process would: the heartbeat, then a PASSIVE checkpoint.

        Returns ((instance, beat) or None, (frames in the WAL, frames
        copied into the database file)). The checkpoint waits for nobody, so
        this can run in a thread while the store keeps writing.
        """
        if not self.path:  # in memory: no file, nobody outside
            return None, (0, 0)
        conn = sqlite3.connect(self.path, timeout=1.0)
        try:
            beat = conn.execute("select instance, beat from service_heartbeat where id = 1").fetchone()
            _, frames, done = conn.execute("pragma wal_checkpoint(passive)").fetchone()
        finally:
            conn.close()  # through SQLite, which keeps the process's locks while other connections use the file
        return (tuple(beat) if beat else None), (frames, done)

    def _with_children(self, row: dict[str, Any]) -> dict[str, Any]:
        row = _decode(row)
        row["steps"] = [
            {**s, "ok": bool(s["ok"])} for s in self.db.query(
                "select name, ok, duration_ms, error from run_steps where run_id = ? order by position",
                [row["id"]])]
        row["artifacts"] = [r["path"] for r in self.db.query(
            "select path from run_artifacts where run_id = ? order by path", [row["id"]])]
        return row


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    return now - timedelta(days=retention_days)


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _run_row(result: Result) -> dict[str, Any]:
    return {
        "check_name": result.check, "type": result.type, "location": result.location,
        "target": result.target, "started_at": _timestamp(result.started_at),
        "duration_ms": result.duration_ms, "ok": int(result.ok), "status_code": result.status_code,
        "method": result.method, "failure": result.failure, "error_text": result.error_text,
        "browser_said": result.browser_said, "failing_step": result.failing_step,
        "phases": json.dumps(result.phases) if result.phases else None,
        "cert_expires_at": result.cert_expires_at,
        "details": json.dumps(result.details) if result.details else None,
    }


_RUN_COLUMNS = ("check_name", "type", "location", "target", "started_at", "duration_ms", "ok", "status_code",
                "method", "failure", "error_text", "browser_said", "failing_step", "phases", "cert_expires_at",
                "details")
_INSERT_RUN = f"insert into runs ({', '.join(_RUN_COLUMNS)}) values ({', '.join('?' * len(_RUN_COLUMNS))})"


def _inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row an INSERT just made (sqlite3 sets `lastrowid` after every successful INSERT)."""
    rowid = cursor.lastrowid
    if rowid is None:
        raise RuntimeError("an INSERT returned no rowid")
    return rowid


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["ok"] = bool(row["ok"])
    for key in ("phases", "details"):
        row[key] = json.loads(row[key]) if row.get(key) else {}
    return row


@migrations()
def m004_service_heartbeat(db: sqlite_utils.Database) -> None:
    """One row the running service stamps every few seconds and reads back from a fresh connection."""
    db.execute("create table service_heartbeat (id integer primary key check (id = 1), instance text not null, "
               "beat integer not null, written_at text not null)")


@migrations()
def m005_runs_browser_said(db: sqlite_utils.Database) -> None:
    """What the browser or Playwright said when the server said nothing, kept apart from `error_text`."""
    db.table("runs").add_column("browser_said", str)


@migrations()
def m006_runs_outcomes_index(db: sqlite_utils.Database) -> None:
    """`ok` joins the (check, started_at) index: a check's uptime over a week is then read from the index alone,
    where the table rows cost a read each (0.2 s against 0.5 s for 100 checks with a week of runs a minute)."""
    db.execute("create index idx_runs_check_name_started_at_ok on runs (check_name, started_at, ok)")
    db.execute("drop index if exists idx_runs_check_name_started_at")
