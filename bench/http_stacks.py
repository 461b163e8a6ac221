"""HTTP stacks: what each candidate client costs bare, and what the monitor adds to the one it uses.

Every stack runs the same loop (bench.http_client_loop: a fresh connection
per GET, 16 at a time) against the same target in the same run, each in a
process of its own. The last row compares `monitor run`'s CPU per probe
(scheduler, probe, result, store hand-off, metrics) at a steady 250/s with
the bare loop of the stack the HTTP probe sends with: the monitor's own
cost per probe is the difference.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench.context import BenchContext
from bench.http_throughput import ours
from bench.report import Row

NAME = "HTTP stacks"
# What probes/http/probe.py sends with, on the loop `monitor run` uses (uvloop, where installed).
CHOSEN = "httpx+uvloop"
CONCURRENCY = 16


def bare(stack: str, url: str, count: int) -> dict:
    """CPU ms per request and requests/s of `stack`'s bare loop."""
    done = subprocess.run([sys.executable, "-m", "bench.http_client_loop", stack, url, str(count), str(CONCURRENCY)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{stack} loop failed ({done.returncode}): {done.stderr.strip()[-1000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {"cpu": 1000 * out["cpu_seconds"] / max(1, out["requests"]),
            "rate": out["requests"] / out["seconds"], "failures": out["failures"]}


def run(ctx: BenchContext) -> list[Row]:
    count = ctx.size(200, 3000)
    stacks = ("httpx", "httpx-aiohttp", "aiohttp")
    rows = []
    with ctx.fast_target() as (base, target_name):
        url = base + "/"
        figures = {}
        for stack in stacks:
            for variant in (stack, stack + "+uvloop"):
                ctx.log(f"{NAME}: {count} GETs with {variant}")
                figures[variant] = bare(variant, url, count)
        reference = figures["httpx"]["cpu"]
        for variant, got in figures.items():
            failed = f"; {got['failures']} failed" if got["failures"] else ""
            rows.append(Row(
                NAME, f"bare client CPU ms per request: {variant}", got["cpu"], "ms", peer=reference,
                peer_name="httpx", note=f"{got['rate']:.0f} req/s, {CONCURRENCY} at a time, fresh connection "
                                        f"each, target {target_name}" + failed))
        rate, interval = ctx.size((50, 1), (250, 4))
        warmup, window = ctx.size((1.0, 2.0), (4.0, 12.0))
        ctx.log(f"{NAME}: monitor run at {rate}/s for its CPU per probe")
        mine = ours(ctx, url, rate, interval, warmup, window)
        chosen = figures[CHOSEN]["cpu"]
        rows.append(Row(
            NAME, f"monitor CPU ms per probe vs the bare {CHOSEN} loop", mine["cpu"], "ms", peer=chosen,
            peer_name=f"bare {CHOSEN}", goal="<= 1.25x", met=mine["cpu"] <= 1.25 * chosen,
            note=f"monitor run at {mine['rate']:.0f}/s; its own cost {mine['cpu'] - chosen:.2f} ms/probe"))
    return rows
