"""Run one check: probe it, tell the listeners, hand the result to the store writer.

Shared by `monitor check` (each check once, now) and `monitor run` (on a
schedule). Listeners are how metrics and alerts plug in, and there are two
kinds. `listeners` hear of every `Result` on the event loop as soon as the
probe ends (metrics: nothing to wait for). `stored_listeners` hear of it on
the store writer's thread once the run is stored and has its id (alerts: an
incident and its notices are written after the run they count). Neither
kind may raise into the runner. A run's storing never holds the loop: a
locked or full database delays it (see monitor/core/store_writer.py), and the
next probes start on time meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from functools import partial
from typing import Protocol

from monitor.app.artifact_claim import claim_artifacts, discard_artifacts
from monitor.core.config import Check, Config
from monitor.core.redact import redact
from monitor.core.results import Result, utcnow
from monitor.core.store_writer import Batched, StoreWriter
from monitor.core.telemetry import NO_TELEMETRY, Telemetry
from probes import build_probes
from probes.base import TRY, Probe, ProbeContext

log = logging.getLogger("monitor.runs")


class ResultListener(Protocol):
    def on_result(self, check: Check, result: Result) -> None: ...


class Prober:
    """The probes and the concurrency limit of one process: `probe(check)` gives the run's `Result`.

    A run is the last of up to `check.retries + 1` tries (see `probe`). In
    `monitor run` with worker processes, each worker has a prober of its
    own and hands its results to the supervisor's runner (monitor/app/workers.py).
    """

    def __init__(self, config: Config, *, probes: dict[str, Probe] | None = None,
                 telemetry: Telemetry = NO_TELEMETRY):
        self.config = config
        self.probes = probes if probes is not None else build_probes(probe_context(config, telemetry))
        self._limit = asyncio.Semaphore(config.monitor.max_concurrency)

    async def probe(self, check: Check) -> Result:
        """Probe `check`; while it fails, at once again, up to `check.retries` times. The last try is the run.

        The tries before it are kept in `details["retried"]` (their failure
        and the server's words), so a run that passed on a retry still shows
        the failure that a single try would have paged for. Their artifacts
        are not kept: the run's are its last try's.
        """
        async with self._limit:
            result = await self._probe(check)
            earlier: list[Result] = []
            while not result.ok and len(earlier) < check.retries:
                earlier.append(result)
                result = await self._probe(check, len(earlier))
        if earlier:
            result.details["retried"] = [{"started_at": r.started_at.isoformat(), "failure": r.failure,
                                          "error_text": r.error_text, "status_code": r.status_code}
                                         for r in earlier]
            for r in earlier:
                discard_artifacts(self.config.monitor.artifacts_dir, r.artifacts)
        return result

    async def close(self) -> None:
        for probe in self.probes.values():
            await probe.close()

    async def _probe(self, check: Check, attempt: int = 0) -> Result:
        token = TRY.set(attempt)
        try:
            return await self.probes[check.type].run(check)
        except Exception as exc:  # a probe bug is reported as a failed run, not a crash
            log.exception("probe %s crashed on %s", check.type, check.name)
            return Result(check=check.name, type=check.type, location=self.config.monitor.location,
                          target=check.target, started_at=utcnow(), duration_ms=0.0, ok=False,
                          failure=redact(f"monitor error: {type(exc).__name__}: {exc}", self.config.secrets))
        finally:
            TRY.reset(token)


class Runner:
    """One process's way from a check to a stored run: its prober, then `accept` (listeners, the store writer)."""

    def __init__(self, config: Config, writer: StoreWriter, *, probes: dict[str, Probe] | None = None,
                 listeners: list[ResultListener] | None = None,
                 stored_listeners: list[ResultListener] | None = None,
                 telemetry: Telemetry = NO_TELEMETRY):
        self.writer = writer
        self.prober = Prober(config, probes=probes, telemetry=telemetry)
        self.listeners = list(listeners or [])
        self.stored_listeners = list(stored_listeners or [])

    @property
    def config(self) -> Config:
        return self.prober.config

    @config.setter
    def config(self, config: Config) -> None:
        self.prober.config = config

    @property
    def probes(self) -> dict[str, Probe]:
        return self.prober.probes

    @probes.setter
    def probes(self, probes: dict[str, Probe]) -> None:
        self.prober.probes = probes

    async def run_check(self, check: Check, *, wait_stored: bool = False) -> Result:
        """Probe `check` once, announce the result, queue it for storing, and return it.

        With `wait_stored`, return only once it is stored (or given up), so
        that `run_id` and the final artifact paths are set: what a one-off
        command prints.
        """
        result = await self.prober.probe(check)
        stored = self.accept(check, result)
        if wait_stored:
            try:
                await asyncio.wrap_future(stored)
            except Exception:  # the writer logged and counted it; the result itself stands
                pass
        return result

    def accept(self, check: Check, result: Result) -> Future[object]:
        """Tell the listeners of a run probed here or in a worker, log it, and queue it for storing."""
        for listener in self.listeners:
            _tell(listener, check, result)
        log_result(result)
        return self.writer.submit(*self._store_steps(check, result))

    async def run_many(self, checks: list[Check], on_done: Callable[[Result], None] | None = None, *,
                       wait_stored: bool = False) -> list[Result]:
        """Run `checks` concurrently; results come back in the order of `checks`."""
        async def one(check: Check) -> Result:
            result = await self.run_check(check, wait_stored=wait_stored)
            if on_done:
                on_done(result)
            return result

        return list(await asyncio.gather(*(one(c) for c in checks)))

    async def close(self) -> None:
        await self.prober.close()

    def _store_steps(self, check: Check, result: Result) -> list[Callable[[], object]]:
        """The writer's steps for one run, each safe to retry on its own: the run row, its
        artifacts' final home, then the listeners that need the stored run."""
        store = self.writer.store

        def stored(run_id: int) -> None:
            result.run_id = run_id

        # Batched: the rows of runs that finish together share one commit.
        steps: list[Callable[[], object]] = [Batched(lambda: store.insert_run(result), then=stored)]
        if result.artifacts:
            steps.append(lambda: self._move_artifacts(result))
            steps.append(lambda: self._save_artifact_paths(result))
        # Unwrapped: the writer retries what the database refuses for now, and logs the rest.
        steps.extend(partial(listener.on_result, check, result) for listener in self.stored_listeners)
        return steps

    def _move_artifacts(self, result: Result) -> None:
        if result.run_id is None:  # not stored: the files stay where the probe left them
            return
        try:
            result.artifacts = claim_artifacts(self.config.monitor.artifacts_dir, result.run_id, result.artifacts)
        except OSError as exc:
            log.error("could not move the artifacts of %s run %s: %s", result.check, result.run_id, exc)

    def _save_artifact_paths(self, result: Result) -> None:
        if result.run_id is not None:
            self.writer.store.replace_artifacts(result.run_id, result.artifacts)


async def run_once_stored(config: Config, check: Check, probes: dict[str, Probe] | None = None) -> Result:
    """A one-off command's run of `check` (`monitor replay`): probed (by `probes`, else the kind's own), stored
    with a command's patience, everything closed after; the command prints what it did, so the run log stays
    quiet."""
    from monitor.app.database import command_writer

    writer = command_writer(config.monitor.database)
    runner = Runner(config, writer, probes=probes)
    try:
        with runs_printed_here():
            return await runner.run_check(check, wait_stored=True)
    finally:
        await runner.close()
        writer.close()


@contextmanager
def runs_printed_here() -> Iterator[None]:
    """For a command that prints each run itself: the runner's one log line per run would say it again."""
    previous = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(previous)


def _tell(listener: ResultListener, check: Check, result: Result) -> None:
    try:
        listener.on_result(check, result)
    except Exception:  # a broken listener must not stop probing
        log.exception("result listener %r failed for %s", listener, check.name)


def probe_context(config: Config, telemetry: Telemetry = NO_TELEMETRY) -> ProbeContext:
    return ProbeContext(location=config.monitor.location, secrets=config.secrets,
                        artifacts_dir=config.monitor.artifacts_dir, sections=config.sections,
                        telemetry=telemetry)


def log_result(result: Result) -> None:
    extra = {"check": result.check, "ok": result.ok, "duration_ms": result.duration_ms,
             "status_code": result.status_code, "failure": result.failure, "run_id": result.run_id}
    if result.ok:
        log.info("%s ok in %.0fms", result.check, result.duration_ms, extra={"fields": extra})
    else:
        log.warning("%s FAILED in %.0fms: %s", result.check, result.duration_ms, result.failure,
                    extra={"fields": extra})
