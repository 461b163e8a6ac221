"""`monitor run`: the long-running service that ties the pieces together.

Start-up order: open the store, build the runner, start the scheduler, then
wait for a signal. SIGINT/SIGTERM stop cleanly: no new runs start, in-flight
runs get `shutdown_grace` seconds to finish, and the store writer as long
again to store what it holds; the rest are cancelled or given up, and logged
(a cancelled run writes nothing, so the database stays whole).
SIGHUP reloads the config; a broken new config is refused and the old one
keeps running.

The database has two connections: `store` on the event loop, for reads (the
status page, alert delivery), and `writer.store` on the store writer's
thread, which does every write of the running service (runs, incidents,
outbox, retention), so that the loop never waits on the disk. Every few
seconds `store_watch` looks at the file from a new connection, as another
process would, checkpoints it, and reports in `health["database"]` when the
file stops showing what the service wrote (monitor/core/store_watch.py). The
database is only ever opened through SQLite; `monitor run` holds it for
itself with monitor/core/service_lock.py.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from monitor.app.artifact_claim import remove_unclaimed
from monitor.app.config import load_config
from monitor.app.database import open_store
from monitor.app.runner import ResultListener, Runner
from monitor.app.scheduler import CheckScheduler
from monitor.app.workers import WorkerPool
from monitor.core.config import Check, Config, ConfigError
from monitor.core.results import Result, utcnow
from monitor.core.store import Store, retention_cutoff
from monitor.core.store_watch import EVERY as WATCH_EVERY
from monitor.core.store_watch import StoreWatch
from monitor.core.store_writer import StoreWriter
from monitor.core.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("monitor.service")


class ServicePart(Protocol):
    """Something that lives as long as the service (alerts, metrics server)."""

    async def start(self, service: Service) -> None: ...

    async def stop(self) -> None: ...

    def on_reload(self, config: Config) -> None: ...


class Service:
    """The running monitor. Parts reach shared things through it: store, runner,
    telemetry, and `health`, where each part registers a function that returns
    None when that part is healthy, else a sentence saying what is wrong."""

    def __init__(self, config: Config, *, store: Store | None = None, writer: StoreWriter | None = None,
                 listeners: list[ResultListener] | None = None,
                 stored_listeners: list[ResultListener] | None = None,
                 parts: list[ServicePart] | None = None,
                 telemetry: Telemetry = NO_TELEMETRY,
                 shutdown_grace: float = 10.0, log_format: str = "text"):
        self.config = config
        self.telemetry = telemetry
        self.store = store or open_store(config.monitor.database)
        self.writer = writer or service_writer(self.store.path, telemetry)
        self.runner = Runner(config, self.writer, listeners=listeners, stored_listeners=stored_listeners,
                             telemetry=telemetry)
        self.parts = list(parts or [])
        self.scheduler = CheckScheduler(self._run_job, on_lag=telemetry.scheduler_lag)
        self.shutdown_grace = shutdown_grace
        self.stopping = asyncio.Event()
        self.store_watch = StoreWatch(self.writer)
        self.health: dict[str, Callable[[], str | None]] = {
            "scheduler": self._scheduler_health,
            "database": self.database_health,
        }
        # With workers, they run the checks (monitor/app/workers.py) and this process stores what they send.
        self.pool = WorkerPool(config, config.monitor.workers, accept=self.runner.accept, telemetry=telemetry,
                               log_format=log_format) if config.monitor.workers > 1 else None
        if self.pool is not None:
            self.health["workers"] = self.pool.health
        self._inflight: set[asyncio.Task[Result]] = set()

    async def serve(self, *, install_signals: bool = True) -> None:
        """Run until `stop()` or a termination signal."""
        loop = asyncio.get_running_loop()
        if install_signals:
            loop.add_signal_handler(signal.SIGINT, self.stop)
            loop.add_signal_handler(signal.SIGTERM, self.stop)
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        for part in self.parts:
            await part.start(self)
        # Checkpoints fsync the database: the store watch does them in a thread, so the loop never waits
        # on the disk. Not awaited: a database locked at start must not hold probing back.
        self.writer.submit(self.writer.store.take_over_checkpoints)
        self.scheduler.start(self.config.checks if self.pool is None else [])
        if self.pool is not None:
            self.pool.start()
        self.every("housekeeping:retention", self.prune, seconds=3600, first_in=60)
        self.every("housekeeping:store-watch", self.store_watch.tick, seconds=WATCH_EVERY)
        log.info("monitoring %d checks from %s (location %s%s%s)", len(self.config.checks),
                 self.config.path, self.config.monitor.location,
                 "" if self.config.monitor.shard.whole else f", shard {self.config.monitor.shard}",
                 "" if self.pool is None else f", {self.pool.count} workers")
        try:
            await self.stopping.wait()
        finally:
            await self._shutdown()

    def stop(self) -> None:
        self.stopping.set()

    def every(self, job_id: str, func: Callable[[], Awaitable[object]], seconds: float,
              first_in: float = 0.0) -> None:
        """Run the coroutine `func` every `seconds` (first after `first_in`) while the service runs."""
        self.scheduler.add_job(job_id, func, seconds=seconds, first_in=first_in)

    def reload(self, path: Path | None = None) -> bool:
        """Re-read the config; apply it only when valid. Return whether it was applied."""
        path = path or self.config.path
        try:
            # This service's shard stays (a --shard given at start, or the file's at start: see below).
            new = load_config(path).for_shard(self.config.monitor.shard)
        except ConfigError as exc:
            log.error("reload refused, still running the previous config:\n%s", exc)
            return False
        old_checks = {c.name: c for c in self.config.checks}
        changed = {c.name for c in new.checks if c.name in old_checks and old_checks[c.name] != c}
        if new.monitor != self.config.monitor:
            log.warning("[monitor] settings changed; they take effect after a restart")
        self.config = new
        self.runner.config = new
        if self.pool is None:
            self.scheduler.set_checks(new.checks, changed=changed)
        else:
            self.pool.reload(new)
        for part in self.parts:
            part.on_reload(new)
        log.info("reloaded %s: %d checks", path, len(new.checks))
        return True

    async def prune(self) -> int:
        """Delete runs past `retention_days` (and their artifacts), in short batches, and the
        artifacts of runs never stored that are as old."""
        cutoff = retention_cutoff(utcnow(), self.config.monitor.retention_days)
        total = 0
        while True:
            deleted, paths = await self.writer.call(lambda: self.writer.store.prune_batch(cutoff))
            total += deleted
            for rel in paths:
                _remove_artifact(self.config.monitor.artifacts_dir, rel)
            if deleted == 0:
                break
        unclaimed = await asyncio.to_thread(remove_unclaimed, self.config.monitor.artifacts_dir, cutoff.timestamp())
        if unclaimed:
            log.info("deleted the artifacts of %d run(s) that were never stored", unclaimed)
        return total

    def database_health(self) -> str | None:
        """None while the database takes the service's writes and holds them; else what is wrong."""
        return "; ".join(p for p in (self.writer.health(), self.store_watch.problem()) if p) or None

    def unhealthy(self) -> dict[str, str]:
        """Each unhealthy part with what is wrong; empty when all is well."""
        problems = {}
        for name, probe in self.health.items():
            try:
                problem = probe()
            except Exception as exc:  # a health probe that breaks is itself unhealthy
                problem = f"health check failed: {exc}"
            if problem:
                problems[name] = problem
        return problems

    def _scheduler_health(self) -> str | None:
        silent = time.monotonic() - self.scheduler.last_tick
        return f"the scheduler has not ticked for {silent:.0f}s" if silent > 10 else None

    async def _run_job(self, check: Check) -> None:
        if self.stopping.is_set():
            return
        task = asyncio.create_task(self.runner.run_check(check))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        # Shielded: stopping the scheduler must not cut a run short; _shutdown decides.
        await asyncio.shield(task)

    async def _shutdown(self) -> None:
        self.scheduler.shutdown()
        if self.pool is not None:  # their runs in flight end and are accepted meanwhile
            await self.pool.stop(self.shutdown_grace)
        if self._inflight:
            log.info("waiting up to %gs for %d running checks", self.shutdown_grace, len(self._inflight))
            done, pending = await asyncio.wait(set(self._inflight), timeout=self.shutdown_grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        # Store what the runs left before the parts stop, so their incidents
        # and notices are written (what is not delivered now goes out at the
        # next start), and close the writer after, so that a delivery in
        # flight is still recorded as delivered.
        await asyncio.to_thread(self.writer.flush, self.shutdown_grace)
        for part in reversed(self.parts):
            await part.stop()
        await self.runner.close()
        await asyncio.to_thread(self.writer.close, 1.0)
        self.store.close()
        log.info("stopped")


def _remove_artifact(root: Path, rel: str) -> None:
    path = (root / rel).resolve()
    if root.resolve() in path.parents and path.is_file():
        path.unlink(missing_ok=True)
        # Remove the run's folder once it is empty.
        try:
            path.parent.rmdir()
        except OSError:
            pass


def build_service(config: Config, log_format: str = "text") -> Service:
    """The service `monitor run` starts: every part wired to the config."""
    from prometheus_client import CollectorRegistry

    from alerts.part import Alerts
    from alerts.state_store import AlertStore
    from monitor.app.clock_watch import ClockWatch
    from monitor.app.metrics import Metrics
    from monitor.app.server import MonitorServer

    metrics = Metrics(CollectorRegistry(), config)
    store = open_store(config.monitor.database)
    writer = service_writer(store.path, metrics)
    alerts = Alerts(config, store=AlertStore(store.db), writer=writer, telemetry=metrics)
    # Alerts count stored runs (and need their ids); metrics want each result at once.
    return Service(config, store=store, writer=writer, telemetry=metrics, listeners=[metrics],
                   stored_listeners=[alerts], parts=[alerts, metrics, MonitorServer(metrics), ClockWatch()],
                   log_format=log_format)


def service_writer(path: str, telemetry: Telemetry) -> StoreWriter:
    """The store writer of `monitor run`: a connection of its own, refusals and losses reported."""
    return StoreWriter(open_store(path), on_error=telemetry.store_error, on_lost=telemetry.store_lost)
