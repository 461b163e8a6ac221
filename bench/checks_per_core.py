"""HTTP checks per core: many real HTTP checks at a 1-minute interval in one `monitor run`, on time.

15,000 checks every 60 s against nginx (250 probes/s) in one process (the
real `build_service`, its HTTP probe wrapped only to note when each run
starts). After the first interval (start-up adds the jobs), each run's start
is compared with its plan, and the process's CPU over that time gives the
cores it needs: checks per core = checks / cores used. The peer is
blackbox_exporter probing the same target at the same rate: 60 s divided by
its CPU per probe is how many 1-minute checks one of its cores would carry.
"""

from __future__ import annotations

from bench.context import BenchContext
from bench.http_throughput import blackbox
from bench.procs import PeerMissing
from bench.report import Row, percentile

NAME = "HTTP checks per core"


def run(ctx: BenchContext) -> list[Row]:
    checks, interval, first, steady = ctx.size((300, 2, 2.5, 4.0), (15_000, 60, 62.0, 90.0))
    rate = checks / interval
    with ctx.fast_target() as (base, target_name):
        url = base + "/"
        ctx.log(f"{NAME}: {checks:,} HTTP checks every {interval}s for {first + steady:g}s")
        # The window opens after the first interval: every check has started once.
        out = ctx.run_monitor([{"prefix": "load", "url": url, "count": checks, "interval": interval}],
                              first, steady, record_starts=True)
        try:
            ctx.log(f"{NAME}: blackbox_exporter at {rate:g}/s")
            peer = blackbox(ctx, url, round(rate), min(1.0, first), ctx.size(2.0, 12.0))
            peer_per_core, missing = interval / (peer["cpu"] / 1000), ""
        except PeerMissing as exc:
            peer_per_core, missing = None, str(exc)
    starts = out["starts"]
    cores = out["cpu_seconds"] / out["seconds"]
    per_core = checks / cores if cores > 0 else float("inf")
    p99 = percentile(starts["steady_lags"], 99)
    failed = out["groups"]["load"]["failed"]
    on_time = p99 < 1.0 and starts["missed"] + starts["doubled"] == 0
    return [
        Row(NAME, f"HTTP checks per core, {interval}s interval, p99 start lag < 1 s", per_core, "",
            peer=peer_per_core, peer_name="blackbox, same rate", goal=">= 15,000",
            met=on_time and per_core >= 15_000,
            note=(missing + "; " if missing else "") +
                 f"{checks:,} checks in one process used {cores:.2f} cores; p99 start lag after the first "
                 f"interval {1000 * p99:.0f} ms (max {1000 * max(starts['steady_lags'], default=0):.0f} ms), "
                 f"{starts['missed']} missed, {starts['doubled']} doubled; {out['runs']:,} runs stored at "
                 f"{out['runs'] / out['seconds']:.0f}/s, target {target_name}"
                 + (f"; {failed} failed" if failed else "")),
    ]
