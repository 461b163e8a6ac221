"""Deliver the outbox: per channel, in order, each notice once, retrying what may pass later.

One `OutboxWorker` per channel reads that channel's oldest pending row,
completes the notice (the Slack thread to reply in, the group it belongs
to), sends it off the event loop, and records the outcome:

    delivered               mark it, remember the thread, go on with the next
    DeliveryError temporary retry the same row after max(Retry-After, backoff);
                            later rows wait, so a thread never gets its resolve
                            before its firing
    DeliveryError permanent mark it failed (shown by `monitor status` and
                            /healthz), log loudly, go on with the next

The row stays pending until the send returned, so a crash loses nothing; a
crash in the middle of the HTTP call itself can repeat that one notice.

Rows are read through `store` and changed through `write` (in `monitor run`,
the store writer's thread, so a locked database never holds the event loop).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.channels.base import Channel, DeliveryError, GroupMember, Notice
from alerts.state_store import AlertStore, OutboxRow
from monitor.core.store_writer import WriteLost
from monitor.core.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("monitor.alerts")


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait before the next try: doubling from `initial` up to `maximum`."""

    initial: float = 1.0
    maximum: float = 300.0

    def delay(self, attempts: int) -> float:
        factor: int = 2 ** max(0, attempts - 1)  # an int: attempts - 1 is clamped to >= 0
        return min(self.maximum, self.initial * factor)


# The longest pause a Retry-After may ask for; also how we tell a retry this
# process never planned so far ahead from a clock that was stepped back.
RETRY_AFTER_CEILING = 900.0


class OutboxWorker:
    def __init__(self, store: AlertStore, channel: Channel, *, clock: Callable[[], datetime],
                 write: Callable[[Callable[[AlertStore], Any]], Awaitable[Any]],
                 backoff: Backoff = Backoff(), telemetry: Telemetry = NO_TELEMETRY):
        self.store = store
        self.write = write
        self.channel = channel
        self.clock = clock
        self.backoff = backoff
        self.telemetry = telemetry
        # The latest permanent failure, until a later notice gets through.
        self.permanent_error: str | None = None
        # row id -> monotonic time of its planned retry. next_attempt_at is
        # wall-clock (it must survive a restart), but a clock stepped back an
        # hour must not hold an alert back an hour.
        self._retry_at: dict[int, float] = {}
        # A notice the channel took but our database could not record as
        # delivered yet: record it before anything else, never send it twice.
        self._unrecorded: tuple[OutboxRow, Mapping[str, Any] | None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """New rows were written: look now rather than at the next planned retry."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until `stop()`; sleep until woken or the next retry is due."""
        while not self._stopping:
            self._wake.clear()
            try:
                wait = await self.deliver_due()
            except (sqlite3.Error, WriteLost) as exc:
                # Our own database is busy or failing: the rows are safe, try again soon.
                log.error("alert outbox: cannot read or update the database: %s", exc)
                wait = self.backoff.initial
            if self._stopping:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                pass

    async def deliver_due(self) -> float | None:
        """Send every due row in order; return seconds until the next retry, or None when empty."""
        if self._unrecorded:
            await self._record_delivery(*self._unrecorded)
        while not self._stopping:
            row = self.store.next_pending(self.channel.name)
            if row is None:
                return None
            wait = self._wait_for(row)
            if wait > 0:
                return wait
            await self._attempt(row)
        return None

    def _wait_for(self, row: OutboxRow) -> float:
        """Seconds until `row` is due; a clock jump forward makes it due early, never one back late."""
        if not row.next_attempt_at:
            return 0.0
        wait = (row.next_attempt_at - self.clock()).total_seconds()
        planned = self._retry_at.get(row.id)
        if planned is not None:
            return min(wait, planned - time.monotonic())
        # Planned by an earlier process: only a clock stepped back makes it this far off.
        return 0.0 if wait > max(self.backoff.maximum, RETRY_AFTER_CEILING) else wait

    async def _attempt(self, row: OutboxRow) -> None:
        self._retry_at.pop(row.id, None)
        notice = self._complete(row)
        try:
            delivery = await asyncio.to_thread(self.channel.send, notice)
        except DeliveryError as exc:
            await self._failed(row, exc)
            return
        except Exception as exc:  # a channel bug must not kill the worker; retry like a network error
            log.exception("%s channel crashed sending %s of %s", self.channel.name, row.kind, row.check)
            await self._failed(row, DeliveryError(f"{type(exc).__name__}: {exc}", reason="bug"))
            return
        self._unrecorded = (row, delivery.thread)
        await self._record_delivery(row, delivery.thread)
        self.permanent_error = None
        self.telemetry.alert_sent(self.channel.name, row.kind)
        self.telemetry.outbox_pending(self.store.pending_count())
        log.info("alert delivered: %s %s via %s", row.kind, row.check, self.channel.name)

    async def _record_delivery(self, row: OutboxRow, thread: Mapping[str, Any] | None) -> None:
        now = self.clock()
        await self.write(lambda store: store.mark_delivered(row, now, thread))
        self._unrecorded = None

    def _complete(self, row: OutboxRow) -> Notice:
        """The row's notice with what only delivery time knows: this channel's thread, the group as it is now."""
        group_id = row.payload.get("group_id")
        members = tuple(GroupMember(m["check"], m["resolved"], m["closed_reason"])
                        for m in self.store.group_members(group_id))
        return Notice.from_payload(row.payload, thread=self.store.thread_of(row.incident_id, self.channel.name),
                                   group=members if len(members) > 1 else (),
                                   grouped=group_id is not None and group_id != row.incident_id)

    async def _failed(self, row: OutboxRow, exc: DeliveryError) -> None:
        now = self.clock()
        self.telemetry.alert_delivery_failed(self.channel.name, exc.reason)
        if exc.permanent:
            await self.write(lambda store: store.mark_failed(row, now, exc.message))
            self.permanent_error = exc.message
            log.error("ALERT NOT DELIVERED, giving up: %s of %s via %s: %s", row.kind, row.check,
                      self.channel.name, exc.message)
            self.telemetry.outbox_pending(self.store.pending_count())
            return
        wait = max(min(exc.retry_after or 0.0, RETRY_AFTER_CEILING), self.backoff.delay(row.attempts + 1))
        self._retry_at[row.id] = time.monotonic() + wait
        await self.write(lambda store: store.mark_retry(row, now + timedelta(seconds=wait), exc.message))
        log.warning("alert delivery failed (try %d), retrying in %.1fs: %s of %s via %s: %s", row.attempts + 1,
                    wait, row.kind, row.check, self.channel.name, exc.message)
