"""The monitor's database as the application opens it: the core's tables and the alerts' (each migrates its own)."""

from __future__ import annotations

from pathlib import Path

from alerts.migrations import alert_migrations
from monitor.core.store import Store
from monitor.core.store_writer import COMMAND_PATIENCE, StoreWriter

MIGRATIONS = (alert_migrations,)


def open_store(path: Path | str) -> Store:
    """Open (creating and migrating as needed) the database at `path`."""
    return Store.open(path, MIGRATIONS)


def command_writer(path: Path | str) -> StoreWriter:
    """The writer of a one-off command: it waits `COMMAND_PATIENCE` seconds for a refusing database, then gives up."""
    return StoreWriter(open_store(path), patience=COMMAND_PATIENCE)
