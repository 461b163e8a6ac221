"""The seam every alert channel implements: `send(notice) -> Delivery`.

A channel is one module (alerts/channels/slack/channel.py, alerts/channels/console.py, ...) with a
class that has a `name` and a blocking `send`. The outbox calls `send` off
the event loop and decides about retries from the error it raises:

    DeliveryError(message, permanent=False, retry_after=None, reason="...")
      permanent=True   the same message will never get through (bad token,
                       unknown channel, deleted webhook): stop, say so loudly
      permanent=False  try again later; `retry_after` (seconds) when the
                       other side said how long to wait

The notice is a plain dict (JSON in the outbox table), written by
`alerts.state_store.event_payload` and completed by the outbox:

    kind               "firing" | "reminder" | "resolved" | "test"
    check              the check's name
    at                 ISO time of the event
    opened_at, failing_since, last_failure_at, resolved_at   ISO times or None
    runs_failed        failed runs in this incident
    failure            the monitor's sentence ("expected status 200, got 500")
    error_text         the server's own words (untrusted, already redacted)
    previous_error_text  what the server said before, when it changed
    reason             why a resolved incident closed without passing runs (the check was removed), or None
    facts              status_code, method, target, location, type,
                       failing_step, artifacts, run_id (each optional)
    thread             {"channel", "ts"} of the incident's Slack message, or None
    group              [{"check", "resolved", "closed_reason"}...] when several checks share it
    grouped            true when this check joined another check's message
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from monitor.core.config import ChannelReader


@dataclass(frozen=True)
class Delivery:
    """What a successful send left behind: the message later notices thread under."""

    thread: dict | None = None


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None,
                 reason: str = "error"):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        # A short label for the alert_delivery_failed metric.
        self.reason = "permanent" if permanent else reason


class Channel(Protocol):
    name: str

    def send(self, notice: dict) -> Delivery: ...

    def test(self, notice: dict) -> str:
        """Send the `test` notice for `monitor alert-test`; return where it went, or raise a `DeliveryError`
        that says what to fix (the token, the channel, the network)."""
        ...


@dataclass(frozen=True)
class ChannelContext:
    """What building a channel may need besides its own settings."""

    public_url: str | None = None  # [monitor] public_url, for links in messages
    link_token: str | None = None  # [monitor] auth_token, which signs artifact links


@dataclass(frozen=True)
class ChannelKind:
    name: str  # its table: [alerts.NAME]; also the outbox's channel name
    read: ChannelReader
    build: Callable[[Any, ChannelContext], Channel]
