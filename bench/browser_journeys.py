"""Benchmark: how many demo journeys a minute this machine runs, and whether the browser leaks.

    .venv/bin/python bench/browser_journeys.py              # 500 journeys; RSS after 10 vs after 500
    .venv/bin/python bench/browser_journeys.py --quick      # a smoke run: 8 journeys, RSS after 3
    .venv/bin/python bench/browser_journeys.py --journeys 200 --baseline 20 --concurrency 2

Runs the demo's `new-chat` journey (open the page, click "New chat", see the
thread) against a local, migrated demo app, through the same probe and shared
browser as `monitor run`, `--concurrency` at a time ([browser] max_concurrency,
default: the number of cores). Reports journeys per minute, and the resident
memory of all the browser's processes after the baseline and after the last
journey: with a fresh context per run and nothing kept, the two should be
close. Not a test: numbers depend on the machine. Prints JSON with --json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.app import start_server  # noqa: E402
from monitor.app.config import load_config  # noqa: E402
from probes.base import ProbeContext  # noqa: E402
from probes.browser.probe import BrowserProbe  # noqa: E402
from probes.browser.process_tree import rss_bytes  # noqa: E402
from probes.browser.runtime import (  # noqa: E402
    BASE_ARGS,
    BrowserRuntime,  # noqa: E402
    _bundled_path,
    find_browser,
)
from probes.browser.settings import BrowserSettings

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "demo" / "monitor.toml"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--journeys", type=int, default=500, help="journeys to run (default 500)")
    p.add_argument("--baseline", type=int, default=10, help="measure RSS after this many first (default 10)")
    p.add_argument("--concurrency", type=int, default=os.cpu_count() or 1, help="journeys at once")
    p.add_argument("--trace", default="retain-on-failure", help="[browser] trace (default retain-on-failure)")
    p.add_argument("--quick", action="store_true", help="smoke run: 8 journeys, baseline after 3")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.journeys, args.baseline = 8, 3
    if not 0 < args.baseline < args.journeys:
        p.error("--baseline must be between 1 and --journeys - 1")
    return args


async def run_journeys(probe: BrowserProbe, check, count: int, concurrency: int) -> list:
    queue = list(range(count))
    results = []

    async def worker():
        while queue:
            queue.pop()
            results.append(await probe.run(check))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def bench(args, url: str, workdir: Path) -> dict:
    check = next(c for c in load_config(DEMO_CONFIG, env={"TARGET_URL": url}).checks if c.name == "new-chat")
    runtime = BrowserRuntime(BrowserSettings(max_concurrency=args.concurrency, trace=args.trace))
    probe = BrowserProbe(ProbeContext(artifacts_dir=workdir / "artifacts"), runtime)
    try:
        warm = await run_journeys(probe, check, args.baseline, args.concurrency)
        rss_baseline = rss_bytes(runtime.pids())
        t0 = time.perf_counter()
        rest = await run_journeys(probe, check, args.journeys - args.baseline, args.concurrency)
        elapsed = time.perf_counter() - t0
        rss_end = rss_bytes(runtime.pids())
        processes = len(runtime.pids())
    finally:
        await probe.close()
    results = warm + rest
    failed = [r.failure for r in results if not r.ok]
    return {
        "journeys": len(results), "failed": len(failed), "first_failure": failed[0] if failed else None,
        "concurrency": args.concurrency, "cores": os.cpu_count(),
        "journeys_per_minute": round(len(rest) / elapsed * 60, 1),
        "median_journey_ms": sorted(r.duration_ms for r in rest)[len(rest) // 2],
        "browser_processes": processes,
        f"rss_mib_after_{args.baseline}": round(rss_baseline / 2**20, 1),
        f"rss_mib_after_{args.journeys}": round(rss_end / 2**20, 1),
        "rss_growth_percent": round((rss_end - rss_baseline) / max(rss_baseline, 1) * 100, 1),
    }


async def bare_playwright(url: str, count: int, reuse: bool, concurrency: int = 1) -> float:
    """Journeys per minute of a plain Playwright script doing the demo's steps, `concurrency` at a time.

    The floor (`reuse`: one browser, a fresh context per journey) and the
    naive way (a browser launched per journey), with the same Chromium and flags.
    """
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        executable = find_browser(None, _bundled_path(pw.chromium))

        async def launch():
            return await pw.chromium.launch(executable_path=executable, headless=True, args=list(BASE_ARGS))

        browser = await launch() if reuse else None
        remaining = iter(range(count))

        async def journeys() -> None:
            for _ in remaining:
                own = browser or await launch()
                context = await own.new_context()
                page = await context.new_page()
                await page.goto(url)
                await page.get_by_role("button", name="New chat").click()
                await page.locator("li.thread").first.wait_for(state="visible", timeout=5000)
                await context.close()
                if own is not browser:
                    await own.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(journeys() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
        if browser:
            await browser.close()
    return count / elapsed * 60


def run(ctx) -> list:
    """The browser rows of `python -m bench`: ours vs bare Playwright, one at a time and in parallel; RSS growth."""
    from bench.report import Row

    journeys, baseline = ctx.size((12, 4), (300, 50))
    long_run = ctx.size(12, 1000)  # the default settings' run, for the memory goal too
    cores = os.cpu_count() or 1

    def ours_with(concurrency: int, trace: str = "retain-on-failure", count: int = journeys) -> dict:
        args = parse_args(["--journeys", str(count), "--baseline", str(baseline),
                           "--concurrency", str(concurrency), "--trace", trace])
        return asyncio.run(bench(args, url + "/", ctx.workdir))

    server, url = start_server(db_path=ctx.workdir / "browser-demo.db")
    try:
        ours = ours_with(1)
        parallel = ours_with(cores, count=long_run)
        untraced = ours_with(cores, "on-first-retry")
        bare = ctx.size(4, 30)
        floor = asyncio.run(bare_playwright(url + "/", bare, reuse=True))
        floor_parallel = asyncio.run(bare_playwright(url + "/", ctx.size(4, 60), reuse=True, concurrency=cores))
        naive = asyncio.run(bare_playwright(url + "/", max(2, bare // 3), reuse=False))
    finally:
        server.shutdown()
    per_minute = ours["journeys_per_minute"]
    overhead = (floor / per_minute - 1) * 100 if per_minute else float("nan")
    overhead_parallel = (floor_parallel / untraced["journeys_per_minute"] - 1) * 100 \
        if untraced["journeys_per_minute"] else float("nan")
    before, after = parallel[f"rss_mib_after_{baseline}"], parallel[f"rss_mib_after_{long_run}"]
    name = "browser journeys"
    failed = sum(r["failed"] for r in (ours, parallel, untraced))
    return [
        Row(name, "journeys/min (one at a time)", per_minute, "/min", peer=naive, peer_name="bare Playwright, "
            "browser per journey", note=f"one journey at a time; {ours['failed']} failed"),
        Row(name, f"journeys/min ({cores} at a time, the defaults)", parallel["journeys_per_minute"], "/min",
            peer=floor_parallel, peer_name=f"bare reused Playwright, {cores} at a time", goal=">= 120/min",
            met=parallel["journeys_per_minute"] >= 120,
            note=f"[browser] max_concurrency = {cores}, trace retain-on-failure (every run recorded); "
                 f"{long_run} journeys; {failed} failed in all runs"),
        Row(name, f"journeys/min ({cores} at a time, trace on-first-retry)", untraced["journeys_per_minute"], "/min",
            peer=floor_parallel, peer_name=f"bare reused Playwright, {cores} at a time", goal=">= 120/min",
            met=untraced["journeys_per_minute"] >= 120, note="a passing run records no trace"),
        Row(name, "overhead over bare reused Playwright", max(0.0, overhead), "%", goal="<= 15%",
            met=overhead <= 15, note=f"one at a time; bare Playwright, one reused browser: {floor:.1f} journeys/min"
                                     + _below_zero(overhead)),
        Row(name, f"overhead over bare reused Playwright, {cores} at a time, trace on-first-retry",
            max(0.0, overhead_parallel), "%", goal="<= 15%", met=overhead_parallel <= 15,
            note=f"bare: {floor_parallel:.1f} journeys/min; ours: {untraced['journeys_per_minute']:.1f}"
                 + _below_zero(overhead_parallel)),
        Row(name, f"browser RSS after {long_run} journeys", after, "MiB", peer=before,
            peer_name=f"after {baseline} journeys", goal="within 10%", met=after <= before * 1.10,
            note=f"{cores} at a time, the defaults; the ratio is the growth; shrinking is not a leak"),
    ]


def _below_zero(overhead: float) -> str:
    """A note for an overhead measured below zero: shown as 0, since faster than the bare script is noise."""
    return f"; measured {overhead:+.1f} %, within run-to-run noise" if overhead < 0 else ""


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server(db_path=Path(tmp) / "demo.db")
        try:
            figures = asyncio.run(bench(args, url + "/", Path(tmp)))
        finally:
            server.shutdown()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:28} {value}")
    return 1 if figures["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
