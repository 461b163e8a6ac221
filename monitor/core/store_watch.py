"""Is what the service writes really in its database file? Looked at every few seconds, as an outsider would.

Every write can commit and the data still be lost. If the WAL the service
writes into is deleted under it (another process came to believe it was the
database's last user, checkpointed and removed the WAL), the service goes on
committing into a file nobody else can see and that a crash throws away:
`monitor status` shows frozen history, and checkpoints fail with "disk I/O
error". The store writer sees none of it. So every `EVERY` seconds the
service's `StoreWatch.tick`:

1. opens a new connection, reads the heartbeat row and checks that it shows
   the latest beat the writer committed (read-your-writes from outside);
2. checkpoints the WAL through that connection (PASSIVE: it waits for
   nobody), which also keeps the WAL short (the service turned SQLite's
   automatic checkpoints off: see `Store.take_over_checkpoints`);
3. hands the writer the next beat.

While either step fails, `problem()` says what is wrong (the service's
`/healthz` answers 503 and `synthetic_store_healthy` is 0) until a later
round passes. A database merely locked by another process is the writer's
to report (it holds the writes): a round that meets a lock gives no verdict.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from concurrent.futures import Future

from monitor.core.store_writer import StoreWriter, is_locked

log = logging.getLogger("monitor.store")
EVERY = 5.0  # seconds; SQLite's own default would checkpoint every ~1,000 pages


class StoreWatch:
    def __init__(self, writer: StoreWriter):
        self.writer = writer
        self.store = writer.store
        # Beats of another service that used this database before are not ours to count.
        self.instance = uuid.uuid4().hex
        self._beats = 0  # the latest beat handed to the writer
        self._committed = 0  # the latest beat the writer committed
        self._stamping = False
        self._problem: str | None = None

    def problem(self) -> str | None:
        """None while the database file holds what the service wrote; else what is wrong."""
        return self._problem

    async def tick(self) -> None:
        """One round: look from outside, then stamp the next beat (see the module docstring)."""
        expected = self._committed
        try:
            beat, _ = await asyncio.to_thread(self.store.look_from_outside)
        except sqlite3.Error as exc:
            if is_locked(exc):
                return  # contention, not loss: the writer holds and reports what waits
            self._set_problem(f"the database file cannot be read or checkpointed from a new connection: {exc}")
        else:
            seen = beat[1] if beat and beat[0] == self.instance else 0
            if seen < expected:
                self._set_problem(
                    f"writes are not reaching the database file: a new connection sees heartbeat {seen}, the "
                    f"service committed {expected} (was its -wal file deleted or replaced?); what is written "
                    f"now may be lost when the monitor stops")
            else:
                self._set_problem(None)
        self._stamp()

    def _stamp(self) -> None:
        if self._stamping:  # the last beat still waits (a locked database): one in the queue is enough
            return
        self._stamping = True
        self._beats += 1
        beat = self._beats
        future = self.writer.submit(lambda: self.store.stamp_heartbeat(self.instance, beat))
        future.add_done_callback(lambda f: self._stamped(f, beat))

    def _stamped(self, future: Future[None], beat: int) -> None:
        # On the writer's thread; plain assignments, read by the loop's next tick.
        if not future.cancelled() and future.exception() is None:
            self._committed = beat
        self._stamping = False

    def _set_problem(self, problem: str | None) -> None:
        if problem and problem != self._problem:
            log.error("%s", problem)
        elif self._problem and not problem:
            log.warning("the database file holds the service's writes again")
        self._problem = problem
