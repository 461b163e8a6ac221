"""Storage: results per second into SQLite, bytes per run, `monitor history` at 5 M rows, pruning 1 M rows.

Results/s go through the store writer, the path every probe takes, once
with each run's row committed alone and once batched as `monitor run` does. The big
database is built with bulk SQL (a recursive CTE, indexes created after) so
it takes seconds, not hours; its rows look like real HTTP runs. Pruning runs
`Service.prune` in a serving service while a probing loop (no-op probe through the real runner,
every 5 ms, its runs stored by the same writer thread that prunes) measures the longest stall it sees.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time

from bench.context import BenchContext
from bench.noop_probe import NoopProbe
from bench.report import Row, percentile

NAME = "storage"
CHECKS = 1000
PHASES = '{"connect": 0.000213, "processing": 0.000846, "transfer": 0.000102}'


def sample_result(i: int):
    from monitor.core.results import Result, utcnow

    ok = i % 50 != 0
    return Result(check=f"check-{i % CHECKS}", type="http", location="local",
                  target=f"http://127.0.0.1:8080/api/{i % CHECKS}",
                  started_at=utcnow(), duration_ms=1.234, ok=ok, status_code=200 if ok else 500, method="GET",
                  failure=None if ok else "expected status 200-399, got 500",
                  error_text=None if ok else "no such table: threads",
                  phases={"connect": 0.000213, "processing": 0.000846, "transfer": 0.000102})


def record_rate(path, count: int, *, batched: bool) -> float:
    """Results/s through the store writer, as `monitor run` stores them: each run's row in a commit of its
    own, or batched with the runs queued behind it (what the runner does)."""
    from monitor.core.store import Store
    from monitor.core.store_writer import Batched, StoreWriter

    writer = StoreWriter(Store.open(path), max_pending=count + 1)
    store = writer.store
    results = [sample_result(i) for i in range(count)]
    t0 = time.perf_counter()
    for result in results:
        writer.submit(Batched(lambda r=result: store.insert_run(r)) if batched else lambda r=result: store.record(r))
    assert writer.flush(600), "the writer did not finish"
    seconds = time.perf_counter() - t0
    writer.close()
    return count / seconds


def build_database(path, rows: int, old: int) -> None:
    """`rows` runs of `CHECKS` checks, of which the oldest `old` are past 30 days' retention."""
    from monitor.core.store import Store

    Store.open(path).close()
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    # Built without a journal (nobody else has the file yet), then put back in WAL mode like the monitor's.
    conn.execute("pragma journal_mode=off")
    conn.execute("pragma synchronous=off")
    conn.execute("pragma cache_size=-200000")
    indexes = [sql for (sql,) in conn.execute("select sql from sqlite_master where type='index' "
                                             "and tbl_name='runs' and sql is not null")]
    for (name,) in conn.execute("select name from sqlite_master where type='index' and tbl_name='runs' "
                                "and sql is not null").fetchall():
        conn.execute(f"drop index {name}")
    # Runs every `step` seconds ending now, so that exactly `old` fall before the 30-day cutoff.
    now = time.time()
    step = 30 * 86400 / max(1, rows - old)
    first = now - rows * step
    conn.execute("begin")
    conn.execute(f"""
        with recursive n(x) as (select 0 union all select x + 1 from n where x + 1 < {rows})
        insert into runs (check_name, type, location, target, started_at, duration_ms, ok, status_code,
                          method, failure, error_text, phases)
        select 'check-' || (x % {CHECKS}), 'http', 'local', 'http://127.0.0.1:8080/api/' || (x % {CHECKS}),
               strftime('%Y-%m-%dT%H:%M:%f', {first} + x * {step}, 'unixepoch') || '+00:00',
               1.0 + (x % 97) / 10.0, x % 50 != 0, case when x % 50 = 0 then 500 else 200 end, 'GET',
               case when x % 50 = 0 then 'expected status 200-399, got 500' end,
               case when x % 50 = 0 then 'no such table: threads' end, '{PHASES}'
        from n""")
    conn.execute("commit")
    for sql in indexes:
        conn.execute(sql)
    conn.execute("pragma journal_mode=wal")
    conn.close()


def history_p95(path, samples: int) -> float:
    from monitor.core.store import Store

    store = Store.open(path)
    times = []
    for _ in range(samples):
        name = f"check-{random.randrange(CHECKS)}"
        t0 = time.perf_counter()
        store.history(name, 20)
        times.append(time.perf_counter() - t0)
    store.close()
    return 1000 * percentile(times, 95)


def cli_history_ms(config_path, samples: int) -> float:
    """Median wall time of the `monitor history` command, Python start-up included."""
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "monitor", "history", "check-7", "-c", str(config_path)],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return 1000 * percentile(times, 50)


async def prune_while_probing(path) -> dict:
    from monitor.app.config import parse_config
    from monitor.app.service import Service
    from monitor.core.store import Store

    # A serving service (its housekeeping jobs live), whose one check is due only after the measurement.
    config = parse_config('[[checks]]\nname = "check-1"\nurl = "http://127.0.0.1:9/"\ninterval = "1h"\n')
    service = Service(config, store=Store.open(path))
    service.runner.probes = {"http": NoopProbe()}
    check = config.checks[0]
    serving = asyncio.create_task(service.serve(install_signals=False))
    while not service.scheduler.scheduler.running:
        await asyncio.sleep(0.01)
    service.scheduler.scheduler.remove_job("housekeeping:retention")  # ours below is the only pruner
    pruning = asyncio.create_task(service.prune())
    longest, probes, t0 = 0.0, 0, time.perf_counter()
    while not pruning.done():
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        await service.runner.run_check(check)
        # How much longer than asked this probe cycle took: the stall.
        longest = max(longest, time.perf_counter() - before - 0.005)
        probes += 1
    deleted = await pruning
    seconds = time.perf_counter() - t0
    service.stop()
    await serving
    return {"deleted": deleted, "seconds": seconds, "longest_stall": longest, "probes": probes}


def run(ctx: BenchContext) -> list[Row]:
    writes, rows, old = ctx.size((2000, 50_000, 10_000), (20_000, 5_000_000, 1_000_000))
    ctx.log(f"{NAME}: {writes:,} results through the store writer, one commit each, then batched")
    single = record_rate(ctx.workdir / "writes-single.db", writes, batched=False)
    batched = record_rate(ctx.workdir / "writes-batched.db", writes, batched=True)
    path = ctx.workdir / "big.db"
    ctx.log(f"{NAME}: building a {rows:,}-row database")
    t0 = time.monotonic()
    build_database(path, rows, old)
    ctx.log(f"{NAME}: built in {time.monotonic() - t0:.0f}s")
    per_run = os.path.getsize(path) / rows
    p95 = history_p95(path, ctx.size(50, 300))
    config = ctx.workdir / "history.toml"
    config.write_text(f'[monitor]\ndatabase = "{path}"\n[[checks]]\nname = "check-7"\nurl = "http://127.0.0.1:9/"\n')
    cli = cli_history_ms(config, ctx.size(1, 5))
    ctx.log(f"{NAME}: pruning {old:,} rows while probing")
    pruned = asyncio.run(prune_while_probing(path))
    stall = 1000 * pruned["longest_stall"]
    return [
        Row(NAME, "results/s into SQLite, one commit per run", single, "/s",
            note="through the store writer, each run's row its own transaction (before batching)"),
        Row(NAME, "results/s into SQLite, batched commits", batched, "/s",
            note=f"the runs queued behind each other share a commit (up to 256): {batched / single:.1f}x"),
        Row(NAME, "bytes per stored run", per_run, "B", note=f"file size / rows at {rows:,} rows, indexes included"),
        Row(NAME, f"`monitor history` p95 at {rows:,} rows", p95, "ms", goal="< 50 ms", met=p95 < 50,
            note=f"Store.history(limit 20); the whole command with Python start-up: {cli:.0f} ms (median)"),
        Row(NAME, f"longest probing stall while pruning {old:,} rows", stall, "ms", goal="< 100 ms",
            met=stall < 100,
            note=f"pruned {pruned['deleted']:,} in {pruned['seconds']:.1f}s, {pruned['probes']:,} probes meanwhile"),
    ]
