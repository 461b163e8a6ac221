"""Scheduling: first runs spread over the interval, jobs kept in step with the config."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

from monitor.app.config import parse_config
from monitor.app.scheduler import JOB_PREFIX, WAKE_TICK, CheckScheduler, first_run_offsets
from tests.polling import eventually


def many_checks(n: int, interval: str = "30s"):
    text = "".join(f'[[checks]]\nname = "c{i}"\nurl = "http://127.0.0.1:1/"\ninterval = "{interval}"\n'
                   for i in range(n))
    return parse_config(text).checks


def test_offsets_spread_checks_evenly_across_their_interval():
    offsets = first_run_offsets(many_checks(1000))
    per_second = Counter(int(o) for o in offsets.values())
    assert len(offsets) == 1000
    assert min(offsets.values()) == 0 and max(offsets.values()) < 30
    assert max(per_second.values()) <= 34  # 1000 / 30, not 1000 in one second


async def planned(checks, inspect):
    """Start a scheduler for `checks`, return inspect(scheduler), stop it."""
    async def run(check):
        return None
    scheduler = CheckScheduler(run)
    scheduler.start(checks)
    try:
        return inspect(scheduler)
    finally:
        scheduler.shutdown()


async def test_a_thousand_scheduled_jobs_start_spread_over_the_interval():
    starts = await planned(many_checks(1000), lambda s: [
        job.next_run_time for job in s.scheduler.get_jobs() if job.id.startswith(JOB_PREFIX)])
    first = min(starts)
    buckets = Counter(int((s - first).total_seconds()) for s in starts)
    assert len(starts) == 1000
    assert (max(starts) - first).total_seconds() < 30
    assert max(buckets.values()) <= 35


async def test_set_checks_adds_removes_and_replaces_jobs():
    async def run(check):
        return None
    scheduler = CheckScheduler(run)
    scheduler.start(many_checks(3))
    try:
        before = {j.id: j for j in scheduler.scheduler.get_jobs() if j.id.startswith(JOB_PREFIX)}
        kept = before[JOB_PREFIX + "c0"]
        scheduler.set_checks(many_checks(2), changed={"c1"})
        after = {j.id: j for j in scheduler.scheduler.get_jobs() if j.id.startswith(JOB_PREFIX)}
    finally:
        scheduler.shutdown()
    assert set(before) == {JOB_PREFIX + "c0", JOB_PREFIX + "c1", JOB_PREFIX + "c2"}
    assert set(after) == {JOB_PREFIX + "c0", JOB_PREFIX + "c1"}
    assert after[JOB_PREFIX + "c0"] is kept or after[JOB_PREFIX + "c0"].next_run_time == kept.next_run_time


async def test_cron_checks_get_a_cron_trigger():
    checks = parse_config('[[checks]]\nname = "c"\nurl = "http://x"\ncron = "*/5 * * * *"\n').checks
    next_run = await planned(checks, lambda s: s.scheduler.get_job(JOB_PREFIX + "c").next_run_time)
    assert next_run.minute % 5 == 0 and next_run.second == 0
    assert next_run > datetime.now(UTC)


async def test_first_runs_due_while_jobs_are_being_added_still_run_once_not_an_interval_later():
    # Adding thousands of jobs takes a moment; the first checks' planned first
    # runs pass meanwhile. They must run (a little late), not skip a whole interval.
    checks = many_checks(300, interval="60s")
    ran: list[str] = []

    async def run(check):
        ran.append(check.name)
    scheduler = CheckScheduler(run)
    scheduler.start(checks)
    try:
        await eventually(lambda: "c0" in ran, "c0's first run", timeout=5, every=0.01)
    finally:
        scheduler.shutdown()
    assert "c0" in ran


async def test_runs_due_within_a_tick_start_together_in_one_pass_over_the_jobs():
    # 100 checks a second, 10 ms apart: the scheduler's passes over its job
    # store are paid per tick (WAKE_TICK), not several times per run.
    checks = many_checks(100, interval="1s")
    ran: list[tuple[str, float]] = []
    loop = asyncio.get_running_loop()

    async def run(check):
        ran.append((check.name, loop.time()))
    scheduler = CheckScheduler(run)
    passes = 0
    process_jobs = scheduler.scheduler._process_jobs

    def counted():
        nonlocal passes
        passes += 1
        return process_jobs()
    scheduler.scheduler._process_jobs = counted
    scheduler.start(checks)
    try:
        await eventually(lambda: len(ran) >= 200, "two runs of every check", timeout=10, every=0.05)
    finally:
        scheduler.shutdown()
    assert Counter(name for name, _ in ran[:200]).most_common(1)[0][1] <= 3  # no check bunched
    assert passes < 0.75 * len(ran), (passes, len(ran))  # about one pass a tick; it was several a run
    # Each tick starts what was due: starts come in groups, on at most one tick in two of the run time.
    ticks = {round(t / WAKE_TICK) for _, t in ran}
    assert len(ticks) < len(ran)
