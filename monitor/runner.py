"""Run one check: probe it, store the result, tell the listeners.

Shared by `monitor check` (each check once, now) and `monitor run` (on a
schedule). Listeners are how alerts and metrics plug in: each receives every
stored `Result` and must not raise into the runner.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Callable, Protocol

from monitor.artifact_claim import claim_artifacts
from monitor.config import Check, Config
from monitor.redact import redact
from monitor.results import Result, utcnow
from monitor.telemetry import NO_TELEMETRY, Telemetry
from probes import build_probes
from probes.base import Probe, ProbeContext

log = logging.getLogger("monitor.runs")


class ResultListener(Protocol):
    def on_result(self, check: Check, result: Result) -> None: ...


class Runner:
    """Owns the probes and the global concurrency limit of one monitor process."""

    def __init__(self, config: Config, store, *, probes: dict[str, Probe] | None = None,
                 listeners: list[ResultListener] | None = None,
                 on_store_error: Callable[[Exception], None] | None = None,
                 telemetry: Telemetry = NO_TELEMETRY):
        self.config = config
        self.store = store
        self.probes = probes if probes is not None else build_probes(probe_context(config, telemetry))
        self.listeners = list(listeners or [])
        self.on_store_error = on_store_error
        self._limit = asyncio.Semaphore(config.monitor.max_concurrency)

    async def run_check(self, check: Check) -> Result:
        """Probe `check` once, record and announce the result, and return it."""
        async with self._limit:
            result = await self._probe(check)
        self._record(result)
        for listener in self.listeners:
            try:
                listener.on_result(check, result)
            except Exception:  # a broken listener must not stop probing
                log.exception("result listener %r failed for %s", listener, check.name)
        log_result(result)
        return result

    async def run_many(self, checks: list[Check], on_done: Callable[[Result], None] | None = None) -> list[Result]:
        """Run `checks` concurrently; results come back in the order of `checks`."""
        async def one(check: Check) -> Result:
            result = await self.run_check(check)
            if on_done:
                on_done(result)
            return result

        return list(await asyncio.gather(*(one(c) for c in checks)))

    async def close(self) -> None:
        for probe in self.probes.values():
            await probe.close()

    async def _probe(self, check: Check) -> Result:
        try:
            return await self.probes[check.type].run(check)
        except Exception as exc:  # a probe bug is reported as a failed run, not a crash
            log.exception("probe %s crashed on %s", check.type, check.name)
            return Result(check=check.name, type=check.type, location=self.config.monitor.location,
                          target=check.url, started_at=utcnow(), duration_ms=0.0, ok=False,
                          failure=redact(f"monitor error: {type(exc).__name__}: {exc}", self.config.secrets))

    def _record(self, result: Result) -> None:
        try:
            self.store.record(result)
            if result.artifacts:
                result.artifacts = claim_artifacts(self.config.monitor.artifacts_dir, self.store,
                                                   result.run_id, result.artifacts)
        except OSError as exc:
            log.error("could not move the artifacts of %s run %s: %s", result.check, result.run_id, exc)
        except sqlite3.Error as exc:
            # The monitor's own disk is not the target's fault: never alert on it.
            log.error("could not store the result of %s: %s", result.check, exc)
            if self.on_store_error:
                self.on_store_error(exc)


def probe_context(config: Config, telemetry: Telemetry = NO_TELEMETRY) -> ProbeContext:
    return ProbeContext(location=config.monitor.location, secrets=config.secrets,
                        artifacts_dir=config.monitor.artifacts_dir, browser=config.browser,
                        telemetry=telemetry)


def log_result(result: Result) -> None:
    extra = {"check": result.check, "ok": result.ok, "duration_ms": result.duration_ms,
             "status_code": result.status_code, "failure": result.failure, "run_id": result.run_id}
    if result.ok:
        log.info("%s ok in %.0fms", result.check, result.duration_ms, extra={"fields": extra})
    else:
        log.warning("%s FAILED in %.0fms: %s", result.check, result.duration_ms, result.failure,
                    extra={"fields": extra})
