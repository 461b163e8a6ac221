"""Every benchmark, in one list, and the loop that runs them.

A benchmark is a module with `run(ctx: BenchContext) -> list[Row]` (see
bench.report.Row: figure, peer, goal, met, note). Entries whose module is not in this
build (browser journeys, /metrics scrape and alert latency come from other
branches) show their goals as "not available in this build"; a benchmark that
crashes becomes one failed row, and the others still run.
"""

from __future__ import annotations

import importlib
import time
import traceback
from dataclasses import dataclass

from bench.context import BenchContext
from bench.report import Row, failed, unavailable


@dataclass(frozen=True)
class Benchmark:
    key: str  # for `--only`
    module: str
    name: str  # the rows' `benchmark` column
    # (metric, goal) rows shown when the module is missing.
    goals: tuple[tuple[str, str], ...]


BENCHMARKS = [
    Benchmark("http", "bench.http_throughput", "HTTP throughput",
              (("probes/s end to end", ">= 1,000/s"), ("CPU s per 1,000 probes", "<= 2x blackbox"))),
    Benchmark("timing", "bench.timing_accuracy", "timing accuracy",
              (("p50 of a 50 ms endpoint, idle", "within 1 ms of blackbox"),
               ("p50 of a 50 ms endpoint, loaded", "within 5 ms of blackbox"))),
    Benchmark("scheduling", "bench.scheduling", "scheduling",
              (("p99 start lag, all runs", "< 100 ms"), ("p99 start lag after the first interval", "< 100 ms"),
               ("runs missed or doubled", "0"))),
    Benchmark("browser", "bench.browser_journeys", "browser journeys",
              (("journeys/min", ">= 120/min"), ("overhead over bare reused Playwright", "<= 15%"),
               ("browser RSS after 1,000 journeys vs after 50", "within 10%"))),
    Benchmark("storage", "bench.storage", "storage",
              (("results/s into SQLite", ""), ("bytes per stored run", ""), ("`monitor history` p95", "< 50 ms"),
               ("longest probing stall while pruning", "< 100 ms"))),
    Benchmark("alerts", "bench.alert_latency", "alert latency",
              (("result to Slack stand-in p99", "< 200 ms"),)),
    Benchmark("metrics", "bench.metrics_scrape", "/metrics",
              (("scrape time at 1,000 checks", "< 100 ms"),)),
]


def load(bench: Benchmark):
    """The benchmark's module, or None when it is not part of this build."""
    try:
        return importlib.import_module(bench.module)
    except ModuleNotFoundError as exc:
        if exc.name == bench.module:
            return None
        raise


def run_one(bench: Benchmark, ctx: BenchContext) -> list[Row]:
    try:
        module = load(bench)
    except Exception as exc:
        return [failed(bench.name, f"cannot import {bench.module}: {exc}")]
    if module is None:
        return unavailable(bench.name, bench.goals)
    started = time.monotonic()
    try:
        rows = list(module.run(ctx))
    except Exception as exc:
        ctx.log(traceback.format_exc())
        return [failed(bench.name, f"{type(exc).__name__}: {exc}")]
    ctx.log(f"{bench.name}: done in {time.monotonic() - started:.1f}s")
    return rows


def select(keys: list[str] | None) -> list[Benchmark]:
    """The benchmarks named by `keys` (all when empty); unknown names raise ValueError."""
    if not keys:
        return list(BENCHMARKS)
    known = {b.key: b for b in BENCHMARKS}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(known)}")
    return [known[k] for k in keys]
