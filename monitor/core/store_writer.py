"""The monitor's writes to its database: on one thread of their own, in order, held and retried until they land.

`monitor run` must never wait on its own disk. Probes are timed on the event
loop, and a database locked by another process (a backup, a `sqlite3` shell
left inside a transaction), a full disk or a read-only mount would hold every
probe for SQLite's busy timeout and then lose the run. So the loop hands each
write to a `StoreWriter` and goes on probing. The writer owns a connection of
its own and does one job at a time:

- A job is a list of steps (functions of no arguments). A step must be one
  transaction that either commits or raises, with no database call after its
  commit, so that a step that raised has written nothing and can be tried
  again without writing twice. A job whose caller stopped waiting (a
  cancelled task) before it began is skipped.
- A step the database refuses *for now* (busy, locked, full, read-only, an I/O
  error: see `is_transient`) is tried again with backoff until it passes, and
  the jobs behind it wait: writes land in the order they were given.
- SQLite's cost is per commit, not per row. A `Batched` step (a run's own
  row) shares one transaction with the `Batched` steps of the jobs queued
  right behind it, up to `MAX_BATCH`: each in a savepoint of its own, so one
  that fails for a bug writes nothing and the others still commit; a refused
  batch is retried whole. Each job's steps still run in their order, and
  batched steps among themselves too; only a job's later, unbatched steps
  (its incident fold) may now land after the rows of the runs behind it.
- Any other error is a bug, not weather: it is logged, the step is skipped and
  the job goes on (a run that cannot be stored is still alerted on).
- Nothing is lost silently. At most `max_pending` jobs wait; past that, new
  ones are refused. A step still refused after `patience` seconds is given up,
  and so is whatever is left when `close()` runs out of time. Each of these is
  logged and reported to `on_lost`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlite_utils

from monitor.core.store import Store, write_transaction

log = logging.getLogger("monitor.store")

# About ten minutes of 1,000 checks at a 30 s interval, a few MB of results.
MAX_PENDING = 20_000
BUSY_TIMEOUT_MS = 1000
# How long a one-off command (`monitor check`, `monitor replay`) waits for a locked database.
COMMAND_PATIENCE = 30.0
# Batched steps per transaction: a few milliseconds of inserts, so another writer (`monitor silence`)
# never waits long for the lock.
MAX_BATCH = 256
T = TypeVar("T")

# SQLite's primary result codes for a database that may take the same write later.
_TRANSIENT = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY,
              sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL}


def is_transient(exc: BaseException) -> bool:
    """Whether SQLite refused a write for a reason that may pass (lock, full disk), not for a bug in it."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.OperationalError) and code is not None and code & 0xFF in _TRANSIENT


def is_locked(exc: BaseException) -> bool:
    """Whether SQLite refused because another connection holds a lock (it waits its turn; nothing is wrong)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class WriteLost(Exception):
    """A job the writer gave up: its backlog was full, it ran out of patience, or the monitor stopped."""


@dataclass(frozen=True)
class Batched(Generic[T]):
    """A step that may share its transaction with the batched steps of the jobs behind it.

    `write` makes its writes one statement, or does them inside
    `write_transaction` (a savepoint within a batch), so that when it raises
    it has written nothing; it has no other effect, because a refused batch
    runs it again;
    `then` gets its value once the transaction has committed.
    """
    write: Callable[[], T]
    then: Callable[[T], None] = lambda value: None

    def __call__(self) -> T:  # alone: the step is its own transaction
        value = self.write()
        self.then(value)
        return value


@dataclass(eq=False)
class _Job:
    steps: list[Callable[[], Any]]
    future: Future[Any] = field(default_factory=Future)
    started: bool = False  # its future is running (or it was skipped): set_running_or_notify_cancel called
    next_step: int = 0  # steps before it are done: a retry never repeats them
    value: Any = None  # the latest step's
    error: Exception | None = None  # the first step's that failed for a bug
    refused_since: float | None = None  # monotonic time of this job's first refused try


class StoreWriter:
    """Runs write jobs against `store` on its own thread; see the module docstring for the contract."""

    def __init__(self, store: Store, *, on_error: Callable[[Exception], None] | None = None,
                 on_lost: Callable[[int], None] | None = None, max_pending: int = MAX_PENDING,
                 patience: float | None = None, backoff: tuple[float, float] = (0.05, 2.0)):
        self.store = store
        # Hear of a lock within a second (for /healthz and the metrics) rather
        # than SQLite's five: the refused step is retried either way.
        store.db.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
        self.on_error = on_error or (lambda exc: None)
        self.on_lost = on_lost or (lambda count: None)
        self.max_pending = max_pending
        self.patience = patience
        self.backoff = backoff
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._close_by: float | None = None  # monotonic deadline once close() was called
        self._refused_since: float | None = None
        self._last_error: Exception | None = None
        self._thread = threading.Thread(target=self._work, name="store writer", daemon=True)
        self._thread.start()

    @property
    def db(self) -> sqlite_utils.Database:
        """The writer's connection: use it only inside steps, which run on the writer's thread."""
        return self.store.db

    def submit(self, *steps: Callable[[], Any]) -> Future[Any]:
        """Queue a job; its future gets the last step's value, or the first error of a step."""
        job = _Job(list(steps))
        with self._cond:
            if self._close_by is None and len(self._jobs) < self.max_pending:
                self._jobs.append(job)
                self._cond.notify()
                return job.future
            why = "the monitor is stopping" if self._close_by is not None else \
                f"{len(self._jobs)} writes already wait for the database"
        self._lose([job], f"a write was refused: {why}")
        return job.future

    async def call(self, step: Callable[[], T]) -> T:
        """Run `step` as a job of its own and wait for its value (on the event loop, without blocking it)."""
        value: T = await asyncio.wrap_future(self.submit(step))  # a one-step job's value is its step's
        return value

    def pending(self) -> int:
        """Jobs not yet done, the one in progress included."""
        return len(self._jobs)

    def health(self) -> str | None:
        """None while writes go through; else what the database answers and how long it has."""
        since, error = self._refused_since, self._last_error
        if since is None:
            return None
        return (f"the database refuses writes: {error}; {self.pending()} write(s) held for "
                f"{time.monotonic() - since:.0f}s, retrying")

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every queued job to be done; return whether they are."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._jobs and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return not self._jobs

    def close(self, timeout: float = 10.0) -> None:
        """Finish the waiting jobs for up to `timeout` seconds, give up the rest, close the connection."""
        with self._cond:
            if self._close_by is None:
                self._close_by = time.monotonic() + timeout
            self._cond.notify_all()
        # A step may be inside SQLite's busy wait when the deadline passes.
        self._thread.join(timeout + 2 * BUSY_TIMEOUT_MS / 1000)
        if self._thread.is_alive():  # stuck in a step (a disk that hangs): leave it its connection
            log.error("the store writer did not stop within %gs; its connection stays open", timeout)
            return
        self.store.close()

    # --- the writer's thread ---------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and self._close_by is None:
                    self._cond.wait()
                if not self._jobs:
                    return
                if self._closing_late():
                    given_up = list(self._jobs)
                    self._jobs.clear()
                    self._cond.notify_all()
                    break
                job = self._jobs[0]
            if self._run(job):
                with self._cond:
                    self._jobs.popleft()
                    self._cond.notify_all()  # flush() waits for an empty queue
        self._lose(given_up, "the monitor stopped before the database took them")

    def _run(self, job: _Job) -> bool:
        """Do `job`'s remaining steps; return False when the writer is closing and out of time (it stays queued)."""
        if not self._start(job):
            return True  # its caller stopped waiting (a cancelled task) before it began: write nothing
        try:
            return self._steps(job)
        except BaseException as exc:  # a bug here must not stop every later write
            log.exception("the store writer failed on a job; it was skipped")
            if not job.future.done():
                job.future.set_exception(exc)
            return True

    def _steps(self, job: _Job) -> bool:
        delay = self.backoff[0]
        while job.next_step < len(job.steps):
            step = job.steps[job.next_step]
            batch = self._batch_from(job) if isinstance(step, Batched) else [job]
            try:
                if len(batch) > 1:
                    self._write_batch(batch)
                else:
                    job.value = step()
            except Exception as exc:
                if is_transient(exc):
                    self._refused(batch, exc)
                    if self._closing_late():
                        return False
                    if self._out_of_patience(job):
                        self._give_up_batch(batch, f"a write was refused for over {self.patience:g}s: {exc}")
                        return True
                    with self._cond:
                        self._cond.wait(delay)  # close() cuts the wait short
                    delay = min(delay * 2, self.backoff[1])
                    continue
                for member in batch:
                    self._failed(member, exc)
            self._accepted()
            for member in batch:
                member.next_step += 1
        if job.error is None:
            job.future.set_result(job.value)
        else:
            job.future.set_exception(job.error)
        return True

    def _out_of_patience(self, job: _Job) -> bool:
        """Whether `job` has been refused for longer than `patience` (never without a patience)."""
        if self.patience is None or job.refused_since is None:
            return False
        return time.monotonic() - job.refused_since > self.patience

    def _batch_from(self, head: _Job) -> list[_Job]:
        """`head` and the jobs right behind it whose next step is `Batched`, started (cancelled ones dropped)."""
        batch = [head]
        with self._cond:
            cancelled: list[_Job] = []
            for job in itertools.islice(self._jobs, 1, None):
                if len(batch) == MAX_BATCH or not isinstance(job.steps[job.next_step], Batched):
                    break
                (batch if self._start(job) else cancelled).append(job)
            for job in cancelled:
                self._jobs.remove(job)
        return batch

    def _write_batch(self, batch: list[_Job]) -> None:
        """One transaction for the batch's `Batched` steps; raises only what refuses (or breaks) all of them."""
        outcomes: list[tuple[_Job, Any, Exception | None]] = []
        with write_transaction(self.store.db):
            for job in batch:
                try:
                    # Its own write_transaction is a savepoint here: a step that raised wrote nothing.
                    outcomes.append((job, _batched_step(job).write(), None))
                except Exception as exc:
                    if is_transient(exc):
                        raise  # the whole batch waits and is tried again
                    outcomes.append((job, None, exc))
        for job, value, error in outcomes:  # committed
            if error is not None:
                self._failed(job, error)
            else:
                job.value = value
                _batched_step(job).then(value)

    def _failed(self, job: _Job, exc: Exception) -> None:
        """A step failed for a bug, not for the weather: log it, count it, and go on without it."""
        database_said = isinstance(exc, sqlite3.Error)
        log.error("a write failed and was skipped: %s: %s", type(exc).__name__, exc,
                  exc_info=(type(exc), exc, exc.__traceback__) if not database_said else None)
        if database_said:
            self.on_error(exc)
        job.error = job.error or exc

    def _start(self, job: _Job) -> bool:
        """Mark `job` begun; False if its caller cancelled it first."""
        if job.started:
            return True
        job.started = True
        return job.future.set_running_or_notify_cancel()

    def _give_up_batch(self, batch: list[_Job], why: str) -> None:
        # The head leaves the queue when _run returns; the others are taken out here.
        with self._cond:
            for job in batch[1:]:
                self._jobs.remove(job)
            self._cond.notify_all()
        self._lose(batch, why)

    def _refused(self, batch: list[_Job], exc: Exception) -> None:
        self.on_error(exc)  # one refused attempt, however many jobs it carried
        now = time.monotonic()
        for job in batch:
            job.refused_since = job.refused_since or now
        self._last_error = exc
        if self._refused_since is None:
            self._refused_since = now
            log.error("the database refuses writes (%s): holding them and retrying", exc)

    def _accepted(self) -> None:
        if self._refused_since is not None:
            log.warning("the database takes writes again after %.1fs; %d held write(s) catching up",
                        time.monotonic() - self._refused_since, self.pending())
            self._refused_since = None
            self._last_error = None

    def _closing_late(self) -> bool:
        return self._close_by is not None and time.monotonic() >= self._close_by

    def _lose(self, jobs: list[_Job], why: str) -> None:
        log.error("%d write(s) NOT STORED: %s", len(jobs), why)
        self.on_lost(len(jobs))
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(WriteLost(why))


def _batched_step(job: _Job) -> Batched[Any]:
    """`job`'s next step, which is `Batched` in every job of a batch (`_steps` and `_batch_from` see to it)."""
    step = job.steps[job.next_step]
    if not isinstance(step, Batched):
        raise TypeError(f"a batch holds a step that is not Batched: {step!r}")
    return step
