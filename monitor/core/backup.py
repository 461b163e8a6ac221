"""Online backup and restore of the monitor's database, through SQLite's backup API.

`cp monitor.db` while `monitor run` writes copies a file whose latest pages
are still in the -wal: the copy is stale, or torn if a checkpoint runs
meanwhile. SQLite's backup API (what `sqlite3 monitor.db ".backup FILE"`
and `VACUUM INTO` use too) copies one consistent snapshot through SQLite,
while the service goes on writing (in WAL mode a reader never blocks the
writer). `restore_database` copies a backup *into* the database the same
way, so the live file, its -wal and -shm stay consistent; the caller makes
sure no service runs meanwhile (monitor/core/service_lock.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Migrations

from monitor.core.store import migrations, open_database, owner_only_new_files


class BackupError(Exception):
    """A backup or restore that could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class Copied:
    path: Path
    runs: int
    size: int  # bytes of the copy's file


def backup_database(database: Path, target: Path) -> Copied:
    """Copy `database` into the new file `target` while it may be in use; check the copy's integrity."""
    if target.exists():
        raise BackupError(f"{target} already exists; a backup never overwrites a file: choose a new name")
    source = _connect_existing(database)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with owner_only_new_files(target):  # it holds what the database holds
            copy = sqlite3.connect(target)
        try:
            source.backup(copy)
            _check_integrity(copy, target)
            runs = copy.execute("select count(*) from runs").fetchone()[0]
        finally:
            copy.close()
    finally:
        source.close()
    return Copied(target, runs, target.stat().st_size)


def restore_database(backup: Path, database: Path, extra_migrations: Sequence[Migrations] = ()) -> Copied:
    """Replace the content of `database` with `backup`'s. No service may use `database` meanwhile.

    `extra_migrations` are those `open_database` applies beside the core's.
    """
    source = _connect_existing(backup)
    try:
        _check_integrity(source, backup)
        if not _is_monitor_database(source):
            raise BackupError(f"{backup} is not a synthetic-monitor database (no runs table or migrations of ours)")
        runs = source.execute("select count(*) from runs").fetchone()[0]
        # Opened (and migrated) as the monitor opens it, then overwritten page by page through SQLite.
        target = open_database(database, extra_migrations)
        try:
            source.backup(target.conn)
        finally:
            target.close()
    finally:
        source.close()
    open_database(database, extra_migrations).close()  # a backup from an older version gets the newer tables
    return Copied(database, runs, database.stat().st_size)


def _connect_existing(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise BackupError(f"no database at {path}")
    try:
        # mode=rw: a mistyped path must not create an empty database.
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {path}: {exc}") from None


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    try:
        answer = [row[0] for row in conn.execute("pragma integrity_check")]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot read {path} as an SQLite database: {exc}") from None
    if answer != ["ok"]:
        raise BackupError(f"{path} is damaged: {'; '.join(answer[:5])}")


def _is_monitor_database(conn: sqlite3.Connection) -> bool:
    tables = {name for (name,) in conn.execute("select name from sqlite_master where type = 'table'")}
    if not {"runs", "_sqlite_migrations"} <= tables:
        return False
    applied: int = conn.execute("select count(*) from _sqlite_migrations where migration_set = ?",
                                [migrations.name]).fetchone()[0]
    return applied > 0
