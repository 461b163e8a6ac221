"""Incidents and the outbox with a real SQLite file and the real slack-sdk against a loopback Slack.

Results are fed to the `Alerts` part directly (as the runner does after
storing them; tests/alerts_harness.py), so each story runs in well under a
second of waiting.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
from datetime import timedelta

import pytest

from alerts.channels.console import ConsoleChannel
from alerts.part import build_channels
from alerts.state_store import AlertStore
from monitor.app.config import load_config
from monitor.core.results import utcnow
from monitor.core.telemetry import NO_TELEMETRY
from tests.alerts_harness import Harness, make_config
from tests.notices import RELATION
from tests.polling import eventually
from tests.slack_server import TOKEN


async def test_firing_then_resolve_in_the_same_thread(tmp_path, slack):
    async with Harness(make_config(tmp_path, slack)) as h:
        h.fail(times=3)
        await eventually(lambda: slack.top_level(), "the firing")
        h.pass_()
        await eventually(lambda: h.pending() == 0 and slack.replies(slack.top_level()[0].ts),
                         "the resolve in the firing's thread")
    [firing] = slack.top_level()
    [resolved] = slack.replies(firing.ts)
    assert firing.text.startswith("FIRING threads-api") and resolved.text.startswith("RESOLVED threads-api")
    assert firing.updates[-1]["text"].startswith("RESOLVED")


async def test_a_restart_continues_the_incident_no_second_firing_and_the_resolve_comes(tmp_path, slack):
    config = make_config(tmp_path, slack)
    async with Harness(config) as h:  # before the restart
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0, "the firing delivered")
    async with Harness(config) as h:  # after it
        h.fail(times=3)
        h.pass_()
        await eventually(lambda: h.pending() == 0, "the resolve delivered")
    [firing] = slack.top_level()
    assert [m.text.split()[0] for m in slack.replies(firing.ts)] == ["RESOLVED"]
    assert "5 failed runs" in slack.replies(firing.ts)[0].text


async def test_undelivered_notices_from_before_a_crash_go_out_in_order_once(tmp_path, slack):
    config = make_config(tmp_path, slack)
    slack.down = True

    h = Harness(config)
    await h.alerts.start(h.service)
    h.fail(times=2)
    h.pass_()
    await eventually(lambda: slack.count("chat.postMessage") >= 1, "a first try")
    # No clean stop: the process dies here with both notices in the outbox.
    for task in h.alerts._tasks:
        task.cancel()
    h.writer.close(0)
    h.store.close()
    await asyncio.gather(*h.alerts._tasks, return_exceptions=True)  # the dead process's loop is gone
    assert slack.messages == []

    slack.down = False
    async with Harness(config) as h:  # restarted
        await eventually(lambda: h.pending() == 0, "both notices delivered")
    [firing] = slack.top_level()
    assert [m.text.split()[0] for m in slack.replies(firing.ts)] == ["RESOLVED"]


async def test_429_twice_then_the_message_arrives_once(tmp_path, slack):
    slack.fail_next("chat.postMessage", 429, times=2, retry_after=0)
    async with Harness(make_config(tmp_path, slack)) as h:
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0, "the firing delivered")
    assert len(slack.messages) == 1
    assert slack.count("chat.postMessage", 429) == 2 and slack.count("chat.postMessage", 200) == 1


async def test_slack_down_for_a_while_then_everything_in_order(tmp_path, slack):
    slack.down = True
    async with Harness(make_config(tmp_path, slack)) as h:
        h.fail(times=2)
        h.pass_()
        h.fail(times=2, error="pool exhausted")
        await eventually(lambda: slack.count("chat.postMessage", 503) >= 4, "four tries")  # it kept trying
        assert h.pending() == 3
        slack.down = False
        await eventually(lambda: h.pending() == 0, "the outbox drained")
    first, second = slack.top_level()
    assert first.text.startswith("FIRING threads-api") and RELATION in first.text
    assert [m.text.split()[0] for m in slack.replies(first.ts)] == ["RESOLVED"]
    assert "pool exhausted" in second.text
    assert [m.ts for m in slack.messages] == sorted(m.ts for m in slack.messages)
    assert slack.messages.index(first) < slack.messages.index(slack.replies(first.ts)[0]) < \
        slack.messages.index(second)


async def test_a_permanent_error_is_not_retried_and_shows_in_health(tmp_path, slack):
    slack.fail_next("chat.postMessage", "channel_not_found")
    async with Harness(make_config(tmp_path, slack)) as h:
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0, "the firing given up")
        problem = h.service.health["alerts"]()
        failures = AlertStore(h.store.db).permanent_failures()
        h.pass_()  # the next notice still goes out (standalone: the firing has no thread)
        await eventually(lambda: h.pending() == 0, "the resolve delivered")
        later = h.service.health["alerts"]()
    assert "channel_not_found" in problem
    assert failures[0]["kind"] == "firing" and "channel_not_found" in failures[0]["last_error"]
    assert slack.count("chat.postMessage") == 2
    assert [m.text.split()[0] for m in slack.messages] == ["RESOLVED"]
    assert later is None


def config_with_token(tmp_path, slack, token: str, reminder: str = "off"):
    """make_config's, with the Slack token `token` (the loopback Slack answers invalid_auth to any but TOKEN)."""
    make_config(tmp_path, slack, reminder=reminder)
    path = tmp_path / "config.toml"
    path.write_text(path.read_text().replace(f'token = "{TOKEN}"', f'token = "{token}"'))
    return load_config(path)


async def test_a_firing_given_up_on_goes_out_once_after_a_restart_with_a_working_token(tmp_path, slack):
    later = timedelta(0)

    def clock():
        return utcnow() + later

    async with Harness(config_with_token(tmp_path, slack, "xoxb-revoked-0000", reminder="1m"), clock=clock) as h:
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0, "the firing given up on")
        later = timedelta(minutes=1)
        h.fail()  # its reminder, refused too
        await eventually(lambda: h.pending() == 0, "the reminder given up on")
        assert h.alerts.health() and "invalid_auth" in h.alerts.health()
    assert slack.messages == []

    fixed = config_with_token(tmp_path, slack, TOKEN, reminder="1m")
    async with Harness(fixed, clock=clock) as h:  # the restart, with the token fixed
        await eventually(lambda: h.pending() == 0 and slack.messages, "the firing, at last")
        later = timedelta(minutes=3)
        h.fail()  # the next reminder is due
        await eventually(lambda: h.pending() == 0 and len(slack.messages) == 2, "the next reminder")
        assert h.alerts.health() is None
    async with Harness(fixed, clock=clock) as h:  # another restart sends nothing again
        await eventually(lambda: h.pending() == 0, "nothing left")
    [firing] = slack.top_level()
    assert firing.text.startswith("FIRING threads-api") and "failing for 3 runs" in firing.text  # up to date
    assert [m.text.split()[0] for m in slack.replies(firing.ts)] == ["STILL"]  # in its thread, after it
    assert len(slack.messages) == 2


async def test_a_reload_with_a_working_token_sends_the_firing_given_up_on(tmp_path, slack):
    async with Harness(config_with_token(tmp_path, slack, "xoxb-revoked-0000")) as h:
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0 and h.alerts.health(), "the firing given up on")
        h.alerts.on_reload(config_with_token(tmp_path, slack, TOKEN))
        await eventually(lambda: slack.top_level(), "the firing through the new token")
        h.fail()
        h.pass_()
        await eventually(lambda: h.pending() == 0 and len(slack.messages) == 2, "the resolve")
        assert h.alerts.health() is None
    [firing] = slack.top_level()
    assert firing.text.startswith("FIRING threads-api")
    assert [m.text.split()[0] for m in slack.replies(firing.ts)] == ["RESOLVED"]


async def test_health_reports_an_outbox_that_does_not_drain(tmp_path, slack):
    slack.down = True
    offset = [timedelta(0)]
    async with Harness(make_config(tmp_path, slack), clock=lambda: utcnow() + offset[0]) as h:
        h.fail(times=2)
        await eventually(lambda: AlertStore(h.store.db).oldest_pending()[1], "a failed try recorded")
        healthy = h.service.health["alerts"]()
        offset[0] = timedelta(minutes=10)
        stuck = h.service.health["alerts"]()
    assert healthy is None
    assert "not getting out" in stuck and "503" in stuck


async def test_checks_failing_with_the_same_words_share_one_message_and_thread(tmp_path, slack):
    checks = ("threads-api", "new-chat", "threads-list")
    async with Harness(make_config(tmp_path, slack, checks=checks, extra='group_window = "30s"')) as h:
        for check in checks:
            h.fail(check, times=2)
        await eventually(lambda: h.pending() == 0, "the firings delivered")
        for check in checks:
            h.pass_(check)
        await eventually(lambda: h.pending() == 0, "the resolves delivered")
    [group] = slack.top_level()
    replies = [m.text for m in slack.replies(group.ts)]
    assert [r.split()[0] for r in replies] == ["FIRING", "FIRING", "RESOLVED", "RESOLVED", "RESOLVED"]
    named_all = [u for u in group.updates if "3 of 3 checks failing" in u["blocks"][0]["text"]["text"]]
    assert named_all and all(c in named_all[0]["blocks"][0]["text"]["text"] for c in checks)
    assert "RESOLVED: 3 checks" in group.updates[-1]["blocks"][0]["text"]["text"]


async def test_different_words_are_different_messages(tmp_path, slack):
    async with Harness(make_config(tmp_path, slack, checks=("a", "b"))) as h:
        h.fail("a", times=2)
        h.fail("b", times=2, error="timeout talking to redis")
        await eventually(lambda: h.pending() == 0, "the firings delivered")
    assert len(slack.top_level()) == 2


async def test_a_silenced_check_records_but_holds_its_notices(tmp_path, slack):
    async with Harness(make_config(tmp_path, slack)) as h:
        alerts = AlertStore(h.store.db)
        alerts.silence("threads-api", utcnow() + timedelta(hours=2), utcnow())
        h.fail(times=3)
        held = h.pending(), len(alerts.open_incidents())
        alerts.unsilence("threads-api")
        h.fail()
        await eventually(lambda: h.pending() == 0, "the firing delivered")
    assert held == (0, 1)
    [firing] = slack.messages
    assert "failing for 4 runs" in firing.text


async def test_the_incident_and_its_notice_are_written_together_or_not_at_all(tmp_path, slack):
    async with Harness(make_config(tmp_path, slack)) as h:
        h.store.db.execute("create trigger full before insert on outbox "
                           "begin select raise(abort, 'disk full'); end")
        h.fail()
        with pytest.raises(sqlite3.IntegrityError):
            h.fail()
        rows = h.store.db.execute("select count(*) from incidents").fetchone()[0]
        h.store.db.execute("drop trigger full")
        h.fail()  # the runs table still says 3 failures in a row: the incident opens now
        await eventually(lambda: h.pending() == 0, "the firing delivered")
    assert rows == 0
    assert len(slack.messages) == 1


async def test_console_channel_prints_firing_and_resolved(tmp_path):
    out = io.StringIO()
    config = make_config(tmp_path, None)
    assert [c.name for c in build_channels(config)] == ["console"]
    async with Harness(config, channels=[ConsoleChannel(out)]) as h:
        h.fail(times=2, error="no such table: threads \x1b[31m")
        h.pass_()
        await eventually(lambda: h.pending() == 0, "both notices printed")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("FIRING threads-api: expected status 200, got 500: no such table: threads \\x1b[31m")
    assert lines[1].startswith("RESOLVED threads-api after")


class Recording(NO_TELEMETRY.__class__):
    def __init__(self):
        self.calls = []

    def alert_sent(self, channel, kind):
        self.calls.append(("sent", channel, kind))

    def alert_delivery_failed(self, channel, reason):
        self.calls.append(("failed", channel, reason))

    def outbox_pending(self, count):
        self.calls.append(("pending", count))

    def incident_state(self, check, open, consecutive_failures):
        self.calls.append(("incident", check, open, consecutive_failures))


async def test_telemetry_hears_incidents_deliveries_and_the_outbox(tmp_path, slack):
    slack.fail_next("chat.postMessage", 500)
    telemetry = Recording()
    async with Harness(make_config(tmp_path, slack), telemetry=telemetry) as h:
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0, "the firing delivered")
    calls = telemetry.calls
    assert ("incident", "threads-api", False, 1) in calls and ("incident", "threads-api", True, 2) in calls
    assert ("failed", "slack", "server_error") in calls and ("sent", "slack", "firing") in calls
    assert ("pending", 1) in calls and calls[-1] == ("pending", 0)


async def test_notices_for_a_channel_no_longer_configured_are_given_up_loudly(tmp_path, slack):
    slack.down = True
    async with Harness(make_config(tmp_path, slack)) as h:  # with Slack
        h.fail(times=2)
        await eventually(lambda: slack.count("chat.postMessage") >= 1, "a first try")
    async with Harness(make_config(tmp_path, None), channels=[ConsoleChannel(io.StringIO())]) as h:  # without it
        # Given up by a write that start() does not wait for.
        await eventually(lambda: h.pending() == 0, "the Slack notice given up")
        pending, failures = h.pending(), AlertStore(h.store.db).permanent_failures()
    assert pending == 0 and failures[0]["last_error"] == "the channel is no longer configured"


async def test_reminders_and_per_check_thresholds(tmp_path, slack):
    path = tmp_path / "config.toml"
    path.write_text(f"""
[monitor]
database = "monitor.db"
[alerts]
failure_threshold = 2
reminder_interval = "1m"
[alerts.slack]
token = "{TOKEN}"
channel = "#oncall"
api_url = "{slack.api_url}"
[[checks]]
name = "threads-api"
url = "http://127.0.0.1:9/threads-api"
[[checks]]
name = "slow-burn"
url = "http://127.0.0.1:9/slow-burn"
[checks.alerts]
failure_threshold = 4
reminder_interval = "off"
""")
    from monitor.app.config import load_config

    later = timedelta(0)

    def clock():  # the reminder is due once a minute has passed since the firing, not a millisecond
        return utcnow() + later

    async with Harness(load_config(path), clock=clock) as h:
        h.fail("threads-api", times=2)
        later = timedelta(minutes=1)
        h.fail("threads-api", error="pool exhausted")
        h.fail("slow-burn", times=3, error="disk full")
        await eventually(lambda: h.pending() == 0, "the firing and the reminder delivered")
        quiet = len(slack.messages)
        h.fail("slow-burn", error="disk full")
        h.fail("slow-burn", error="disk full")
        await eventually(lambda: h.pending() == 0, "slow-burn's firing delivered")
    assert quiet == 2
    firing, slow = slack.top_level()
    [reminder] = slack.replies(firing.ts)
    assert reminder.text.startswith("STILL FAILING threads-api") and "pool exhausted" in reminder.text
    assert f"was: `{RELATION}`" in reminder.all_text
    assert slow.text.startswith("FIRING slow-burn") and "failing for 4 runs" in slow.text
    assert slack.replies(slow.ts) == []  # reminders off for this check


async def test_new_words_while_failing_reach_the_thread_at_once_not_at_the_next_reminder(tmp_path, slack):
    """The missing table gives way to a connection error: with the default hourly reminder, on-call hears of it
    as soon as it held for failure_threshold (2) runs, in the incident's thread, with what it was before."""
    async with Harness(make_config(tmp_path, slack, reminder="1h")) as h:
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0 and slack.top_level(), "the firing delivered")
        [firing] = slack.top_level()
        h.fail(error=None, failure="connection refused")
        h.fail()  # a flicker back: the new words have not held yet
        h.fail(error=None, failure="connection refused")
        # Each fail() returns once its incident change and notices are written: only the firing is queued.
        assert h.store.db.execute("select kind from outbox").fetchall() == [("firing",)]
        h.fail(error=None, failure="connection refused")  # held for 2 runs in a row
        await eventually(lambda: slack.replies(firing.ts), "the change in the thread")
    [changed] = slack.replies(firing.ts)
    assert changed.text.startswith(f"CHANGED threads-api: connection refused (was: {RELATION})")
    assert f"was: `{RELATION}`" in changed.all_text
    assert firing.updates == []  # the message keeps the words it fired with
    assert len(slack.top_level()) == 1


async def test_a_busy_database_delays_recording_but_sends_nothing_twice(tmp_path, slack):
    async with Harness(make_config(tmp_path, slack)) as h:
        other = sqlite3.connect(tmp_path / "monitor.db", timeout=0)
        h.fail(times=2)
        # Before the worker runs: another process holds the write lock, so
        # the send goes out but recording it waits in the store writer.
        other.execute("begin exclusive")
        await eventually(lambda: slack.messages and h.writer.health(), "the send, its recording held")
        held = h.pending()
        other.rollback()
        other.close()
        await eventually(lambda: h.pending() == 0, "the delivery recorded")
        health = h.service.health["alerts"]()
    assert (held, health) == (1, None)
    assert len(slack.messages) == 1


async def test_housekeeping_forgets_old_notices_and_incidents_but_not_open_ones(tmp_path, slack):
    later = [timedelta(0)]
    async with Harness(make_config(tmp_path, slack, checks=("a", "b")), clock=lambda: utcnow() + later[0]) as h:
        h.fail("a", times=2)
        h.pass_("a")
        h.fail("b", times=2)
        await eventually(lambda: h.pending() == 0, "the notices delivered")
        later[0] = timedelta(days=31)
        gone = await h.jobs["housekeeping:alerts"]()
        left = [i.check for i in AlertStore(h.store.db).open_incidents()]
        outbox = h.store.db.execute("select count(*) from outbox").fetchone()[0]
    assert gone == 4 and left == ["b"] and outbox == 0


async def test_removing_a_failing_check_closes_its_incident_in_its_thread_once(tmp_path, slack):
    config = make_config(tmp_path, slack, checks=("threads-api", "health"))
    without = make_config(tmp_path, slack, checks=("health",))
    async with Harness(config) as h:
        h.fail(times=2)
        await eventually(lambda: slack.top_level(), "the firing")
        h.alerts.on_reload(without)
        await eventually(lambda: h.pending() == 0 and slack.replies(slack.top_level()[0].ts),
                         "the close in the firing's thread")
        h.alerts.on_reload(without)  # reloading again finds nothing left to close
        h.fail(times=3)  # runs that were in flight when it was removed open nothing
        await eventually(lambda: h.pending() == 0, "the outbox drained")
        still_open = AlertStore(h.store.db).open_incidents()
    assert still_open == []
    [firing] = slack.top_level()
    [closed] = slack.replies(firing.ts)
    assert closed.text.startswith("CLOSED threads-api: the check was removed from the config, after")
    assert firing.updates[-1]["text"].startswith("CLOSED threads-api")


async def test_a_check_that_moves_to_another_shard_closes_its_incident_saying_where_it_went(tmp_path, slack):
    from monitor.core.sharding import Share, owner

    config = make_config(tmp_path, slack, checks=("threads-api", "health"))
    elsewhere = next(k for k in (1, 2) if owner("threads-api", 2) != k)  # the shard that does not run it
    async with Harness(config) as h:
        h.fail(times=2)
        await eventually(lambda: slack.top_level(), "the firing")
        h.alerts.on_reload(config.for_shard(Share(elsewhere, 2)))
        await eventually(lambda: h.pending() == 0 and slack.replies(slack.top_level()[0].ts), "the close")
    [closed] = slack.replies(slack.top_level()[0].ts)
    assert closed.text.startswith(f"CLOSED threads-api: the check moved to shard {owner('threads-api', 2)}/2")


async def test_a_restart_without_a_failing_check_closes_its_incident(tmp_path, slack):
    async with Harness(make_config(tmp_path, slack, checks=("threads-api", "health"))) as h:  # failing
        h.fail(times=2)
        await eventually(lambda: slack.top_level(), "the firing")
    async with Harness(make_config(tmp_path, slack, checks=("health",))) as h:  # restarted without it
        await eventually(lambda: slack.replies(slack.top_level()[0].ts) and h.pending() == 0,
                         "the close in the firing's thread")
        still_open = AlertStore(h.store.db).open_incidents()
    assert still_open == []
    [closed] = slack.replies(slack.top_level()[0].ts)
    assert closed.text.startswith("CLOSED threads-api")


async def test_removing_a_check_of_a_group_closes_it_in_the_groups_thread_and_the_group_goes_on(tmp_path, slack):
    extra = 'group_window = "60s"'
    config = make_config(tmp_path, slack, checks=("threads-api", "new-chat"), extra=extra)
    without = make_config(tmp_path, slack, checks=("threads-api",), extra=extra)
    async with Harness(config) as h:
        h.fail("threads-api", times=2)
        await eventually(lambda: slack.top_level(), "the group's message")
        h.fail("new-chat", times=2)  # the same words: it joins the group's thread
        await eventually(lambda: h.pending() == 0 and slack.replies(slack.top_level()[0].ts),
                         "new-chat in the group's thread")
        h.alerts.on_reload(without)
        await eventually(lambda: h.pending() == 0 and len(slack.replies(slack.top_level()[0].ts)) == 2,
                         "new-chat's close in the thread")
        removed_shown = slack.top_level()[0].updates[-1]["blocks"][0]["text"]["text"]
        h.pass_("threads-api")
        await eventually(lambda: h.pending() == 0 and len(slack.replies(slack.top_level()[0].ts)) == 3,
                         "threads-api's resolve in the thread")
    [group] = slack.top_level()
    joined, closed, resolved = slack.replies(group.ts)
    assert closed.text.startswith("CLOSED new-chat: the check was removed from the config")
    assert "1 of 2 checks failing" in removed_shown and "new-chat (removed)" in removed_shown
    final = group.updates[-1]["blocks"][0]["text"]["text"]
    assert "*RESOLVED: 2 checks* — threads-api (resolved), new-chat (removed)" in final


async def test_a_check_removed_and_added_back_starts_its_streak_afresh(tmp_path, slack):
    config = make_config(tmp_path, slack, checks=("threads-api", "health"))
    without = make_config(tmp_path, slack, checks=("health",))
    async with Harness(config) as h:
        h.fail()  # one short of the threshold
        h.alerts.on_reload(without)
        assert h.writer.flush(5)  # the removal is applied before the check comes back
        h.alerts.on_reload(config)
        h.fail()  # days later, say: one failure, not the second in a row
        await eventually(lambda: h.pending() == 0, "the outbox drained")
        still_open = AlertStore(h.store.db).open_incidents()
    assert still_open == []
    assert slack.messages == []


async def test_a_silenced_check_removed_from_the_config_closes_quietly(tmp_path, slack):
    config = make_config(tmp_path, slack, checks=("threads-api", "health"))
    async with Harness(config) as h:
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0 and slack.messages, "the firing delivered")
        AlertStore(h.store.db).silence("threads-api", utcnow() + timedelta(hours=2), utcnow())
        h.alerts.on_reload(make_config(tmp_path, slack, checks=("health",)))
        assert h.writer.flush(5)
        pending, still_open = h.pending(), AlertStore(h.store.db).open_incidents()
    assert (pending, still_open) == (0, [])
    assert [m.text.split()[0] for m in slack.messages] == ["FIRING"]
