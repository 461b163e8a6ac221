"""The seam every alert channel implements: `send(notice) -> Delivery`, and what it is handed.

A channel kind is one module or package under alerts/channels/ declaring a
`ChannelKind`: its name (its `[alerts.NAME]` table, and the outbox's channel
name), the reader of that table, and how to build the channel from what the
reader returned. `alerts.channels.CHANNEL_KINDS` lists them.

A channel has a `name`, a blocking `send(notice)` and a `test(notice)` for
`monitor alert-test`. The outbox calls `send` off the event loop, once per
notice, in order, and decides about retries from the error it raises:

    DeliveryError(message, permanent=False, retry_after=None, reason="...")
      permanent=True   the same message will never get through (bad token,
                       unknown channel, deleted webhook): stop, say so loudly
      permanent=False  try again later; `retry_after` (seconds) when the
                       other side said how long to wait

What `send` returns in `Delivery.thread` (say Slack's channel and ts of the
message it posted) is kept for the incident and that channel only, and
handed back in `Notice.thread` with the incident's later notices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from monitor.core.config import ChannelReader


@dataclass(frozen=True)
class Facts:
    """What the latest failed run showed; each may be missing."""

    status_code: int | None = None
    method: str | None = None
    target: str | None = None  # the URL or address, secrets redacted
    location: str | None = None
    type: str | None = None
    failing_step: str | None = None
    artifacts: tuple[str, ...] = ()  # paths under artifacts_dir
    run_id: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # the check's: team = "chat", severity = "page"
    # What the browser or Playwright said when no server said anything: never the server's words, untrusted.
    browser_said: str | None = None

    @classmethod
    def from_mapping(cls, facts: Mapping[str, Any]) -> Facts:
        known = {k: v for k, v in facts.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "artifacts": tuple(known.get("artifacts") or ()),
                      "labels": dict(known.get("labels") or {})})


@dataclass(frozen=True)
class GroupMember:
    """One check of a group of incidents that share one message (same server words, close in time)."""

    check: str
    resolved: bool
    closed_reason: str | None = None  # why it closed without passing runs (its check was removed)


@dataclass(frozen=True)
class Notice:
    """One thing to tell on-call. Text from the monitored server (`error_text`, `previous_error_text`,
    `facts`) is untrusted: already redacted of secrets, but each channel escapes it for its medium."""

    kind: str  # "firing" | "changed" | "reminder" | "resolved" | "test"
    check: str
    at: datetime
    opened_at: datetime | None = None
    failing_since: datetime | None = None
    last_failure_at: datetime | None = None
    resolved_at: datetime | None = None
    runs_failed: int = 0
    failure: str | None = None  # the monitor's sentence: "expected status 200, got 500"
    error_text: str | None = None  # the server's own words
    # What the last notice said (the server's words, else the failure sentence), when it changed since.
    previous_error_text: str | None = None
    reason: str | None = None  # why a resolved incident closed without passing runs, or None
    facts: Facts = field(default_factory=Facts)
    incident_id: int | None = None
    # This channel's reference to the incident's first message (what its `send` returned then), or None.
    thread: Mapping[str, Any] | None = None
    group: tuple[GroupMember, ...] = ()  # every check sharing the message, when more than one
    grouped: bool = False  # this check joined another check's message

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], *, thread: Mapping[str, Any] | None = None,
                     group: tuple[GroupMember, ...] = (), grouped: bool = False) -> Notice:
        """The notice an outbox row's JSON (`alerts.state_store.event_payload`) describes, completed."""
        times = {key: _time(payload.get(key)) for key in
                 ("opened_at", "failing_since", "last_failure_at", "resolved_at")}
        return cls(kind=payload["kind"], check=payload["check"], at=datetime.fromisoformat(payload["at"]),
                   runs_failed=payload.get("runs_failed") or 0, failure=payload.get("failure"),
                   error_text=payload.get("error_text"), previous_error_text=payload.get("previous_error_text"),
                   reason=payload.get("reason"), facts=Facts.from_mapping(payload.get("facts") or {}),
                   incident_id=payload.get("incident_id"), thread=thread, group=group, grouped=grouped, **times)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class Delivery:
    """What a successful send left behind: this channel's reference for the incident's later notices."""

    thread: Mapping[str, Any] | None = None


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

    def send(self, notice: Notice) -> Delivery: ...

    def test(self, notice: Notice) -> str:
        """Send the `test` notice for `monitor alert-test`; return where it went ("to #oncall"), or raise a
        `DeliveryError` that says what to fix (the token, the channel, the network)."""
        ...


@runtime_checkable
class Refreshing(Channel, Protocol):
    """A channel that mirrors state rather than sending messages (Alertmanager). Besides each notice, it is
    handed, every `resend_every` seconds and at start, a notice for every incident it was told of that is
    open, or resolved within the last `resolved_for` seconds."""

    resend_every: float
    resolved_for: float

    def refresh(self, notices: list[Notice]) -> None: ...


@dataclass(frozen=True)
class ChannelContext:
    """What building a channel may need besides its own settings."""

    name: str  # the destination's: [alerts.NAME]; the outbox's, the metrics' and the CLI's name for it
    public_url: str | None = None  # [monitor] public_url, for links in messages
    link_token: str | None = None  # [monitor] auth_token, which signs artifact links


@dataclass(frozen=True)
class ChannelKind:
    name: str  # the kind: `kind = "NAME"` in a destination's table, or the table's own name
    read: ChannelReader
    build: Callable[[Any, ChannelContext], Channel]
