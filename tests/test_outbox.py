"""Incidents and the outbox with a real SQLite file and the real slack-sdk against a loopback Slack.

Results are fed to the `Alerts` part directly (as the runner does after
storing them), so each story runs in well under a second of waiting.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
from datetime import timedelta
from types import SimpleNamespace

import pytest

from alerts.channels.console import ConsoleChannel
from alerts.part import Alerts, build_channels
from alerts.state_store import AlertStore
from monitor.app.config import parse_config
from monitor.app.database import open_store
from monitor.core.results import Result, utcnow
from monitor.core.store_writer import StoreWriter
from monitor.core.telemetry import NO_TELEMETRY
from tests.slack_server import TOKEN, SlackServer
from tests.test_service import until

RELATION = 'relation "threads" does not exist'


def make_config(tmp_path, slack: SlackServer | None, checks=("threads-api",), extra=""):
    slack_table = f'[alerts.slack]\ntoken = "{TOKEN}"\nchannel = "#oncall"\napi_url = "{slack.api_url}"\n' \
        if slack else ""
    text = f"""
[monitor]
database = "monitor.db"
[alerts]
failure_threshold = 2
reminder_interval = "off"
retry_backoff = "50ms"
retry_backoff_max = "200ms"
{extra}
{slack_table}
""" + "".join(f'[[checks]]\nname = "{c}"\nurl = "http://127.0.0.1:9/{c}"\n' for c in checks)
    (tmp_path / "config.toml").write_text(text)
    return parse_config(text, path=tmp_path / "config.toml")


class Harness:
    """One `monitor run`'s alert part over a real database, without the scheduler."""

    def __init__(self, config, channels=None, clock=utcnow, telemetry=NO_TELEMETRY):
        self.config = config
        self.store = open_store(config.monitor.database)
        self.writer = StoreWriter(open_store(config.monitor.database))
        self.alerts = Alerts(config, store=AlertStore(self.store.db), writer=self.writer, channels=channels,
                             clock=clock, telemetry=telemetry)
        self.jobs = {}
        self.service = SimpleNamespace(health={}, every=self._every)

    def _every(self, job_id, func, seconds, first_in=0.0):
        self.jobs[job_id] = func

    async def __aenter__(self) -> Harness:
        await self.alerts.start(self.service)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.alerts.stop()
        self.writer.close()
        self.store.close()

    def run(self, check: str, ok: bool, error: str | None = RELATION) -> None:
        result = Result(check=check, type="http", location="test", target=f"http://127.0.0.1:9/{check}",
                        started_at=utcnow(), duration_ms=3.0, ok=ok, status_code=200 if ok else 500,
                        method="GET", failure=None if ok else "expected status 200, got 500",
                        error_text=None if ok else error)
        # As the runner does: stored, then told to the alerts, on the writer's thread.
        self.writer.submit(lambda: self.writer.store.record(result),
                           lambda: self.alerts.on_result(self.config.check(check), result)).result(10)

    def fail(self, check: str = "threads-api", times: int = 1, error: str = RELATION) -> None:
        for _ in range(times):
            self.run(check, False, error)

    def pass_(self, check: str = "threads-api") -> None:
        self.run(check, True)

    def pending(self) -> int:
        return AlertStore(self.store.db).pending_count()


@pytest.fixture
def slack():
    with SlackServer() as server:
        yield server


async def wait(predicate, timeout: float = 10.0):
    value = await until(predicate, timeout=timeout, every=0.02)
    assert value, "timed out"
    return value


def test_firing_then_resolve_in_the_same_thread(tmp_path, slack):
    async def story():
        async with Harness(make_config(tmp_path, slack)) as h:
            h.fail(times=3)
            await wait(lambda: slack.top_level())
            h.pass_()
            await wait(lambda: h.pending() == 0 and slack.replies(slack.top_level()[0].ts))
    asyncio.run(story())
    [firing] = slack.top_level()
    [resolved] = slack.replies(firing.ts)
    assert firing.text.startswith("FIRING threads-api") and resolved.text.startswith("RESOLVED threads-api")
    assert firing.updates[-1]["text"].startswith("RESOLVED")


def test_a_restart_continues_the_incident_no_second_firing_and_the_resolve_comes(tmp_path, slack):
    config = make_config(tmp_path, slack)

    async def before_restart():
        async with Harness(config) as h:
            h.fail(times=2)
            await wait(lambda: h.pending() == 0)

    async def after_restart():
        async with Harness(config) as h:
            h.fail(times=3)
            h.pass_()
            await wait(lambda: h.pending() == 0)

    asyncio.run(before_restart())
    asyncio.run(after_restart())
    [firing] = slack.top_level()
    assert [m.text.split()[0] for m in slack.replies(firing.ts)] == ["RESOLVED"]
    assert "5 failed runs" in slack.replies(firing.ts)[0].text


def test_undelivered_notices_from_before_a_crash_go_out_in_order_once(tmp_path, slack):
    config = make_config(tmp_path, slack)
    slack.down = True

    async def crashed():
        h = Harness(config)
        await h.alerts.start(h.service)
        h.fail(times=2)
        h.pass_()
        await wait(lambda: slack.count("chat.postMessage") >= 1)
        # No clean stop: the process dies here with both notices in the outbox.
        for task in h.alerts._tasks:
            task.cancel()
        h.writer.close(0)
        h.store.close()

    async def restarted():
        slack.down = False
        async with Harness(config) as h:
            await wait(lambda: h.pending() == 0)

    asyncio.run(crashed())
    assert slack.messages == []
    asyncio.run(restarted())
    [firing] = slack.top_level()
    assert [m.text.split()[0] for m in slack.replies(firing.ts)] == ["RESOLVED"]


def test_429_twice_then_the_message_arrives_once(tmp_path, slack):
    slack.fail_next("chat.postMessage", 429, times=2, retry_after=0)

    async def story():
        async with Harness(make_config(tmp_path, slack)) as h:
            h.fail(times=2)
            await wait(lambda: h.pending() == 0)
    asyncio.run(story())
    assert len(slack.messages) == 1
    assert slack.count("chat.postMessage", 429) == 2 and slack.count("chat.postMessage", 200) == 1


def test_slack_down_for_a_while_then_everything_in_order(tmp_path, slack):
    slack.down = True

    async def story():
        async with Harness(make_config(tmp_path, slack)) as h:
            h.fail(times=2)
            h.pass_()
            h.fail(times=2, error="pool exhausted")
            await wait(lambda: slack.count("chat.postMessage", 503) >= 4)  # it kept trying
            assert h.pending() == 3
            slack.down = False
            await wait(lambda: h.pending() == 0)
    asyncio.run(story())
    first, second = slack.top_level()
    assert first.text.startswith("FIRING threads-api") and RELATION in first.text
    assert [m.text.split()[0] for m in slack.replies(first.ts)] == ["RESOLVED"]
    assert "pool exhausted" in second.text
    assert [m.ts for m in slack.messages] == sorted(m.ts for m in slack.messages)
    assert slack.messages.index(first) < slack.messages.index(slack.replies(first.ts)[0]) < \
        slack.messages.index(second)


def test_a_permanent_error_is_not_retried_and_shows_in_health(tmp_path, slack):
    slack.fail_next("chat.postMessage", "channel_not_found")

    async def story():
        async with Harness(make_config(tmp_path, slack)) as h:
            h.fail(times=2)
            await wait(lambda: h.pending() == 0)
            problem = h.service.health["alerts"]()
            failures = AlertStore(h.store.db).permanent_failures()
            h.pass_()  # the next notice still goes out (standalone: the firing has no thread)
            await wait(lambda: h.pending() == 0)
            return problem, failures, h.service.health["alerts"]()

    problem, failures, later = asyncio.run(story())
    assert "channel_not_found" in problem
    assert failures[0]["kind"] == "firing" and "channel_not_found" in failures[0]["last_error"]
    assert slack.count("chat.postMessage") == 2
    assert [m.text.split()[0] for m in slack.messages] == ["RESOLVED"]
    assert later is None


def test_health_reports_an_outbox_that_does_not_drain(tmp_path, slack):
    slack.down = True
    offset = [timedelta(0)]

    async def story():
        async with Harness(make_config(tmp_path, slack), clock=lambda: utcnow() + offset[0]) as h:
            h.fail(times=2)
            await wait(lambda: AlertStore(h.store.db).oldest_pending()[1])  # a failed try is recorded
            healthy = h.service.health["alerts"]()
            offset[0] = timedelta(minutes=10)
            return healthy, h.service.health["alerts"]()

    healthy, stuck = asyncio.run(story())
    assert healthy is None
    assert "not getting out" in stuck and "503" in stuck


def test_checks_failing_with_the_same_words_share_one_message_and_thread(tmp_path, slack):
    checks = ("threads-api", "new-chat", "threads-list")

    async def story():
        async with Harness(make_config(tmp_path, slack, checks=checks, extra='group_window = "30s"')) as h:
            for check in checks:
                h.fail(check, times=2)
            await wait(lambda: h.pending() == 0)
            for check in checks:
                h.pass_(check)
            await wait(lambda: h.pending() == 0)
    asyncio.run(story())
    [group] = slack.top_level()
    replies = [m.text for m in slack.replies(group.ts)]
    assert [r.split()[0] for r in replies] == ["FIRING", "FIRING", "RESOLVED", "RESOLVED", "RESOLVED"]
    named_all = [u for u in group.updates if "3 of 3 checks failing" in u["blocks"][0]["text"]["text"]]
    assert named_all and all(c in named_all[0]["blocks"][0]["text"]["text"] for c in checks)
    assert "RESOLVED: 3 checks" in group.updates[-1]["blocks"][0]["text"]["text"]


def test_different_words_are_different_messages(tmp_path, slack):
    async def story():
        async with Harness(make_config(tmp_path, slack, checks=("a", "b"))) as h:
            h.fail("a", times=2)
            h.fail("b", times=2, error="timeout talking to redis")
            await wait(lambda: h.pending() == 0)
    asyncio.run(story())
    assert len(slack.top_level()) == 2


def test_a_silenced_check_records_but_holds_its_notices(tmp_path, slack):
    async def story():
        async with Harness(make_config(tmp_path, slack)) as h:
            alerts = AlertStore(h.store.db)
            alerts.silence("threads-api", utcnow() + timedelta(hours=2), utcnow())
            h.fail(times=3)
            held = h.pending(), len(alerts.open_incidents())
            alerts.unsilence("threads-api")
            h.fail()
            await wait(lambda: h.pending() == 0)
            return held
    held = asyncio.run(story())
    assert held == (0, 1)
    [firing] = slack.messages
    assert "failing for 4 runs" in firing.text


def test_the_incident_and_its_notice_are_written_together_or_not_at_all(tmp_path, slack):
    async def story():
        async with Harness(make_config(tmp_path, slack)) as h:
            h.store.db.execute("create trigger full before insert on outbox "
                               "begin select raise(abort, 'disk full'); end")
            h.fail()
            with pytest.raises(sqlite3.IntegrityError):
                h.fail()
            rows = h.store.db.execute("select count(*) from incidents").fetchone()[0]
            h.store.db.execute("drop trigger full")
            h.fail()  # the runs table still says 3 failures in a row: the incident opens now
            await wait(lambda: h.pending() == 0)
            return rows
    assert asyncio.run(story()) == 0
    assert len(slack.messages) == 1


def test_console_channel_prints_firing_and_resolved(tmp_path):
    out = io.StringIO()

    async def story():
        config = make_config(tmp_path, None)
        assert [c.name for c in build_channels(config)] == ["console"]
        async with Harness(config, channels=[ConsoleChannel(out)]) as h:
            h.fail(times=2, error="no such table: threads \x1b[31m")
            h.pass_()
            await wait(lambda: h.pending() == 0)
    asyncio.run(story())
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


def test_telemetry_hears_incidents_deliveries_and_the_outbox(tmp_path, slack):
    slack.fail_next("chat.postMessage", 500)
    telemetry = Recording()

    async def story():
        async with Harness(make_config(tmp_path, slack), telemetry=telemetry) as h:
            h.fail(times=2)
            await wait(lambda: h.pending() == 0)
    asyncio.run(story())
    calls = telemetry.calls
    assert ("incident", "threads-api", False, 1) in calls and ("incident", "threads-api", True, 2) in calls
    assert ("failed", "slack", "server_error") in calls and ("sent", "slack", "firing") in calls
    assert ("pending", 1) in calls and calls[-1] == ("pending", 0)


def test_notices_for_a_channel_no_longer_configured_are_given_up_loudly(tmp_path, slack):
    slack.down = True

    async def with_slack():
        async with Harness(make_config(tmp_path, slack)) as h:
            h.fail(times=2)
            await wait(lambda: slack.count("chat.postMessage") >= 1)

    async def without_slack():
        async with Harness(make_config(tmp_path, None), channels=[ConsoleChannel(io.StringIO())]) as h:
            await wait(lambda: h.pending() == 0)  # given up by a write that start() does not wait for
            return h.pending(), AlertStore(h.store.db).permanent_failures()

    asyncio.run(with_slack())
    pending, failures = asyncio.run(without_slack())
    assert pending == 0 and failures[0]["last_error"] == "the channel is no longer configured"


def test_reminders_and_per_check_thresholds(tmp_path, slack):
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

    async def story():
        nonlocal later
        async with Harness(load_config(path), clock=clock) as h:
            h.fail("threads-api", times=2)
            later = timedelta(minutes=1)
            h.fail("threads-api", error="pool exhausted")
            h.fail("slow-burn", times=3, error="disk full")
            await wait(lambda: h.pending() == 0)
            quiet = len(slack.messages)
            h.fail("slow-burn", error="disk full")
            h.fail("slow-burn", error="disk full")
            await wait(lambda: h.pending() == 0)
            return quiet
    assert asyncio.run(story()) == 2
    firing, slow = slack.top_level()
    [reminder] = slack.replies(firing.ts)
    assert reminder.text.startswith("STILL FAILING threads-api") and "pool exhausted" in reminder.text
    assert f"was: `{RELATION}`" in reminder.all_text
    assert slow.text.startswith("FIRING slow-burn") and "failing for 4 runs" in slow.text
    assert slack.replies(slow.ts) == []  # reminders off for this check


def test_a_busy_database_delays_recording_but_sends_nothing_twice(tmp_path, slack):
    async def story():
        async with Harness(make_config(tmp_path, slack)) as h:
            other = sqlite3.connect(tmp_path / "monitor.db", timeout=0)
            h.fail(times=2)
            # Before the worker runs: another process holds the write lock, so
            # the send goes out but recording it waits in the store writer.
            other.execute("begin exclusive")
            await wait(lambda: slack.messages and h.writer.health())
            held = h.pending()
            other.rollback()
            other.close()
            await wait(lambda: h.pending() == 0)
            return held, h.service.health["alerts"]()
    assert asyncio.run(story()) == (1, None)
    assert len(slack.messages) == 1


def test_housekeeping_forgets_old_notices_and_incidents_but_not_open_ones(tmp_path, slack):
    later = [timedelta(0)]

    async def story():
        async with Harness(make_config(tmp_path, slack, checks=("a", "b")),
                           clock=lambda: utcnow() + later[0]) as h:
            h.fail("a", times=2)
            h.pass_("a")
            h.fail("b", times=2)
            await wait(lambda: h.pending() == 0)
            later[0] = timedelta(days=31)
            gone = await h.jobs["housekeeping:alerts"]()
            left = [i.check for i in AlertStore(h.store.db).open_incidents()]
            outbox = h.store.db.execute("select count(*) from outbox").fetchone()[0]
            return gone, left, outbox
    gone, left, outbox = asyncio.run(story())
    assert gone == 4 and left == ["b"] and outbox == 0


def test_removing_a_failing_check_closes_its_incident_in_its_thread_once(tmp_path, slack):
    config = make_config(tmp_path, slack, checks=("threads-api", "health"))
    without = make_config(tmp_path, slack, checks=("health",))

    async def story():
        async with Harness(config) as h:
            h.fail(times=2)
            await wait(lambda: slack.top_level())
            h.alerts.on_reload(without)
            await wait(lambda: h.pending() == 0 and slack.replies(slack.top_level()[0].ts))
            h.alerts.on_reload(without)  # reloading again finds nothing left to close
            h.fail(times=3)  # runs that were in flight when it was removed open nothing
            await wait(lambda: h.pending() == 0)
            return AlertStore(h.store.db).open_incidents()
    assert asyncio.run(story()) == []
    [firing] = slack.top_level()
    [closed] = slack.replies(firing.ts)
    assert closed.text.startswith("CLOSED threads-api: the check was removed from the config, after")
    assert firing.updates[-1]["text"].startswith("CLOSED threads-api")


def test_a_restart_without_a_failing_check_closes_its_incident(tmp_path, slack):
    async def failing():
        async with Harness(make_config(tmp_path, slack, checks=("threads-api", "health"))) as h:
            h.fail(times=2)
            await wait(lambda: slack.top_level())

    async def restarted_without_it():
        async with Harness(make_config(tmp_path, slack, checks=("health",))) as h:
            await wait(lambda: slack.replies(slack.top_level()[0].ts) and h.pending() == 0)
            return AlertStore(h.store.db).open_incidents()
    asyncio.run(failing())
    assert asyncio.run(restarted_without_it()) == []
    [closed] = slack.replies(slack.top_level()[0].ts)
    assert closed.text.startswith("CLOSED threads-api")


def test_removing_a_check_of_a_group_closes_it_in_the_groups_thread_and_the_group_goes_on(tmp_path, slack):
    extra = 'group_window = "60s"'
    config = make_config(tmp_path, slack, checks=("threads-api", "new-chat"), extra=extra)
    without = make_config(tmp_path, slack, checks=("threads-api",), extra=extra)

    async def story():
        async with Harness(config) as h:
            h.fail("threads-api", times=2)
            await wait(lambda: slack.top_level())
            h.fail("new-chat", times=2)  # the same words: it joins the group's thread
            await wait(lambda: h.pending() == 0 and slack.replies(slack.top_level()[0].ts))
            h.alerts.on_reload(without)
            await wait(lambda: h.pending() == 0 and len(slack.replies(slack.top_level()[0].ts)) == 2)
            removed_shown = slack.top_level()[0].updates[-1]["blocks"][0]["text"]["text"]
            h.pass_("threads-api")
            await wait(lambda: h.pending() == 0 and len(slack.replies(slack.top_level()[0].ts)) == 3)
            return removed_shown
    removed_shown = asyncio.run(story())
    [group] = slack.top_level()
    joined, closed, resolved = slack.replies(group.ts)
    assert closed.text.startswith("CLOSED new-chat: the check was removed from the config")
    assert "1 of 2 checks failing" in removed_shown and "new-chat (removed)" in removed_shown
    final = group.updates[-1]["blocks"][0]["text"]["text"]
    assert "*RESOLVED: 2 checks* — threads-api (resolved), new-chat (removed)" in final


def test_a_check_removed_and_added_back_starts_its_streak_afresh(tmp_path, slack):
    config = make_config(tmp_path, slack, checks=("threads-api", "health"))
    without = make_config(tmp_path, slack, checks=("health",))

    async def story():
        async with Harness(config) as h:
            h.fail()  # one short of the threshold
            h.alerts.on_reload(without)
            assert h.writer.flush(5)  # the removal is applied before the check comes back
            h.alerts.on_reload(config)
            h.fail()  # days later, say: one failure, not the second in a row
            await wait(lambda: h.pending() == 0)
            return AlertStore(h.store.db).open_incidents()
    assert asyncio.run(story()) == []
    assert slack.messages == []


def test_a_silenced_check_removed_from_the_config_closes_quietly(tmp_path, slack):
    config = make_config(tmp_path, slack, checks=("threads-api", "health"))

    async def story():
        async with Harness(config) as h:
            h.fail(times=2)
            await wait(lambda: h.pending() == 0 and slack.messages)
            AlertStore(h.store.db).silence("threads-api", utcnow() + timedelta(hours=2), utcnow())
            h.alerts.on_reload(make_config(tmp_path, slack, checks=("health",)))
            assert h.writer.flush(5)
            return h.pending(), AlertStore(h.store.db).open_incidents()
    assert asyncio.run(story()) == (0, [])
    assert [m.text.split()[0] for m in slack.messages] == ["FIRING"]
