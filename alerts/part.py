"""Alerts inside `monitor run`: results in, incidents and outbox rows out, deliveries in the background.

`Alerts` is both a stored-result listener and a `ServicePart`. As a
listener it runs on the store writer's thread, after the run is stored: the
result goes through the incident machine, and its changes are written with
their notices in one transaction (through `recorder`, the writer's
connection; a refused write is retried by the writer, and the state only
advances once it is written). As a part it loads the open incidents at
start, so a restart neither fires twice nor forgets a resolve, and runs one
outbox worker per channel on the event loop, reading through `store` (the
loop's connection) and writing through the writer. It registers
`service.health["alerts"]`.

A reload that changes the channels' settings (a new token, say) switches to
new channels without a restart. At start and at such a switch, the firing of
an open incident that a channel gave up on (Slack refused the token) is put
back, once, before the workers deliver anything else: a fixed token must not
greet on-call with a "still failing" that has no first message.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from alerts.channels import build_channels
from alerts.channels.base import Channel, DeliveryError, Notice, Refreshing
from alerts.incidents import REMOVED, CheckState, Event, Run, choose_group, next_state, retire
from alerts.outbox import Backoff, OutboxWorker
from alerts.state_store import AlertStore
from monitor.core.config import Check, Config
from monitor.core.results import Result, utcnow
from monitor.core.service_host import ServiceHost
from monitor.core.store import retention_cutoff
from monitor.core.store_writer import StoreWriter
from monitor.core.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("monitor.alerts")
T = TypeVar("T")

# Seconds between looks at which state-mirroring channels (Alertmanager) are due a refresh.
REFRESH_TICK = 5.0
# An undelivered notice older than this makes /healthz report the alerts part.
STUCK_AFTER = 300.0


class Alerts:
    def __init__(self, config: Config, *, store: AlertStore, writer: StoreWriter,
                 channels: list[Channel] | None = None, clock: Callable[[], datetime] = utcnow,
                 telemetry: Telemetry = NO_TELEMETRY):
        self.config = config
        self.channels = channels if channels is not None else build_channels(config)
        self.clock = clock
        self.telemetry = telemetry
        self.store = store  # the event loop's: reads
        self.recorder = AlertStore(writer.db)  # the store writer's: writes, on its thread
        self._writer = writer
        self._loop: asyncio.AbstractEventLoop | None = None  # the service's, once started
        self.states: dict[str, CheckState] = {}  # changed on the writer's thread only, after start()
        # Asked on every stored run: a set kept beside the config rather than a scan of it.
        self._configured = frozenset(c.name for c in config.checks)
        self.workers = self._workers_for(self.channels)
        self._tasks: list[asyncio.Task[None]] = []
        self._switching: asyncio.Task[None] | None = None
        self._refreshed: dict[str, float] = {}  # channel name -> monotonic time of its last refresh

    def _workers_for(self, channels: list[Channel]) -> list[OutboxWorker]:
        backoff = Backoff(self.config.alerts.retry_backoff, self.config.alerts.retry_backoff_max)
        return [OutboxWorker(self.store, channel, write=self.write, clock=self.clock, backoff=backoff,
                             telemetry=self.telemetry) for channel in channels]

    def _start_workers(self) -> None:
        """Start delivering through `self.workers`, once the firings they gave up on before are put back."""
        refired = self._writer.submit(self._refire_given_up)
        self._tasks = [asyncio.create_task(self._deliver(w, refired), name=f"outbox:{w.channel.name}")
                       for w in self.workers]

    @staticmethod
    async def _deliver(worker: OutboxWorker, first: Future[Any]) -> None:
        try:
            await asyncio.wrap_future(first)  # the firing put back goes out before the notices after it
        except Exception:  # the writer logged it; deliver what is there
            pass
        await worker.run()

    async def start(self, service: ServiceHost) -> None:
        self._loop = asyncio.get_running_loop()
        self.states = self.store.load_states([c.name for c in self.config.checks], self._depth(self.config))
        self._start_workers()
        service.health["alerts"] = self.health
        service.every("housekeeping:alerts", self.prune, seconds=3600, first_in=60)
        # At start too: a restart must not let a state-mirroring channel's alerts lapse.
        service.every("alerts:refresh", self._refresh_due, seconds=REFRESH_TICK, first_in=0.0)
        open_incidents = [s.check for s in self.states.values() if s.incident]
        if open_incidents:
            log.info("continuing open incidents: %s", ", ".join(open_incidents))
        # Not awaited: a locked database must not hold the start (the writer holds the change until it can).
        self._writer.submit(self._abandon_other_channels)
        self._writer.submit(self._retire_removed_checks)
        pending = self.store.pending_count()
        self.telemetry.outbox_pending(pending)
        if pending:
            log.info("%d alert(s) from before the restart wait in the outbox; delivering in order", pending)
        if not self.channels:
            log.warning("no alert channel configured: incidents are recorded but nobody is told")

    async def stop(self) -> None:
        if self._switching is not None:
            await self._switching
        await self._stop_workers()

    async def _stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self._tasks:
            # Let a send in flight finish, so it is not repeated after the restart.
            done, pending = await asyncio.wait(self._tasks, timeout=15)
            for task in pending:
                task.cancel()

    def on_reload(self, config: Config) -> None:
        # Policies travel with each Check; channels are switched when their settings changed.
        switch = config.alerts.destinations != self.config.alerts.destinations
        self.config = config
        self._configured = frozenset(c.name for c in config.checks)
        self._writer.submit(self._retire_removed_checks)
        if switch:
            previous = self._switching
            self._switching = self._started_loop().create_task(self._switch_channels(config, previous))

    async def _switch_channels(self, config: Config, previous: asyncio.Task[None] | None) -> None:
        """Deliver through the channels `config` sets up from now on (a send in flight finishes first)."""
        if previous is not None:
            await previous
        try:
            channels = build_channels(config)
        except Exception as exc:  # a channel that cannot be built: keep delivering through the old ones
            log.error("[alerts] channels changed, but they cannot be set up (%s); the previous ones go on", exc)
            return
        await self._stop_workers()
        self.channels = channels
        self.workers = self._workers_for(channels)
        self._writer.submit(self._abandon_other_channels)
        self._start_workers()
        log.info("[alerts] channels changed: delivering through %s", ", ".join(c.name for c in channels) or "none")

    def on_result(self, check: Check, result: Result) -> None:
        """Fold a stored result into the check's incident; write any notice to the outbox.

        Runs on the store writer's thread. A database error propagates, so
        the writer retries the whole fold once the database takes writes.
        """
        if self._loop is None or check.name not in self._configured:
            return  # not started, or a run that was in flight when a reload removed its check
        now = self.clock()
        state = self.states.get(check.name) or CheckState(check.name)
        # Silences only matter to a failing check or an open incident: a healthy
        # check (nearly every run) skips the query.
        silenced = (not result.ok or state.incident is not None) and check.name in self.recorder.silences(now)
        new, events = next_state(state, Run.from_result(result, check.labels), check.alerts, now, silenced)
        join = None
        if new.incident is not None and new.incident.id is None:  # opening now: same words as an open group?
            join = choose_group(self.recorder.group_heads(), new.incident, self.config.alerts.group_window)
        new = self.recorder.record(state, new, events, self._routed(check, now) if events else [], now, join)
        # Written: from here on nothing may raise a database error, or the
        # writer would retry this fold and count the run twice.
        self.states[check.name] = new
        self.telemetry.incident_state(check.name, new.incident is not None, new.failures)
        self._announce(events)

    async def _refresh_due(self) -> None:
        """Refresh each state-mirroring channel (Alertmanager) whose `resend_every` has passed since its last."""
        now = time.monotonic()
        for channel in list(self.channels):
            last = self._refreshed.get(channel.name)
            if isinstance(channel, Refreshing) and (last is None or now - last >= channel.resend_every):
                self._refreshed[channel.name] = now
                await self.refresh(channel)

    async def refresh(self, channel: Refreshing) -> None:
        """Hand `channel` now every incident it was told of that is open or resolved lately (read on the loop)."""
        now = self.clock()
        payloads = self.store.told_incidents(channel.name, now - timedelta(seconds=channel.resolved_for), now)
        try:
            await asyncio.to_thread(channel.refresh, [Notice.from_payload(p) for p in payloads])
        except DeliveryError as exc:  # the next round tries again; a notice of its own is retried by the outbox
            log.warning("could not re-send the alerts of %s: %s", channel.name, exc.message)

    def _routed(self, check: Check, now: datetime) -> list[str]:
        """The destinations `check`'s notices go to now: of those running (a reload switches them),
        less those silenced for it (`monitor silence NAME --channel DEST` drops that destination's notices)."""
        running = {c.name for c in self.channels}
        muted = {channel for (name, channel) in self.recorder.channel_silences(now) if name == check.name}
        return [name for name in self.config.destinations_of(check) if name in running and name not in muted]

    def _retire_removed_checks(self) -> None:
        """Close the open incidents of checks no longer configured (on the writer's thread), one job each."""
        # Forget their streaks too: a check added back later starts afresh.
        for name in [n for n, s in self.states.items() if n not in self._configured and s.incident is None]:
            del self.states[name]
        for incident in self.recorder.open_incidents():
            if incident.check not in self._configured:
                self._writer.submit(partial(self._retire, incident.check))

    def _retire(self, check: str) -> None:
        # Looked up again: a later reload may have added it back, or a second reload retired it already.
        incident = next((i for i in self.recorder.open_incidents() if i.check == check), None)
        if incident is None or check in self._configured:
            return
        before = CheckState(check, incident=incident)
        now = self.clock()
        # Its own policy left with it: the defaults say whether to tell; a silence still holds.
        tell = self.config.alerts.defaults.send_resolved and check not in self.recorder.silences(now)
        shard = self.config.shard_of(check)
        reason = f"the check moved to shard {shard}" if shard is not None else REMOVED
        after, events = retire(before, now, tell, reason)
        # Its route left with it: tell the destinations that heard of the incident.
        told = self.recorder.channels_told(incident.id)
        self.recorder.record(before, after, events, [c.name for c in self.channels if c.name in told], now)
        # Written: nothing below may raise a database error (see on_result).
        self.states.pop(check, None)
        log.info("closed the open incident of %s: %s", check, reason)
        self._announce(events)

    def _announce(self, events: list[Event]) -> None:
        """Log `events` and wake the outbox workers on the event loop (from the writer's thread; after start())."""
        for event in events:
            log.warning("incident %s: %s", event.kind, event.check)
        if events:
            loop = self._started_loop()
            for worker in self.workers:
                loop.call_soon_threadsafe(worker.wake)
            loop.call_soon_threadsafe(self._count_pending)

    def _started_loop(self) -> asyncio.AbstractEventLoop:
        """The service's event loop, set by start(): nothing is announced before it."""
        if self._loop is None:
            raise RuntimeError("alerts: an incident was announced before start()")
        return self._loop

    def _refire_given_up(self) -> None:
        """Put back the firings the channels gave up on (on the writer's thread, before the workers start)."""
        for channel in self.channels:
            checks = self.recorder.refire_given_up(channel.name, self.clock())
            if checks:
                log.warning("sending again via %s the firing of %s, given up on before", channel.name,
                            ", ".join(checks))
        self._count_pending_soon()

    def _count_pending_soon(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._count_pending)

    def _abandon_other_channels(self) -> None:
        dropped = self.recorder.abandon_other_channels([c.name for c in self.channels], self.clock())
        if dropped:
            log.error("ALERT NOT DELIVERED: %d notice(s) waited for a channel that is no longer configured", dropped)

    def _count_pending(self) -> None:
        try:
            self.telemetry.outbox_pending(self.store.pending_count())
        except sqlite3.Error as exc:  # only a gauge; the next delivery sets it again
            log.warning("could not count the alert outbox: %s", exc)

    async def prune(self) -> int:
        """Forget notices, incidents and silences older than `retention_days`, like the runs."""
        cutoff = retention_cutoff(self.clock(), self.config.monitor.retention_days)
        return await self.write(lambda store: store.prune(cutoff))

    async def write(self, change: Callable[[AlertStore], T]) -> T:
        """Apply `change` to the alert tables on the store writer's thread, without blocking the loop."""
        # StoreWriter.call is typed as returning Any; its value is what `change` returned.
        result: T = await self._writer.call(lambda: change(self.recorder))
        return result

    def health(self) -> str | None:
        """None while notices drain; else what is stuck or refused."""
        problems = [f"{w.channel.name}: {w.permanent_error}" for w in self.workers if w.permanent_error]
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                problems.append(f"the {task.get_name()} delivery loop stopped: {task.exception()!r}")
        oldest = self.store.oldest_pending()
        if oldest is not None:
            age = (self.clock() - oldest[0]).total_seconds()
            if age > STUCK_AFTER:
                problems.append(f"alerts are not getting out: the oldest waits for {age:.0f}s"
                                + (f" (last error: {oldest[1]})" if oldest[1] else ""))
        return "; ".join(problems) or None

    @staticmethod
    def _depth(config: Config) -> int:
        policies = [c.alerts for c in config.checks] or [config.alerts.defaults]
        return max(max(p.failure_threshold, p.success_threshold) for p in policies) + 1
