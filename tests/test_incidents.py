"""The incident state machine, table-driven: a story of runs in, the notifications out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.incidents import (
    REMOVED,
    CheckState,
    Incident,
    Run,
    choose_group,
    group_key,
    next_state,
    retire,
    streak_state,
)
from monitor.core.config import AlertPolicy

T0 = datetime(2026, 5, 1, 9, 14, tzinfo=UTC)
STEP = timedelta(minutes=1)
RELATION = 'relation "threads" does not exist'


def run_of(letter: str, at: datetime) -> Run:
    """P passes; F fails with the usual error; E fails with another error text."""
    if letter == "P":
        return Run(ok=True, at=at)
    error = RELATION if letter == "F" else "connection pool exhausted"
    return Run(ok=False, at=at, failure="expected status 200, got 500", error_text=error)


NO_REMINDERS = AlertPolicy(reminder_interval=None)


def play(story: str, policy: AlertPolicy = NO_REMINDERS, silenced=frozenset()):
    """Feed the runs of `story` (one a minute); return [(run index, event kind)] and the last state."""
    state, events = CheckState("threads-api"), []
    for i, letter in enumerate(story):
        at = T0 + i * STEP
        state, new = next_state(state, run_of(letter, at), policy, at, silenced=i in silenced)
        events += [(i, e.kind) for e in new]
    return events, state


@pytest.mark.parametrize("story, policy, expected", [
    ("PPPP", AlertPolicy(), []),  # new checks that pass never alert
    ("F", AlertPolicy(), []),
    ("FF", AlertPolicy(), [(1, "firing")]),
    ("FFFFF", AlertPolicy(reminder_interval=None), [(1, "firing")]),  # one message per incident
    ("FFP", AlertPolicy(), [(1, "firing"), (2, "resolved")]),
    ("FPFPFP", AlertPolicy(), []),  # flapping below the threshold stays quiet
    ("F", AlertPolicy(failure_threshold=1), [(0, "firing")]),
    ("FFFP", AlertPolicy(failure_threshold=3), [(2, "firing"), (3, "resolved")]),
    ("FFPFPP", AlertPolicy(success_threshold=2), [(1, "firing"), (5, "resolved")]),
    ("FFP", AlertPolicy(send_resolved=False), [(1, "firing")]),
    ("FFFFFF", AlertPolicy(reminder_interval=120.0), [(1, "firing"), (3, "reminder"), (5, "reminder")]),
    # New words are no new incident; once they hold for failure_threshold runs the incident says so, at once.
    ("FFEE", AlertPolicy(reminder_interval=None), [(1, "firing"), (3, "changed")]),
    ("FFE", AlertPolicy(reminder_interval=None), [(1, "firing")]),  # not yet held for 2 runs
    ("FFEFEFEF", AlertPolicy(reminder_interval=None), [(1, "firing")]),  # a flicker never holds: quiet
    ("FFEEFF", AlertPolicy(reminder_interval=None), [(1, "firing"), (3, "changed"), (5, "changed")]),
    ("FFFEEE", AlertPolicy(failure_threshold=3, reminder_interval=None), [(2, "firing"), (5, "changed")]),
    ("FEE", AlertPolicy(failure_threshold=1, reminder_interval=None), [(0, "firing"), (1, "changed")]),
    ("FFPFF", AlertPolicy(), [(1, "firing"), (2, "resolved"), (4, "firing")]),
])
def test_runs_become_notifications(story, policy, expected):
    assert play(story, policy)[0] == expected


@pytest.mark.parametrize("story, silenced, expected", [
    ("FFFP", {0, 1, 2, 3}, []),  # opened and closed during the silence: nothing to say
    ("FFFF", {0, 1, 2}, [(3, "firing")]),  # still failing when the silence ends: announce it then
    ("FFP", {2}, [(1, "firing")]),  # the resolve falls in a silence and is held
    ("FFFFF", {1, 2}, [(3, "firing")]),
])
def test_silences_hold_notifications_but_not_the_incident(story, silenced, expected):
    events, state = play(story, AlertPolicy(reminder_interval=None), silenced=frozenset(silenced))
    assert events == expected
    assert (state.incident is not None) == (story[-1] == "F")


def test_incident_counts_runs_and_remembers_since_when():
    events, state = play("PFFFF")
    incident = state.incident
    assert incident.first_failure_at == T0 + STEP
    assert incident.runs_failed == 4
    assert incident.first_error == RELATION


def test_changed_words_are_told_once_they_hold_with_what_they_were():
    state, fired = CheckState("a"), []
    for i, letter in enumerate("FFEE"):
        at = T0 + i * STEP
        state, new = next_state(state, run_of(letter, at), NO_REMINDERS, at)
        fired += new
    assert [e.kind for e in fired] == ["firing", "changed"]
    changed = fired[1].incident
    assert changed.error_changed and changed.announced_error == RELATION  # "was: ..."
    assert changed.last_error == "connection pool exhausted"
    assert state.incident.announced_error == "connection pool exhausted"  # what a later change compares with
    assert state.incident.error_changed is False and state.incident.changing_runs == 0


def test_words_changing_to_no_words_at_all_is_a_change_of_cause():
    """The missing table gives way to a connection error: the server says nothing, the failure sentence does."""
    state, fired = CheckState("threads-api"), []
    runs = [Run(ok=False, at=T0, failure="expected status 200, got 500", error_text=RELATION)] * 2 + \
           [Run(ok=False, at=T0, failure="connection refused")] * 2
    for i, run in enumerate(runs):
        state, new = next_state(state, replace(run, at=T0 + i * STEP), NO_REMINDERS, T0 + i * STEP)
        fired += new
    assert [e.kind for e in fired] == ["firing", "changed"]
    assert fired[1].incident.announced_error == RELATION and fired[1].incident.last_failure == "connection refused"


def test_a_new_duration_in_the_same_sentence_is_no_change():
    state, fired = CheckState("new-chat"), []
    for i, waited in enumerate(("5s", "6s", "7s", "6s")):
        failure = f"step 'expect li.thread visible': POST /api/threads: no response after {waited}"
        state, new = next_state(state, Run(ok=False, at=T0 + i * STEP, failure=failure), NO_REMINDERS,
                                T0 + i * STEP)
        fired += new
    assert [e.kind for e in fired] == ["firing"]


def test_a_reminder_before_new_words_hold_shows_them_and_what_they_were():
    policy = AlertPolicy(reminder_interval=120.0)
    state, fired = CheckState("a"), []
    for i, letter in enumerate("FFFE"):
        at = T0 + i * STEP
        state, new = next_state(state, run_of(letter, at), policy, at)
        fired += new
    assert [e.kind for e in fired] == ["firing", "reminder"]
    reminder = fired[1].incident
    assert reminder.error_changed and reminder.announced_error == RELATION
    assert reminder.last_error == "connection pool exhausted"


def test_resolved_event_says_when_and_how_long():
    state, fired = CheckState("a"), []
    for i, letter in enumerate("FFP"):
        at = T0 + i * STEP
        state, new = next_state(state, run_of(letter, at), AlertPolicy(), at)
        fired += new
    resolved = fired[-1]
    assert resolved.kind == "resolved"
    assert resolved.incident.resolved_at == T0 + 2 * STEP
    assert resolved.incident.first_failure_at == T0
    assert state.incident is None and state.failures == 0


@pytest.mark.parametrize("outcomes, expected", [
    ("", (0, 0, None)),
    ("PPF", (0, 2, None)),  # newest first: two passes after a failure
    ("FFP", (2, 0, T0 - 1 * STEP)),  # the streak's oldest failure is `failing_since`
    ("F", (1, 0, T0)),
])
def test_streak_state_rebuilds_counters_from_the_latest_runs(outcomes, expected):
    runs = [run_of(letter, T0 - i * STEP) for i, letter in enumerate(outcomes)]
    state = streak_state("a", runs, None)
    assert (state.failures, state.passes, state.failing_since) == expected


def test_a_restart_continues_the_open_incident_without_firing_again():
    events, state = play("FF")
    restarted = streak_state("threads-api", [run_of("F", T0 + STEP), run_of("F", T0)], state.incident)
    at = T0 + 2 * STEP
    again, new = next_state(restarted, run_of("F", at), AlertPolicy(reminder_interval=None), at)
    assert new == []
    resolved, new = next_state(again, run_of("P", at + STEP), AlertPolicy(), at + STEP)
    assert [e.kind for e in new] == ["resolved"]


def incident(check, opened, error=RELATION, notified=True, id_=1) -> Incident:
    at = T0 + timedelta(seconds=opened)
    return Incident(check=check, opened_at=at, first_failure_at=at, last_failure_at=at, first_error=error,
                    last_error=error, last_failure="x", runs_failed=2, notified_at=at if notified else None,
                    id=id_, group_id=id_)


@pytest.mark.parametrize("head, new, window, joins", [
    (incident("a", 0), incident("b", 10, id_=None), 30, True),
    (incident("a", 0), incident("b", 31, id_=None), 30, False),  # outside the window
    (incident("a", 0), incident("b", 10, error="other", id_=None), 30, False),
    (incident("a", 0), incident("b", 10, error=" relation  \"threads\" does not exist", id_=None), 30, True),
    (incident("a", 0), incident("b", 10, error=None, id_=None), 30, False),  # no words, no grouping
    (incident("a", 0), incident("b", 10, id_=None), 0, False),  # grouping off
    (incident("a", 0, notified=False), incident("b", 10, id_=None), 30, False),  # silenced head
])
def test_choose_group(head, new, window, joins):
    assert (choose_group([head], new, window) is head) == joins


def test_group_key_ignores_whitespace_only():
    assert group_key("a  b\n") == group_key("a b") == "a b"
    assert group_key("") is None and group_key(None) is None


@pytest.mark.parametrize("story, silenced, send_resolved, expected", [
    ("FF", set(), True, [("resolved", REMOVED)]),  # announced: say why it closes
    ("FF", set(), False, []),
    ("FF", {0, 1}, True, []),  # never announced (silenced): close quietly
    ("F", set(), True, []),  # no incident yet
    ("PP", set(), True, []),
])
def test_a_removed_checks_incident_closes_and_says_why(story, silenced, send_resolved, expected):
    _, state = play(story, AlertPolicy(), silenced)
    at = T0 + timedelta(hours=1)
    after, events = retire(state, at, send_resolved)
    assert after.incident is None
    assert [(e.kind, e.reason) for e in events] == expected
    assert all(e.incident.resolved_at == at for e in events)
