"""`[monitor] workers = N`: N processes probe a share of the checks each; the supervisor stores, alerts and serves.

One event loop tops out near 400-480 HTTP probes/s on this hardware,
spending most of its CPU in the HTTP stack, and one Chromium serves one
process's journeys. With `workers = N`, `monitor run` becomes a supervisor
with N worker processes:

- Each worker (`worker_main`) runs the checks that rendezvous hashing deals
  it (monitor/core/sharding.py, with a salt of its own): its own event loop,
  scheduler, probes and browser. It sends each run's `Result` to the
  supervisor the moment the run ends, with its scheduler lag, browser
  restarts and a heartbeat every second (the messages of one turn of its
  loop go as one write: at hundreds of runs a second, a pipe write and a
  wake-up of the supervisor's loop per message were a tenth of its CPU),
  and exits when told to stop or when the supervisor goes away.
- The supervisor (`WorkerPool`, inside the service) hands each result to
  the runner's `accept`: the same way a run probed in the service itself
  goes, metrics at once, then the store writer, then the alerts. So one
  process writes the database (its writer batches every worker's runs into
  shared commits), incidents and the outbox keep their single writer, and
  `/metrics` and `/healthz` speak for every worker.
- A worker that dies is started again after 1 s, doubling up to 30 s while
  it keeps dying; `/healthz` names it while it is down or silent. A run in
  flight when it died is lost (it was never a stored run); the others are
  stored, since each was sent as it ended. SIGHUP's new config reaches the
  workers over the pipe; SIGTERM lets their runs in flight finish first.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from monitor.app import event_loop
from monitor.app.clock_watch import ClockWatch
from monitor.app.logs import setup_logging
from monitor.app.runner import Prober
from monitor.app.scheduler import CheckScheduler
from monitor.core.config import Check, Config
from monitor.core.results import Result
from monitor.core.sharding import split
from monitor.core.telemetry import Telemetry

log = logging.getLogger("monitor.workers")

SALT = "worker"  # workers split a monitor's checks differently from how shards split the file's
HEARTBEAT = 1.0  # seconds between a worker's "alive" messages
SILENT_AFTER = 10.0  # a worker not heard from this long is reported by /healthz
RESTART_DELAYS = (1.0, 30.0)  # first wait before starting a dead worker again, and the longest
STABLE_AFTER = 60.0  # a worker up this long had recovered: its next death waits the first delay again


def worker_share(config: Config, index: int, count: int) -> Config:
    """The config worker `index` (1-based) of `count` runs: its share of the checks."""
    mine = set(split([c.name for c in config.checks], count, SALT)[index - 1])
    return replace(config, checks=tuple(c for c in config.checks if c.name in mine))


# --- the worker process -----------------------------------------------------------------------


def worker_main(conn: Connection, config: Config, index: int, count: int, log_format: str) -> None:
    """A worker process's entry point (multiprocessing, spawn)."""
    # Ctrl-C reaches the whole process group: the supervisor decides, and tells us over the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    setup_logging(log_format, secrets=config.secrets)
    event_loop.run(Worker(conn, config, index, count).serve(), config.monitor.event_loop)


class PipeTelemetry(Telemetry):
    """What a worker's scheduler and browser report, sent to the supervisor's telemetry."""

    def __init__(self, send: Callable[[tuple[Any, ...]], None]):
        self._send = send

    def scheduler_lag(self, seconds: float) -> None:
        self._send(("lag", seconds))

    def admission_wait(self, seconds: float) -> None:
        self._send(("admission", seconds))

    def browser_restarted(self) -> None:
        self._send(("browser_restarted",))


class Worker:
    """The checks of one share on a loop of their own; every result goes to the supervisor."""

    def __init__(self, conn: Connection, config: Config, index: int, count: int, grace: float = 10.0):
        self.conn = conn
        self.index, self.count, self.grace = index, count, grace
        self.config = worker_share(config, index, count)
        self.telemetry = PipeTelemetry(self._send)
        self.prober = Prober(self.config, telemetry=self.telemetry)
        self.scheduler = CheckScheduler(self._run, on_lag=self.telemetry.scheduler_lag)
        self.clock_watch = ClockWatch()
        self.stopping = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._outgoing: list[tuple[Any, ...]] = []  # sent together at the end of this turn of the loop

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, args=(loop,), name="supervisor pipe", daemon=True).start()
        self.scheduler.start(self.config.checks)
        self.scheduler.add_job("worker:alive", self._alive, seconds=HEARTBEAT)
        await self.clock_watch.start(self)
        log.info("worker %d/%d runs %d checks", self.index, self.count, len(self.config.checks))
        try:
            await self.stopping.wait()
        finally:
            await self._shutdown()

    async def _run(self, check: Check) -> None:
        if self.stopping.is_set():
            return
        task = asyncio.create_task(self._probe_and_send(check))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        await asyncio.shield(task)  # the scheduler's cancellation at shutdown must not cut the run short

    async def _probe_and_send(self, check: Check) -> None:
        result = await self.prober.probe(check)
        self._send(("result", check.name, result))

    async def _alive(self) -> None:
        self._send(("alive",))

    def _send(self, message: tuple[Any, ...]) -> None:
        """Queue `message` for the supervisor; the loop's next turn sends what queued meanwhile in one write."""
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(message)

    def _flush(self) -> None:
        messages, self._outgoing = self._outgoing, []
        if not messages or self.conn.closed:
            return
        try:
            self.conn.send(messages)
        except (OSError, ValueError):  # the supervisor is gone: nobody to probe for
            self.stopping.set()
        except Exception:  # one of them cannot be pickled: the others still go, one by one
            for message in messages:
                try:
                    self.conn.send([message])
                except (OSError, ValueError):
                    self.stopping.set()
                    return
                except Exception:
                    log.exception("could not send a %r message to the supervisor", message[0])

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        """On its own thread: the supervisor's messages, until it says stop or goes away."""
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                loop.call_soon_threadsafe(self.stopping.set)
                return
            loop.call_soon_threadsafe(self._on_message, message)

    def _on_message(self, message: tuple[Any, ...]) -> None:
        if message[0] == "stop":
            self.stopping.set()
        elif message[0] == "reload":
            new = worker_share(message[1], self.index, self.count)
            old = {c.name: c for c in self.config.checks}
            changed = {c.name for c in new.checks if c.name in old and old[c.name] != c}
            self.config = new
            self.prober.config = new
            self.scheduler.set_checks(new.checks, changed=changed)

    async def _shutdown(self) -> None:
        self.scheduler.shutdown()
        if self._inflight:
            done, pending = await asyncio.wait(set(self._inflight), timeout=self.grace)
            for task in pending:
                task.cancel()
        await self.clock_watch.stop()
        await self.prober.close()
        self._flush()
        self.conn.close()


# --- the supervisor's side --------------------------------------------------------------------


@dataclass
class _Handle:
    process: BaseProcess
    conn: Connection
    started: float
    heard: float
    deaths: int = 0  # in a row, for the backoff
    exitcode: int | None = None


class WorkerPool:
    """The supervisor's worker processes: started, watched, restarted, reloaded and stopped from its loop.

    `accept(check, result)` is called on the loop for each run a worker ends
    (for a check of the current config); `telemetry` hears the workers'
    scheduler lag and browser restarts.
    """

    def __init__(self, config: Config, count: int, *, accept: Callable[[Check, Result], object],
                 telemetry: Telemetry, log_format: str = "text"):
        self.config = config
        self.count = count
        self.accept = accept
        self.telemetry = telemetry
        self.log_format = log_format
        self._checks = {c.name: c for c in config.checks}
        self._workers: dict[int, _Handle] = {}
        self._context = multiprocessing.get_context("spawn")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for index in range(1, self.count + 1):
            self._spawn(index)

    def pids(self) -> list[int]:
        return [h.process.pid for h in self._workers.values() if h.process.pid is not None]

    def reload(self, config: Config) -> None:
        self.config = config
        self._checks = {c.name: c for c in config.checks}
        for handle in self._workers.values():
            self._tell(handle, ("reload", config))

    async def stop(self, grace: float) -> None:
        """Tell every worker to stop, let their runs in flight end (and be accepted), then make sure they are gone."""
        self._stopping = True
        for handle in self._workers.values():
            self._tell(handle, ("stop",))
        processes = [h.process for h in self._workers.values()]
        await asyncio.to_thread(_join_all, processes, grace + 5)
        for process in processes:
            if process.is_alive():
                log.error("worker %s did not stop within %gs; killing it", process.name, grace + 5)
                process.kill()

    def health(self) -> str | None:
        """None while every worker lives and talks; else which does not."""
        now = time.monotonic()
        problems = []
        for index, handle in sorted(self._workers.items()):
            if not handle.process.is_alive():
                problems.append(f"worker {index} is down (exit code {handle.exitcode}), starting it again")
            elif now - handle.heard > SILENT_AFTER:
                problems.append(f"worker {index} has been silent for {now - handle.heard:.0f}s")
        return "; ".join(problems) or None

    def _spawn(self, index: int, deaths: int = 0) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=worker_main, name=f"monitor worker {index}",
                                        args=(child, self.config, index, self.count, self.log_format), daemon=True)
        process.start()
        child.close()
        now = time.monotonic()
        handle = _Handle(process, parent, now, now, deaths)
        self._workers[index] = handle
        threading.Thread(target=self._read, args=(index, handle), name=f"worker {index} pipe", daemon=True).start()

    def _read(self, index: int, handle: _Handle) -> None:
        """On its own thread: worker `index`'s messages, until its pipe closes (it stopped or died)."""
        assert self._loop is not None
        try:
            while True:
                try:
                    messages = handle.conn.recv()
                except (EOFError, OSError):
                    break
                self._loop.call_soon_threadsafe(self._on_messages, handle, messages)
            handle.process.join()
            self._loop.call_soon_threadsafe(self._exited, index, handle)
        except RuntimeError:  # the service's loop has closed: it stopped, and nobody needs to hear of it
            return

    def _on_messages(self, handle: _Handle, messages: list[tuple[Any, ...]]) -> None:
        handle.heard = time.monotonic()
        for message in messages:
            try:
                self._on_message(message)
            except Exception:  # one message's trouble must not cost the rest of the batch
                log.exception("could not take a %r message from a worker", message[0])

    def _on_message(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "result":
            check = self._checks.get(message[1])
            if check is not None:  # else a run in flight when a reload removed its check
                self.accept(check, message[2])
        elif kind == "lag":
            self.telemetry.scheduler_lag(message[1])
        elif kind == "admission":
            self.telemetry.admission_wait(message[1])
        elif kind == "browser_restarted":
            self.telemetry.browser_restarted()

    def _exited(self, index: int, handle: _Handle) -> None:
        handle.exitcode = handle.process.exitcode
        if self._stopping or self._workers.get(index) is not handle:
            return
        deaths = 1 if time.monotonic() - handle.started > STABLE_AFTER else handle.deaths + 1
        delay = min(RESTART_DELAYS[1], RESTART_DELAYS[0] * 2 ** (deaths - 1))
        log.error("worker %d exited (code %s); starting it again in %gs", index, handle.exitcode, delay)
        assert self._loop is not None
        self._loop.call_later(delay, self._respawn, index, handle, deaths)

    def _respawn(self, index: int, dead: _Handle, deaths: int) -> None:
        if not self._stopping and self._workers.get(index) is dead:
            self._spawn(index, deaths)

    @staticmethod
    def _tell(handle: _Handle, message: tuple[Any, ...]) -> None:
        try:
            handle.conn.send(message)
        except (OSError, ValueError):  # dead: its reader thread reports the exit
            pass


def _join_all(processes: list[BaseProcess], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
