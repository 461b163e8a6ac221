"""HTTP throughput: probes per second and CPU seconds per 1,000 probes, ours vs blackbox_exporter.

Ours is `monitor run` (scheduler + runner + store + this build's parts) with
many HTTP checks against the fast target, measured in its own process over
a window after a warm-up. blackbox_exporter is asked for the same rate
through `/probe`, against the same target, in the same run. Both open a
fresh connection per probe.

Two rates: the goal's (1,000/s), to see what each achieves; and a rate
both sustain, to compare CPU per probe without a saturated process's
queueing and skipped runs in the figure.
"""

from __future__ import annotations

import asyncio

from bench import procs
from bench.context import BenchContext
from bench.probe_driver import drive
from bench.report import Row

NAME = "HTTP throughput"


def ours(ctx: BenchContext, url: str, rate: int, interval: int, warmup: float, window: float,
         workers: int = 1) -> dict:
    out = ctx.run_monitor([{"prefix": "load", "url": url, "count": rate * interval, "interval": interval}],
                          warmup, window, workers=workers)
    return {"rate": out["runs"] / out["seconds"], "cpu": 1000 * out["cpu_seconds"] / max(1, out["runs"]),
            "failed": out["groups"]["load"]["failed"]}


def blackbox(ctx: BenchContext, url: str, rate: int, warmup: float, window: float) -> dict:
    with procs.blackbox(ctx.workdir) as (port, pid):
        asyncio.run(drive(port, [(url, rate)], warmup))
        cpu0 = procs.cpu_seconds(pid)
        driven = asyncio.run(drive(port, [(url, rate)], window))
        cpu1 = procs.cpu_seconds(pid)
    return {"rate": driven.answered / driven.seconds, "cpu": 1000 * (cpu1 - cpu0) / max(1, driven.answered),
            "failed": driven.answered - driven.succeeded}


def run(ctx: BenchContext) -> list[Row]:
    goal_rate, steady_rate = ctx.size((100, 50), (1000, 250))
    warmup, window = ctx.size((1.0, 2.0), (4.0, 12.0))
    rows = []
    with ctx.fast_target() as (base, target_name):
        url = base + "/"
        for rate, interval in ((goal_rate, ctx.size(1, 2)), (steady_rate, ctx.size(1, 4))):
            ctx.log(f"{NAME}: monitor run at {rate}/s against {target_name}")
            mine = ours(ctx, url, rate, interval, warmup, window)
            try:
                ctx.log(f"{NAME}: blackbox_exporter at {rate}/s")
                peer, missing = blackbox(ctx, url, rate, min(1.0, warmup), window), ""
            except procs.PeerMissing as exc:
                peer, missing = {"rate": None, "cpu": None}, str(exc)
            failed = f"; {mine['failed']} of our probes failed" if mine["failed"] else ""
            if rate == goal_rate:
                rows.append(Row(
                    NAME, f"probes/s end to end, {rate:,}/s asked, one process", mine["rate"], "/s",
                    peer=peer["rate"], peer_name="blackbox",
                    note=(missing or f"fresh connection per probe, target {target_name}; "
                          f"our CPU here {mine['cpu']:.2f} ms/probe; the goal is for workers = 2") + failed))
                ctx.log(f"{NAME}: monitor run at {rate}/s with workers = 2")
                two = ours(ctx, url, rate, interval, warmup, window, workers=2)
                rows.append(Row(
                    NAME, f"probes/s end to end, {rate:,}/s asked, workers = 2", two["rate"], "/s",
                    peer=peer["rate"], peer_name="blackbox", goal=f">= {0.95 * rate:,.0f}/s",
                    met=two["rate"] >= 0.95 * rate,
                    note=f"two worker processes and the supervisor; CPU {two['cpu']:.2f} ms/probe over all three"
                         + (f"; {two['failed']} failed" if two["failed"] else "")))
            else:
                rows.append(Row(
                    NAME, f"CPU s per 1,000 probes at {rate}/s", mine["cpu"], "s", peer=peer["cpu"],
                    peer_name="blackbox", goal="<= 1.5x blackbox",
                    met=None if peer["cpu"] is None else mine["cpu"] <= 1.5 * peer["cpu"],
                    note=(missing or f"/proc/<pid>/stat of each process; achieved {mine['rate']:.0f}/s "
                          f"vs {peer['rate']:.0f}/s") + failed))
    return rows
