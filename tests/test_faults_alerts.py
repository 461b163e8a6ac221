"""The Slack side of the fault matrix at scale: 200 checks failing at once, 429 storms, a Slack
that hangs, a revoked token.

Results go straight to the `Alerts` part over a real database (the harness
of tests/alerts_harness.py) and the real slack-sdk talks to the loopback Slack,
so 200 incidents take seconds, not minutes.
"""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from alerts.channels.slack.channel import SlackChannel
from alerts.state_store import AlertStore
from monitor.app.metrics import Metrics
from tests.alerts_harness import Harness, make_config
from tests.polling import eventually

pytestmark = pytest.mark.slow

MANY = [f"api-{i:03d}" for i in range(200)]


async def test_200_checks_failing_with_the_same_words_post_one_channel_message(tmp_path, slack):
    async with Harness(make_config(tmp_path, slack, checks=MANY, extra='group_window = "60s"')) as h:
        for check in MANY:
            h.fail(check, times=2)
        await eventually(lambda: h.pending() == 0, "the outbox drained", timeout=60)
        opened = len(AlertStore(h.store.db).open_incidents())
    assert opened == 200
    # The channel sees one message; the other 199 checks go in its thread, each once.
    [group] = slack.top_level()
    replies = slack.replies(group.ts)
    assert len(replies) == 199
    assert len({r.text for r in replies}) == 199
    assert "200 of 200 checks failing" in group.updates[-1]["blocks"][0]["text"]["text"]


async def test_200_different_failures_in_a_429_storm_each_arrive_once_in_order(tmp_path, slack):
    # Slack rate-limits every other call for a while, asking for a short pause each time.
    slack.fail_next("chat.postMessage", 429, times=30, retry_after=0.05)
    async with Harness(make_config(tmp_path, slack, checks=MANY)) as h:
        for check in MANY:
            h.fail(check, times=2, error=f"{check} lost its database connection")
        await eventually(lambda: h.pending() == 0, "the outbox drained", timeout=90)
    assert slack.count("chat.postMessage", 429) == 30
    firing = [m.text.split()[1].rstrip(":") for m in slack.top_level()]
    assert firing == MANY  # every alert once, in the order the incidents opened


def slow_slack_channel(config, timeout: float) -> SlackChannel:
    settings = config.alerts.destinations["slack"].settings
    return SlackChannel(settings, client=WebClient(token=settings.token, base_url=settings.api_url,
                                                   timeout=timeout))


async def test_a_slack_that_hangs_is_retried_and_the_alert_arrives_once_it_answers(tmp_path, slack):
    config = make_config(tmp_path, slack)
    slack.hang = 1.0  # longer than the client's timeout
    async with Harness(config, channels=[slow_slack_channel(config, timeout=0.3)]) as h:
        h.fail(times=2)
        store = AlertStore(h.store.db)
        await eventually(lambda: store.oldest_pending()[1], "a timed-out try recorded", timeout=10)
        (attempts, last_error) = h.store.db.execute("select attempts, last_error from outbox").fetchone()
        slack.hang = 0.0
        await eventually(lambda: h.pending() == 0, "the firing delivered", timeout=15)
    assert attempts >= 1 and "timed out" in last_error.lower()
    # A request that timed out on our side may still have been posted by the
    # hanging Slack: at-least-once is the contract, but the firing is never lost.
    assert any(m.text.startswith("FIRING threads-api") for m in slack.top_level())


async def test_invalid_auth_is_permanent_and_shows_in_health_status_and_metrics(tmp_path, slack):
    from prometheus_client import CollectorRegistry, generate_latest

    from monitor.app.alert_commands import status_states

    config = make_config(tmp_path, slack)
    slack.token = "xoxb-a-rotated-token"  # ours is now refused with invalid_auth
    metrics = Metrics(CollectorRegistry(), config)

    async with Harness(config, telemetry=metrics) as h:
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0, "the firing given up")
        health, states = h.service.health["alerts"](), status_states(config, h.store)
    assert "invalid_auth" in health
    assert "firing alert NOT delivered via slack" in states["threads-api"]
    assert "invalid_auth" in states["threads-api"]
    assert slack.messages == [] and slack.count("chat.postMessage") == 1  # not retried
    exposed = generate_latest(metrics.registry).decode()
    assert 'synthetic_alert_delivery_failures_total{channel="slack",reason="permanent"} 1.0' in exposed, \
        [line for line in exposed.splitlines() if "delivery_failures" in line]
