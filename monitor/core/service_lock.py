"""One `monitor run` per database: a lock beside the database, held for the life of the service.

Two services on one database would both probe, both alert (Slack heard
every reminder twice) and both prune. `hold_database(path)` takes an
exclusive `flock` on `<database>-service.lock` before the service opens
anything, and keeps it until the process exits; a second service finds it
held and stops with `DatabaseInUse`, which names the holder from what it
wrote into the file (pid, host, start time).

Why a separate file and `flock`: the kernel drops the lock when its holder
dies, however it dies, so a killed service never blocks its restart; and
the database itself must only be opened through SQLite (closing any other
descriptor of it drops SQLite's own locks, see monitor/core/store.py). One-off
commands (`check`, `status`, `history`, `silence`, `replay`) do not take
this lock: they work beside a running service.

Like SQLite's WAL mode, this needs a local file system: on a network mount
two machines may both get the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class DatabaseInUse(Exception):
    """Another `monitor run` holds the database; the message names it (pid, host, start)."""

    def __init__(self, database: Path, holder: dict[str, Any]):
        self.pid = holder.get("pid")
        who = f"pid {self.pid or '?'} on {holder.get('host', 'this host')}"
        if holder.get("since"):
            who += f", running since {holder['since']}"
        super().__init__(f"another `monitor run` is using {database} ({who})")


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + "-service.lock")


@contextmanager
def hold_database(database: Path) -> Iterator[Path]:
    """Hold `database` for this service until the block ends; raise `DatabaseInUse` if another holds it."""
    if str(database) == ":memory:":
        yield database
        return
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseInUse(database, _read_holder(fd)) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock; the file stays, so nobody can lock a different inode meanwhile


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:  # written by something else, or caught half-written: say what we can
        return {}
    return holder if isinstance(holder, dict) else {}
