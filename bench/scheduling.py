"""Scheduling: many checks at 60 s intervals; how late they start, and whether any run is missed or doubled.

The real service (scheduler, runner, store) runs with a no-op probe kind
injected, so the figures are the scheduler's and not a target's. Each run's
start is compared with its plan: the service start plus the check's spread
offset (`first_run_offsets`) plus whole intervals.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from bench.context import BenchContext
from bench.noop_probe import NoopProbe
from bench.report import Row, percentile

NAME = "scheduling"


def plan_misses(starts: list[float], offset: float, interval: float,
                window: float) -> tuple[list[tuple[int, float]], int, int]:
    """([(slot, lag)], missed, doubled) of one check's `starts` (seconds after service start).

    A run belongs to the planned slot it is nearest to (slot 0 is the first
    run); slots planned before `window` must have exactly one run.
    """
    slots: dict[int, list[float]] = {}
    for start in starts:
        slot = max(0, round((start - offset) / interval))
        slots.setdefault(slot, []).append(start - (offset + slot * interval))
    planned = [k for k in range(int(window / interval) + 2) if offset + k * interval < window]
    missed = sum(1 for k in planned if k not in slots)
    doubled = sum(len(v) - 1 for v in slots.values() if len(v) > 1)
    return [(slot, lag) for slot, lags in slots.items() for lag in lags], missed, doubled


def start_lags(starts: dict[str, list[float]], checks, started: float, seconds: float) -> dict:
    """Each run's lag behind its plan (`starts`: monotonic start times by check name, the service started at
    `started`), split into first runs and later ones, and the runs missed or doubled in the first `seconds`."""
    from monitor.app.scheduler import first_run_offsets

    offsets = first_run_offsets(checks)
    first, steady, missed, doubled = [], [], 0, 0
    for check in checks:
        ran = [t - started for t in starts.get(check.name, []) if t - started < seconds]
        # The last slot may be cut by the end of the window: only judge slots with a second to spare.
        lags, m, d = plan_misses(ran, offsets[check.name], check.interval, seconds - 1.0)
        first += [lag for slot, lag in lags if slot == 0]
        steady += [lag for slot, lag in lags if slot > 0]
        missed, doubled = missed + m, doubled + d
    return {"first_lags": first, "steady_lags": steady, "missed": missed, "doubled": doubled}


async def measure(checks: int, interval: float, seconds: float, database) -> dict:
    from monitor.app.config import parse_config
    from monitor.app.service import Service
    from monitor.core.store import Store

    text = "\n".join(f'[[checks]]\nname = "c{i}"\nurl = "http://127.0.0.1:9/"\ninterval = "{interval:g}s"\n'
                     for i in range(checks))
    config = parse_config(text)
    service = Service(config, store=Store.open(database))
    probe = NoopProbe()
    service.runner.probes = {"http": probe}
    start = time.monotonic()
    serving = asyncio.create_task(service.serve(install_signals=False))
    await asyncio.sleep(seconds)
    service.stop()
    await serving
    out = start_lags(probe.starts, config.checks, start, seconds)
    lags = out["first_lags"] + out["steady_lags"]
    return {**out, "lags": lags, "runs": len(lags)}


def validate_seconds(checks: int, workdir) -> float:
    """Wall time of `monitor validate` on a config of `checks` HTTP checks, Python's start-up included."""
    config = workdir / f"validate-{checks}.toml"
    config.write_text("".join(f'[[checks]]\nname = "c{i}"\nurl = "http://127.0.0.1:9/{i}"\n' for i in range(checks)))
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "monitor", "validate", "-c", str(config)],
                          capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"monitor validate failed: {done.stdout[-500:]}{done.stderr[-500:]}")
    return seconds


def run(ctx: BenchContext) -> list[Row]:
    checks, interval, seconds = ctx.size((300, 2.0, 6.0), (10_000, 60.0, 180.0))
    ctx.log(f"{NAME}: monitor validate of {checks} checks")
    validated = validate_seconds(checks, ctx.workdir)
    ctx.log(f"{NAME}: {checks} checks every {interval:g}s for {seconds:g}s")
    out = asyncio.run(measure(checks, interval, seconds, ctx.workdir / "scheduling.db"))
    p99 = 1000 * percentile(out["lags"], 99)
    steady = 1000 * percentile(out["steady_lags"], 99)
    size = f"{checks:,} checks every {interval:g}s for {seconds:g}s, {out['runs']:,} runs"
    return [
        Row(NAME, "p99 start lag, all runs", p99, "ms", goal="< 100 ms", met=p99 < 100,
            note=f"max {1000 * max(out['lags'], default=0):.0f} ms, first runs' max "
                 f"{1000 * max(out['first_lags'], default=0):.0f} ms; {size}"),
        Row(NAME, "p99 start lag after the first interval", steady, "ms", goal="< 100 ms", met=steady < 100,
            note="first runs excluded: they wait for all jobs to be added at start-up"),
        Row(NAME, "runs missed or doubled", out["missed"] + out["doubled"], goal="0",
            met=out["missed"] + out["doubled"] == 0, note=f"{out['missed']} missed, {out['doubled']} doubled"),
        Row(NAME, f"monitor validate of {checks:,} checks", validated, "s", goal="< 2 s", met=validated < 2,
            note="wall time of the command, Python's start-up and imports included"),
    ]
