"""The wall clock stepped back or forward under a running schedule.

APScheduler reads `datetime.now` itself, so the jump is made there (and in
the ClockWatch, through its injected wall clock): one offset for both, as
a real step of the system clock would be.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import apscheduler.executors.base
import apscheduler.schedulers.base
import pytest

from monitor.app.clock_watch import ClockWatch
from monitor.app.config import parse_config
from monitor.app.scheduler import CheckScheduler

pytestmark = pytest.mark.slow


class SteppedClock:
    """`datetime` whose now() is the real time plus `offset`, shared by every patched module."""

    offset = timedelta(0)

    @classmethod
    def install(cls, monkeypatch) -> None:
        class Stepped(datetime):
            @classmethod
            def now(cls_, tz=None):
                return datetime.now(tz) + cls.offset
        for module in (apscheduler.schedulers.base, apscheduler.executors.base):
            monkeypatch.setattr(module, "datetime", Stepped)

    @classmethod
    def wall(cls) -> datetime:
        return datetime.now(UTC) + cls.offset


@pytest.fixture
def clock(monkeypatch):
    SteppedClock.offset = timedelta(0)
    SteppedClock.install(monkeypatch)
    yield SteppedClock
    SteppedClock.offset = timedelta(0)


CHECKS = parse_config('[[checks]]\nname = "api"\nurl = "http://127.0.0.1:9/"\ninterval = "1s"\n').checks


async def runs_after_jump(jump: timedelta, watch: ClockWatch | None, clock) -> tuple[int, int]:
    """(runs before the jump, runs in the 3 s after it) of a check every second."""
    runs = []

    async def run(check):
        runs.append(time.monotonic())

    scheduler = CheckScheduler(run)
    scheduler.start(CHECKS)
    if watch:
        await watch.start(type("Service", (), {"scheduler": scheduler})())
    try:
        await asyncio.sleep(2.5)
        before = len(runs)
        clock.offset = jump
        await asyncio.sleep(3.2)
        return before, len(runs) - before
    finally:
        if watch:
            await watch.stop()
        scheduler.shutdown()


async def test_a_clock_stepped_back_an_hour_keeps_checks_running(clock):
    watch = ClockWatch(wall=clock.wall, every=0.2)
    before, after = await runs_after_jump(timedelta(hours=-1), watch, clock)
    assert before >= 2
    assert after >= 2, "no check ran after the clock went back"
    assert watch.replans == 1


async def test_without_the_watch_a_clock_stepped_back_stops_every_check(clock):
    # Why ClockWatch exists: APScheduler alone waits the hour out.
    before, after = await runs_after_jump(timedelta(hours=-1), None, clock)
    assert before >= 2 and after == 0


async def test_a_clock_stepped_forward_runs_once_then_keeps_the_interval(clock):
    watch = ClockWatch(wall=clock.wall, every=0.2)
    before, after = await runs_after_jump(timedelta(hours=1), watch, clock)
    # The missed hour is coalesced or skipped, never replayed as 3,600 runs.
    assert before >= 2 and 1 <= after <= 5
    assert watch.replans == 0


def test_monitor_run_has_the_watch(tmp_path):
    from monitor.app.service import build_service

    config = parse_config('[monitor]\ndatabase = "m.db"\nlisten = "127.0.0.1:0"\n', path=tmp_path / "config.toml")
    service = build_service(config)
    try:
        assert any(isinstance(part, ClockWatch) for part in service.parts)
    finally:
        service.store.close()
