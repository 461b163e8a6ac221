"""The PagerDuty channel against a loopback Events API v2: one alert per incident, the server's words first."""

from __future__ import annotations

import pytest

from alerts.channels.base import ChannelContext, DeliveryError
from alerts.channels.pagerduty import SUMMARY_LIMIT, PagerDutyChannel, PagerDutySettings, pagerduty_event
from tests.alerts_harness import Harness, make_config
from tests.hook_server import HookServer
from tests.notices import RELATION, notice
from tests.polling import eventually

KEY = "R0UT1NGKEY0123456789ABCDEFGHIJKL"


@pytest.fixture
def events_api():
    with HookServer() as server:
        yield server


def test_a_trigger_leads_with_the_servers_words_and_carries_the_rest():
    n = notice(incident_id=5, facts={"method": "POST", "target": "https://chat.example.com/api/threads",
                                     "status_code": 500, "location": "eu-west", "type": "browser", "run_id": 42,
                                     "labels": {"team": "chat", "severity": "warning"},
                                     "artifacts": ["new-chat/42/trace.zip"]})
    event = pagerduty_event(n, PagerDutySettings(KEY), public_url="https://monitor.example.com")
    assert event["event_action"] == "trigger" and event["dedup_key"] == "synthetic-monitor/new-chat/5"
    payload = event["payload"]
    assert payload["summary"] == f"{RELATION} — new-chat: expected status 201, got 500"
    assert (payload["source"], payload["severity"], payload["component"], payload["group"], payload["class"]) == (
        "eu-west", "warning", "new-chat", "chat", "browser")
    assert payload["custom_details"]["server_said"] == RELATION
    assert payload["custom_details"]["replay"] == "monitor replay new-chat --run 42"
    assert {"href": "https://monitor.example.com/artifacts/new-chat/42/trace.zip", "text": "trace"} in event["links"]
    assert event["client_url"] == "https://monitor.example.com/#check-new-chat"


def test_a_long_summary_is_cut_to_pagerdutys_limit_and_a_resolve_is_just_the_key():
    long = notice(error_text="x" * 5000 + "\n\tend", incident_id=9)
    summary = pagerduty_event(long, PagerDutySettings(KEY))["payload"]["summary"]
    assert len(summary) == SUMMARY_LIMIT and summary.endswith("…") and "\n" not in summary
    resolved = pagerduty_event(notice(kind="resolved", incident_id=9), PagerDutySettings(KEY))
    assert resolved == {"routing_key": KEY, "dedup_key": "synthetic-monitor/new-chat/9", "event_action": "resolve"}


def test_a_rejected_key_is_permanent(events_api):
    events_api.answer(400, body=b'{"status": "invalid event", "message": "Event object is invalid"}')
    channel = PagerDutyChannel(PagerDutySettings(KEY, api_url=events_api.url + "/v2/enqueue"),
                               ChannelContext(name="pagerduty"))
    with pytest.raises(DeliveryError) as caught:
        channel.send(notice(incident_id=1))
    assert caught.value.permanent and "invalid" in caught.value.message and KEY not in caught.value.message


async def test_trigger_and_resolve_share_one_dedup_key_through_a_429_storm(tmp_path, events_api):
    events_api.answer(429, times=3)
    config = make_config(tmp_path, None, extra=f'[alerts.pagerduty]\nrouting_key = "{KEY}"\n'
                                              f'api_url = "{events_api.url}/v2/enqueue"\n')
    async with Harness(config) as h:
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0, "the trigger taken after three 429s")
        h.pass_()
        await eventually(lambda: h.pending() == 0, "the resolve taken")
    accepted = [r.json for r in events_api.received[3:]]
    assert [e["event_action"] for e in accepted] == ["trigger", "resolve"]
    assert accepted[0]["dedup_key"] == accepted[1]["dedup_key"]
    assert accepted[0]["payload"]["summary"].startswith(RELATION)
    assert all(r.path == "/v2/enqueue" and r.json["routing_key"] == KEY for r in events_api.received)
    assert KEY in config.secrets
