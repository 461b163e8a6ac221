"""Keeps the schedule going when the wall clock is stepped back.

APScheduler 3 plans runs in wall-clock time. When the clock is stepped
back (an NTP correction, a VM resumed from a snapshot, `date -s`), every
job's next run is suddenly that far in the future: an hour back, and no
check runs for an hour. This part compares the wall clock with the
monotonic one each second; when the wall clock went back by more than
`tolerance`, it moves every job's next run back by the same step (so each
check keeps its place in its interval; none earlier than now) and wakes
the scheduler.

A step forward needs nothing: APScheduler sees the missed runs, coalesces
them into one and skips what is older than half an interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from monitor.app.scheduler import CheckScheduler
    from monitor.core.config import Config


class Scheduled(Protocol):
    """What the watch needs of the service (or a worker process): its check scheduler."""

    scheduler: CheckScheduler

log = logging.getLogger("monitor.scheduler")


def wall_now() -> datetime:
    return datetime.now(UTC)


class ClockWatch:
    """A ServicePart; `wall` and `every` are injectable for tests."""

    def __init__(self, *, wall: Callable[[], datetime] = wall_now, every: float = 1.0, tolerance: float = 2.0):
        self.wall = wall
        self.every = every
        self.tolerance = tolerance
        self.replans = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self, service: Scheduled) -> None:
        self._scheduler = service.scheduler.scheduler
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    def on_reload(self, config: Config) -> None:
        pass

    def _skew(self) -> float:
        return self.wall().timestamp() - time.monotonic()

    async def _watch(self) -> None:
        before = self._skew()
        while True:
            await asyncio.sleep(self.every)  # monotonic: unaffected by the jump
            now = self._skew()
            if before - now > self.tolerance:
                self.replan(before - now)
            before = now

    def replan(self, stepped_back: float) -> int:
        """Move every planned run back by `stepped_back` seconds (not before now); return how many moved."""
        now = self.wall()
        moved = 0
        for job in self._scheduler.get_jobs():
            if job.next_run_time is None:
                continue  # paused
            # The next run after that follows from this one (previous + interval,
            # or the next cron time), so one move puts the job back on its rhythm.
            job.modify(next_run_time=max(now, job.next_run_time - timedelta(seconds=stepped_back)))
            moved += 1
        self.replans += 1
        log.warning("the wall clock went back %.0fs; re-planned %d jobs from the new time", stepped_back, moved)
        self._scheduler.wakeup()
        return moved
