"""The Alertmanager channel: alerts as Prometheus pushes them, re-sent while open, and a real Alertmanager's Slack.

The last test runs Debian's Alertmanager with the shipped config and Slack
template (dashboards/), its Slack receiver posting to a loopback Slack: the
message on-call reads shows the location and the server's words, escaped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from alerts.channels.alertmanager import ALERTNAME, ENDS_AFTER, SAID_LIMIT, AlertmanagerSettings, alertmanager_alert
from monitor.core.results import utcnow
from tests.alertmanager import AlertmanagerServer, shipped_config
from tests.alerts_harness import Harness, make_config
from tests.hook_server import Answer, HookServer
from tests.notices import RELATION, notice
from tests.polling import eventually

NOW = datetime.fromisoformat("2026-05-01T09:16:30+00:00")
HOSTILE = 'relation "threads" does not exist <!channel> `x` & <https://evil.example|click>'


def facts(**more):
    return {"location": "eu-west", "type": "http", "run_id": 42, "labels": {"team": "chat"},
            "artifacts": ["threads-api/42/trace.zip"], **more}


def test_a_firing_alert_has_prometheus_shaped_labels_annotations_and_a_future_end():
    alert = alertmanager_alert(notice(check="threads-api", facts=facts()),
                               AlertmanagerSettings(("http://am:9093",), "https://wiki.example.com/rb/{check}"), NOW,
                               public_url="https://monitor.example.com")
    assert alert["labels"] == {"alertname": ALERTNAME, "check": "threads-api", "location": "eu-west", "type": "http",
                               "team": "chat"}
    annotations = alert["annotations"]
    assert annotations["server_said"] == RELATION and annotations["failure"] == "expected status 201, got 500"
    assert annotations["runbook_url"] == "https://wiki.example.com/rb/threads-api"
    assert annotations["replay"] == "monitor replay threads-api"  # an HTTP check is sent again
    assert annotations["artifacts"] == "https://monitor.example.com/artifacts/threads-api/42/trace.zip"
    assert alert["generatorURL"] == "https://monitor.example.com/#check-threads-api"
    assert alert["startsAt"] == "2026-05-01T09:14:00.000+00:00"
    assert datetime.fromisoformat(alert["endsAt"]) == NOW + timedelta(seconds=ENDS_AFTER)


def test_a_resolved_alert_ends_when_it_resolved_and_long_words_are_capped():
    resolved = alertmanager_alert(notice(kind="resolved", resolved_at="2026-05-01T09:16:00+00:00", facts=facts()),
                                  AlertmanagerSettings(("http://am:9093",)), NOW)
    assert resolved["endsAt"] == "2026-05-01T09:16:00.000+00:00" and "runbook_url" not in resolved["annotations"]
    long = alertmanager_alert(notice(error_text="y" * 5000, facts=facts()), AlertmanagerSettings(("x",)), NOW)
    assert len(long["annotations"]["server_said"]) == SAID_LIMIT


@pytest.fixture
def peers():
    with HookServer(default=Answer(200, b"")) as one, HookServer(default=Answer(200, b"")) as two:
        yield one, two


async def test_every_peer_gets_each_alert_and_it_is_re_sent_while_open_and_for_a_while_after(tmp_path, peers):
    one, two = peers
    two.answer(503, times=1)  # one peer down for the first push: the other took it, the next re-send reaches both
    later = timedelta(0)
    config = make_config(tmp_path, None, extra=f'[alerts.am]\nkind = "alertmanager"\n'
                                              f'urls = ["{one.url}", "{two.url}"]\n')
    async with Harness(config, clock=lambda: utcnow() + later) as h:
        [am] = h.alerts.channels

        async def refresh():
            await h.alerts.refresh(am)

        await h.jobs["alerts:refresh"]()  # at start: nothing open yet
        assert one.received == [] and two.received == []
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0, "the firing pushed")
        await refresh()
        for peer in (one, two):
            assert peer.received[-1].path == "/api/v2/alerts"
            [alert] = peer.received[-1].json
            assert alert["labels"]["check"] == "threads-api" and alert["annotations"]["server_said"] == RELATION
        h.pass_()
        await eventually(lambda: h.pending() == 0, "the resolve pushed")
        await refresh()
        [resolved] = one.received[-1].json
        assert datetime.fromisoformat(resolved["endsAt"]) <= utcnow()
        later = timedelta(minutes=6)  # past the five minutes a resolved alert is re-sent for
        sent = len(one.received)
        await refresh()
        assert len(one.received) == sent


async def test_the_refresh_job_hands_each_channel_its_alerts_once_per_resend_every(tmp_path, peers):
    one, _ = peers
    config = make_config(tmp_path, None, extra=f'[alerts.am]\nkind = "alertmanager"\nurls = ["{one.url}"]\n')
    async with Harness(config) as h:
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0, "the firing pushed")
        pushed = len(one.received)
        due = h.jobs["alerts:refresh"]
        await due()  # the first look refreshes: a restart must not let the alerts lapse
        assert len(one.received) == pushed + 1
        await due()  # the job looks every few seconds; the channel is due again only after resend_every
        assert len(one.received) == pushed + 1


@pytest.mark.slow
async def test_a_real_alertmanager_takes_the_alert_and_its_slack_shows_the_servers_words(tmp_path, slack):
    target_said = HOSTILE
    with AlertmanagerServer(tmp_path, shipped_config(tmp_path, slack.webhook_url)) as am:
        config = make_config(tmp_path, None, extra=f'[alerts.alertmanager]\nurls = ["{am.url}"]\n')
        async with Harness(config) as h:
            h.fail(times=2, error=target_said)
            await eventually(lambda: h.pending() == 0, "the alert pushed")
            [alert] = am.alerts()
            assert alert["labels"]["alertname"] == ALERTNAME and alert["annotations"]["server_said"] == target_said
            await eventually(lambda: slack.webhook_messages, "Alertmanager's Slack message", timeout=20)
            firing = slack.webhook_messages[0]["attachments"][0]
            assert firing["title"].startswith("FIRING threads-api: 1 location(s) failing")
            assert "relation \"threads\" does not exist &lt;!channel&gt;" in firing["text"]
            assert "<!channel>" not in firing["text"] and "<https://evil" not in firing["text"]
            assert firing["fallback"].startswith('FIRING threads-api: 1 location(s) failing: relation "threads"')
            h.pass_()
            await eventually(lambda: h.pending() == 0, "the resolve pushed")
            await eventually(lambda: len(slack.webhook_messages) >= 2, "the resolved message", timeout=20)
            assert slack.webhook_messages[-1]["attachments"][0]["title"].startswith("RESOLVED threads-api")
            assert am.alerts(active="true") == []
