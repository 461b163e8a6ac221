"""Runs -> incidents: a pure state machine, one per check. No I/O, no clock.

`next_state(state, run, policy, now, silenced)` returns the check's new
state and the notifications it calls for (0 or 1 `Event`):

    passing --(failure_threshold failed runs in a row)--> incident: "firing"
    incident --(new words, the same for failure_threshold runs in a row)--> "changed"
    incident --(still failing, reminder_interval since the last message)--> "reminder"
    incident --(success_threshold passed runs in a row)--> passing: "resolved"

A check that has never failed never alerts. When a failing check's words
change (`said`: the server's words, else the failure sentence; durations do
not count as a change) the open incident says so at once, in its thread,
once the new words have held for `failure_threshold` runs: on-call must not
read the old cause until the next reminder, nor hear of every flicker. It
never opens a second incident. While a check is silenced its incident still opens,
counts and closes, but announces nothing; when the silence ends and the
check is still failing, the next run announces the incident ("firing"). An
incident that was never announced resolves silently.

Times are timezone-aware datetimes; `now` is when the run finished.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from monitor.core.config import AlertPolicy
from monitor.core.results import Result

FIRING, CHANGED, REMINDER, RESOLVED = "firing", "changed", "reminder", "resolved"


@dataclass(frozen=True)
class Run:
    """What the state machine needs from one `Result` (plus what a message shows)."""

    ok: bool
    at: datetime
    failure: str | None = None
    error_text: str | None = None
    # Shown in messages only: status_code, method, target, location, type,
    # failing_step, artifacts, run_id, browser_said.
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Result, labels: Mapping[str, str] | None = None) -> Run:
        """The run as the state machine needs it; `labels` are the check's, carried to every notice."""
        facts = {"status_code": result.status_code, "method": result.method, "target": result.target,
                 "location": result.location, "type": result.type, "failing_step": result.failing_step,
                 "artifacts": list(result.artifacts), "run_id": result.run_id, "labels": dict(labels or {}),
                 "browser_said": result.browser_said}
        return cls(ok=result.ok, at=result.started_at, failure=result.failure, error_text=result.error_text,
                   facts={k: v for k, v in facts.items() if v not in (None, [], {})})


@dataclass(frozen=True)
class Incident:
    """An open (or just resolved) incident of one check."""

    check: str
    opened_at: datetime
    first_failure_at: datetime
    last_failure_at: datetime
    first_error: str | None
    last_error: str | None
    last_failure: str | None
    runs_failed: int
    # Facts of the latest failed run (status, URL, step, artifacts, run id).
    facts: dict[str, Any] = field(default_factory=dict)
    # When the last message about it was sent; None: never announced (silenced).
    notified_at: datetime | None = None
    # What the run says (`said`) differs from what was last announced.
    error_changed: bool = False
    # What the last announcement said, for "was: ..." in a changed notice or a reminder.
    announced_error: str | None = None
    # New words not announced yet, and for how many failed runs in a row they have held.
    changing_to: str | None = None
    changing_runs: int = 0
    resolved_at: datetime | None = None
    # Set by the store: the row id, and the group this incident joined.
    id: int | None = None
    group_id: int | None = None


@dataclass(frozen=True)
class CheckState:
    """Everything the machine remembers about one check between runs."""

    check: str
    failures: int = 0  # failed runs in a row
    passes: int = 0  # passed runs in a row
    failing_since: datetime | None = None
    first_error: str | None = None
    incident: Incident | None = None


@dataclass(frozen=True)
class Event:
    """A notification to send: `kind` is firing, changed, reminder or resolved."""

    kind: str
    check: str
    at: datetime
    incident: Incident
    # Why a resolved incident closed other than by passing runs (see `retire`).
    reason: str | None = None


REMOVED = "the check was removed from the config"


def next_state(state: CheckState, run: Run, policy: AlertPolicy, now: datetime,
               silenced: bool = False) -> tuple[CheckState, list[Event]]:
    """Fold one run into the check's state; return the new state and its events."""
    if run.ok:
        return _on_pass(state, policy, now, silenced)
    return _on_failure(state, run, policy, now, silenced)


def _on_pass(state: CheckState, policy: AlertPolicy, now: datetime,
             silenced: bool) -> tuple[CheckState, list[Event]]:
    passes = state.passes + 1
    incident = state.incident
    if incident is None or passes < policy.success_threshold:
        return replace(state, failures=0, passes=passes, failing_since=None, first_error=None), []
    closed = replace(incident, resolved_at=now)
    events = []
    if incident.notified_at is not None and policy.send_resolved and not silenced:
        events.append(Event(RESOLVED, state.check, now, closed))
    return CheckState(state.check, passes=passes), events


def _on_failure(state: CheckState, run: Run, policy: AlertPolicy, now: datetime,
                silenced: bool) -> tuple[CheckState, list[Event]]:
    failures = state.failures + 1
    since = state.failing_since or run.at
    first_error = state.first_error if state.failures else run.error_text
    state = replace(state, failures=failures, passes=0, failing_since=since, first_error=first_error)
    incident = state.incident
    if incident is None:
        if failures < policy.failure_threshold:
            return state, []
        incident = Incident(check=state.check, opened_at=now, first_failure_at=since, last_failure_at=run.at,
                            first_error=first_error, last_error=run.error_text, last_failure=run.failure,
                            runs_failed=failures, facts=run.facts)
        return _announce(replace(state, incident=incident), FIRING, now, silenced)
    incident = replace(incident, last_failure_at=run.at, last_error=run.error_text, last_failure=run.failure,
                       runs_failed=incident.runs_failed + 1, facts=run.facts)
    notified_at = incident.notified_at
    if notified_at is None:
        # Opened during a silence: announce it once the silence is over.
        return _announce(replace(state, incident=incident), FIRING, now, silenced)
    words = said(run.error_text, run.failure)
    if same_cause(words, incident.announced_error):
        incident = replace(incident, error_changed=False, changing_to=None, changing_runs=0)
    else:
        held = incident.changing_runs + 1 if same_cause(words, incident.changing_to) else 1
        incident = replace(incident, error_changed=True, changing_to=words, changing_runs=held)
    state = replace(state, incident=incident)
    if incident.error_changed and incident.changing_runs >= policy.failure_threshold:
        return _announce(state, CHANGED, now, silenced)
    due = policy.reminder_interval is not None and (now - notified_at).total_seconds() >= policy.reminder_interval
    return _announce(state, REMINDER, now, silenced) if due else (state, [])


# Durations in a sentence ("no response after 7s", "took 1.2s"): they vary from run to run, the cause does not.
_DURATION = re.compile(r"\d+(?:\.\d+)?\s?(?:ms|s|m|h)\b")


def said(error_text: str | None, failure: str | None) -> str | None:
    """What a failed run says went wrong: the server's words, else the monitor's failure sentence."""
    return error_text or failure


def same_cause(a: str | None, b: str | None) -> bool:
    """Whether two `said` texts tell the same cause: equal but for whitespace and durations."""
    def key(text: str | None) -> str:
        return _DURATION.sub("#", " ".join((text or "").split()))

    return key(a) == key(b)


def _announce(state: CheckState, kind: str, now: datetime, silenced: bool) -> tuple[CheckState, list[Event]]:
    """Announce `state`'s incident (which must be open) unless silenced; mark it as notified now."""
    if silenced:
        return state, []
    sent = state.incident
    if sent is None:
        raise ValueError(f"{state.check}: nothing to announce without an open incident")
    incident = replace(sent, notified_at=now, error_changed=False, changing_to=None, changing_runs=0,
                       announced_error=said(sent.last_error, sent.last_failure))
    return replace(state, incident=incident), [Event(kind, state.check, now, sent)]


def retire(state: CheckState, now: datetime, send_resolved: bool = True,
           reason: str = REMOVED) -> tuple[CheckState, list[Event]]:
    """Close the open incident of a check that this monitor no longer runs.

    Nothing here will ever run it again, so its incident would stay open, and
    its FIRING message unanswered, for ever. It closes now; an announced one
    says why (`reason`: removed from the config, moved to another shard) in a
    resolved notice (not "passing again": nobody knows).
    """
    incident = state.incident
    if incident is None:
        return state, []
    closed = replace(incident, resolved_at=now)
    events = [Event(RESOLVED, state.check, now, closed, reason=reason)] \
        if incident.notified_at is not None and send_resolved else []
    return CheckState(state.check), events


def streak_state(check: str, runs: list[Run], incident: Incident | None) -> CheckState:
    """Rebuild a check's state after a restart from its latest runs (newest first).

    The runs table is the truth for the counters; the incident comes from the
    incidents table. Only the current streak matters, so a few runs suffice.
    """
    state = CheckState(check, incident=incident)
    if not runs:
        return state
    latest_ok = runs[0].ok
    streak = []
    for run in runs:
        if run.ok != latest_ok:
            break
        streak.append(run)
    if latest_ok:
        return replace(state, passes=len(streak))
    oldest = streak[-1]
    return replace(state, failures=len(streak), failing_since=oldest.at, first_error=oldest.error_text)


def group_key(error_text: str | None) -> str | None:
    """The text two incidents must share to be grouped: whitespace-insensitive."""
    key = " ".join((error_text or "").split())
    return key or None


def choose_group(heads: list[Incident], incident: Incident, window: float) -> Incident | None:
    """The open, announced group head `incident` should join, or None to start its own.

    Checks that fail with the same server error text within `window` seconds
    of the head's opening share one message and one thread.
    """
    key = group_key(incident.last_error)
    if key is None or window <= 0:
        return None
    for head in sorted(heads, key=lambda h: h.opened_at):
        if (head.resolved_at is None and head.check != incident.check and head.notified_at is not None
                and group_key(head.last_error) == key
                and 0 <= (incident.opened_at - head.opened_at).total_seconds() <= window):
            return head
    return None
