"""`monitor run` in a process of its own, measured over a window.

The parent passes a JSON spec: groups of identical HTTP checks (name prefix,
URL, how many, interval), a warm-up and a measuring window, and optionally
`workers` (CPU is then counted over the worker processes too), and
`record_starts` (each run's start against its plan, see `StartRecorder`). The worker writes
the config file, builds the service exactly as `monitor run` does
(`build_service`: scheduler, runner, store and whatever parts this build has,
metrics included when present), logs like `monitor run` (to /dev/null), and
prints one JSON line: runs stored and CPU seconds in the window, and each
group's reported durations. Counting stored rows makes the figure end to
end: a probe counts once its result is in SQLite.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from bench.procs import free_port, tree_cpu_seconds
from monitor.app import event_loop


def config_text(spec: dict) -> str:
    lines = ["[monitor]", f'database = "{spec["database"]}"', f'listen = "127.0.0.1:{free_port()}"',
             f'max_concurrency = {spec.get("max_concurrency", 100)}', f'workers = {spec.get("workers", 1)}',
             f'event_loop = "{spec.get("event_loop", "auto")}"', ""]
    for group in spec["groups"]:
        for i in range(group["count"]):
            lines += ["[[checks]]", f'name = "{group["prefix"]}-{i}"', f'url = "{group["url"]}"',
                      f'interval = "{group["interval"]}s"', 'timeout = "5s"', ""]
    return "\n".join(lines)


class StartRecorder:
    """Wraps the HTTP probe: when each check's runs began (monotonic seconds), then the real probe."""

    def __init__(self, probe) -> None:
        self.probe = probe
        self.starts: dict[str, list[float]] = {}

    async def run(self, check):
        self.starts.setdefault(check.name, []).append(time.monotonic())
        return await self.probe.run(check)

    async def close(self) -> None:
        await self.probe.close()


def _max_id(store) -> int:
    return store.db.execute("select coalesce(max(id), 0) from runs").fetchone()[0]


async def measure(spec: dict) -> dict:
    from monitor.app.config import load_config
    from monitor.app.logs import setup_logging
    from monitor.app.service import build_service

    path = Path(spec["workdir"]) / "bench-monitor.toml"
    path.write_text(config_text(spec))
    config = load_config(path)
    setup_logging("text", secrets=config.secrets, stream=open("/dev/null", "w"))
    service = build_service(config)
    recorder = None
    if spec.get("record_starts"):
        recorder = service.runner.probes["http"] = StartRecorder(service.runner.probes["http"])
    started = time.monotonic()
    serving = asyncio.create_task(service.serve(install_signals=False))
    try:
        await asyncio.sleep(spec["warmup"])
        first_id, cpu0, t0 = _max_id(service.store), tree_cpu_seconds(), time.monotonic()
        await asyncio.sleep(spec["window"])
        last_id, cpu1, t1 = _max_id(service.store), tree_cpu_seconds(), time.monotonic()
        durations = {}
        for group in spec["groups"]:
            rows = service.store.db.execute(
                "select duration_ms, ok from runs where id > ? and id <= ? and check_name like ?",
                [first_id, last_id, group["prefix"] + "-%"]).fetchall()
            durations[group["prefix"]] = {"durations_ms": [d for d, _ in rows], "failed": sum(not ok for _, ok in rows)}
    finally:
        service.stop()
        await serving
    out = {"runs": last_id - first_id, "seconds": t1 - t0, "cpu_seconds": cpu1 - cpu0, "groups": durations}
    if recorder is not None:
        from bench.scheduling import start_lags

        out["starts"] = start_lags(recorder.starts, config.checks, started, t1 - started)
    return out


def main() -> None:
    spec = json.loads(sys.argv[1])
    print(json.dumps(event_loop.run(measure(spec), spec.get("event_loop", "auto"))))


if __name__ == "__main__":
    main()
