"""Admission control: a run starts only while the event loop keeps up, so a probe's clock measures its target.

On a saturated loop every await of a probe waits its turn behind everything
else that is ready, and that wait lands in the probe's measured duration: a
50 ms endpoint reads as 300 ms at 500 probes/s on one core. Holding new runs
back while the loop is late keeps the runs in flight honest; the delay moves
to the start, where it is reported (`synthetic_admission_wait_seconds`) and
seen as start lag, instead of being blamed on the target.

The gate measures the loop's lag with a timer every `TICK`: how late it fired.
While the lag is above `max_lag`, arriving runs queue; each tick with the loop
on time lets a batch of them start, one more each on-time tick and half as
many after a late one (additive increase, multiplicative decrease, as TCP
paces a link it cannot see). No run waits longer than `max_wait`, nor than a
quarter of its check's interval (the runner's cap, so that waiting never
makes the scheduler skip the check's next run): a late run beats a missing one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

TICK = 0.01
MAX_BATCH = 1000


class AdmissionGate:
    """One process's gate: `admit()` before each run; `close()` when the process stops probing."""

    def __init__(self, *, max_lag: float = 0.005, max_wait: float = 2.0,
                 on_wait: Callable[[float], None] | None = None):
        self.max_lag = max_lag
        self.max_wait = max_wait
        self.on_wait = on_wait or (lambda seconds: None)
        self.lag = 0.0  # how late the latest tick fired, in seconds
        self._batch = 1
        # (future, its deadline), in order of arrival.
        self._waiting: deque[tuple[asyncio.Future[None], float]] = deque()
        self._ticker: asyncio.Task[None] | None = None

    async def admit(self, max_wait: float | None = None) -> float:
        """Wait until this run may start, at most `max_wait` (default the gate's); return and report the wait."""
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        if not self._waiting and self.lag <= self.max_lag:
            self.on_wait(0.0)
            return 0.0
        arrived = time.monotonic()
        entry = (asyncio.get_running_loop().create_future(), arrived + min(self.max_wait, max_wait or self.max_wait))
        self._waiting.append(entry)
        try:
            await entry[0]
        except asyncio.CancelledError:
            if entry in self._waiting:  # the caller was cancelled while queued
                self._waiting.remove(entry)
            raise
        waited = time.monotonic() - arrived
        self.on_wait(waited)
        return waited

    def close(self) -> None:
        """Stop the ticker and let every queued run start."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        self._release(len(self._waiting))

    async def _tick(self) -> None:
        while True:
            due = time.monotonic() + TICK
            await asyncio.sleep(TICK)
            self.lag = max(0.0, time.monotonic() - due)
            if self.lag <= self.max_lag:
                if self._waiting:  # grow only under demand, so a quiet hour does not build a burst
                    self._release(self._batch)
                    self._batch = min(MAX_BATCH, self._batch + 1)
            else:
                self._batch = max(1, self._batch // 2)
            # Whatever the loop says, nobody waits past its deadline (one pass, however many wait).
            now = time.monotonic()
            overdue = [entry for entry in self._waiting if entry[1] <= now]
            if overdue:
                self._waiting = deque(entry for entry in self._waiting if entry[1] > now)
                for future, _ in overdue:
                    if not future.done():
                        future.set_result(None)

    def _release(self, count: int) -> None:
        for _ in range(min(count, len(self._waiting))):
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_result(None)
