"""A probe kind that does no I/O, to measure the scheduler and the store alone."""

from __future__ import annotations

import time

from monitor.core.config import Check
from monitor.core.results import Result, utcnow


class NoopProbe:
    """Passes at once; remembers when each check started (monotonic seconds)."""

    def __init__(self) -> None:
        self.starts: dict[str, list[float]] = {}

    async def run(self, check: Check) -> Result:
        self.starts.setdefault(check.name, []).append(time.monotonic())
        return Result(check=check.name, type=check.type, location="local", target=check.target,
                      started_at=utcnow(), duration_ms=0.1, ok=True, status_code=200, method="GET",
                      phases={"connect": 0.0001, "processing": 0.0005, "transfer": 0.0001})

    async def close(self) -> None:
        pass
