"""How long GET /metrics takes with many checks (target: well under 100 ms at 1,000).

    .venv/bin/python bench/metrics_scrape.py [--checks 1000] [--scrapes 50] [--limit-ms 100]

Builds the real service of `monitor run` with N https checks (no runs
scheduled during the bench), feeds each one a result with every series a run
can produce (phases, certificate, a few failures), and starts the real HTTP
server in a child process, as the monitor runs apart from Prometheus. The
parent scrapes it over loopback with a plain HTTP client and prints the
median, p95 and max time of a whole scrape (request to last byte), plus the
time spent rendering alone; exits 1 when the median is over `--limit-ms`.
Numbers from a busy machine are noisy: the median is what counts.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.app.config import load_config  # noqa: E402
from monitor.app.metrics import Metrics  # noqa: E402
from monitor.app.server import MonitorServer  # noqa: E402
from monitor.app.service import build_service  # noqa: E402
from monitor.core.results import Result, utcnow  # noqa: E402


def write_config(folder: Path, checks: int) -> Path:
    path = folder / "bench.toml"
    path.write_text('[monitor]\ndatabase = "bench.db"\nlisten = "127.0.0.1:0"\nlocation = "bench"\n' + "".join(
        f'[[checks]]\nname = "check-{i:04d}"\nurl = "https://service-{i % 50}.example.com/api/v1/items/{i}"\n'
        f'interval = "1h"\n' for i in range(checks)))
    return path


def feed(metrics: Metrics, config) -> None:
    for i, check in enumerate(config.checks):
        ok = i % 17 != 0
        metrics.on_result(check, Result(
            check=check.name, type="http", location="bench", target=check.target, started_at=utcnow(),
            duration_ms=40.0 + i % 300, ok=ok, status_code=200 if ok else 503,
            phases={"connect": 0.002, "tls": 0.011, "processing": 0.025, "transfer": 0.001},
            cert_expires_at=time.time() + 40 * 86400))


def serve(checks: int, ready, done) -> None:
    """Child process: the monitor's metrics and server, until `done` is set."""
    async def run() -> None:
        with tempfile.TemporaryDirectory() as folder:
            config = load_config(write_config(Path(folder), checks))
            service = build_service(config)
            metrics = next(p for p in service.parts if isinstance(p, Metrics))
            server = next(p for p in service.parts if isinstance(p, MonitorServer))
            feed(metrics, config)
            render = []
            for _ in range(20):
                start = time.perf_counter()
                metrics.exposition()
                render.append((time.perf_counter() - start) * 1000)
            await server.start(service)
            ready.send((server.url, statistics.median(render)))
            await asyncio.to_thread(done.wait)
            await server.stop()
            service.store.close()

    asyncio.run(run())


def scrape(url: str) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"/metrics answered {response.status}")
        return body
    finally:
        conn.close()


def bench(checks: int, scrapes: int) -> tuple[list[float], int, int, float]:
    """Scrape times in ms, bytes and lines per scrape, and the median render time in ms."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    done = context.Event()
    process = context.Process(target=serve, args=(checks, child, done), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the monitor did not start within 60s")
        url, render_ms = parent.recv()
        body = scrape(url)  # warm-up
        times = []
        for _ in range(scrapes):
            start = time.perf_counter()
            scrape(url)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        done.set()
        process.join(30)
    return times, len(body), body.count(b"\n"), render_ms


def run(ctx) -> list:
    """The /metrics row of `python -m bench`."""
    from bench.report import Row

    checks = ctx.size(100, 1000)
    times, size, lines, render_ms = bench(checks, ctx.size(5, 50))
    median = statistics.median(times)
    return [Row("/metrics", f"scrape time at {checks:,} checks (median)", median, "ms", goal="< 100 ms",
                met=median < 100, note=f"{size / 1e6:.2f} MB, {lines} lines; rendering alone {render_ms:.1f} ms")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--limit-ms", type=float, default=100.0)
    args = parser.parse_args(argv)
    times, size, lines, render_ms = bench(args.checks, args.scrapes)
    times.sort()
    median = statistics.median(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"{args.checks} checks, {lines} lines, {size / 1e6:.2f} MB per scrape, {args.scrapes} scrapes: "
          f"median {median:.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms (limit {args.limit_ms:g} ms); "
          f"rendering alone {render_ms:.1f} ms")
    return 0 if median <= args.limit_ms else 1


if __name__ == "__main__":
    raise SystemExit(main())
