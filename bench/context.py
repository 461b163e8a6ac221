"""What every benchmark receives: the mode, a scratch folder, a progress log, and shared helpers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import procs


@dataclass
class BenchContext:
    quick: bool
    workdir: Path
    log: Callable[[str], None] = lambda message: None

    def size(self, quick, full):
        """`quick` in smoke mode, `full` otherwise."""
        return quick if self.quick else full

    @contextmanager
    def fast_target(self) -> Iterator[tuple[str, str]]:
        """The fast HTTP target: nginx for real runs, our asyncio server in smoke mode.

        Yields (base URL, name). Smoke mode must not need nginx, so CI runs it anywhere.
        """
        if self.quick:
            with procs.target_server(self.workdir) as (url, _):
                yield url, "python asyncio target"
        else:
            with procs.nginx(self.workdir) as (url, _):
                yield url, "nginx"

    def run_monitor(self, groups: list[dict], warmup: float, window: float, **extra) -> dict:
        """Run `monitor run` on `groups` of checks in a worker process; see bench.monitor_worker.

        With `workers` > 1 the warm-up gets 2 s more: worker processes start in about 1.5 s.
        """
        if extra.get("workers", 1) > 1:
            warmup += 2
        spec = {"workdir": str(self.workdir), "database": str(self.workdir / f"monitor-{len(groups)}-{id(groups)}.db"),
                "groups": groups, "warmup": warmup, "window": window, **extra}
        done = subprocess.run([sys.executable, "-m", "bench.monitor_worker", json.dumps(spec)],
                              capture_output=True, text=True, timeout=warmup + window + 120)
        if done.returncode != 0:
            raise RuntimeError(f"monitor worker failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
