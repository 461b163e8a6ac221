"""Every benchmark, in one list, and the loop that runs them.

A benchmark is a module with `run(ctx: BenchContext) -> list[Row]` (see
bench.report.Row: figure, peer, goal, met, note). A benchmark that cannot be
imported or crashes becomes one failed row, and the others still run.
"""

from __future__ import annotations

import importlib
import time
import traceback
from dataclasses import dataclass

from bench.context import BenchContext
from bench.report import Row, failed


@dataclass(frozen=True)
class Benchmark:
    key: str  # for `--only`
    module: str
    name: str  # the rows' `benchmark` column


BENCHMARKS = [
    Benchmark("http", "bench.http_throughput", "HTTP throughput"),
    Benchmark("timing", "bench.timing_accuracy", "timing accuracy"),
    Benchmark("scheduling", "bench.scheduling", "scheduling"),
    Benchmark("browser", "bench.browser_journeys", "browser journeys"),
    Benchmark("storage", "bench.storage", "storage"),
    Benchmark("alerts", "bench.alert_latency", "alert latency"),
    Benchmark("metrics", "bench.metrics_scrape", "/metrics"),
    Benchmark("stacks", "bench.http_stacks", "HTTP stacks"),
    Benchmark("checks", "bench.checks_per_core", "HTTP checks per core"),
]


def load(bench: Benchmark):
    """The benchmark's module."""
    return importlib.import_module(bench.module)


def run_one(bench: Benchmark, ctx: BenchContext) -> list[Row]:
    try:
        module = load(bench)
    except Exception as exc:
        return [failed(bench.name, f"cannot import {bench.module}: {exc}")]
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
