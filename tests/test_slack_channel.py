"""The Slack channels with the real slack-sdk against a loopback Slack: threads, updates, every failure mode."""

from __future__ import annotations

import pytest

from alerts.channels.base import DeliveryError
from alerts.channels.slack.channel import SlackChannel, SlackWebhookChannel
from alerts.channels.slack.settings import SlackSettings
from tests.notices import notice
from tests.servers import closed_port
from tests.slack_server import TOKEN, SlackServer


def web(server: SlackServer, token: str = TOKEN, channel: str = "#oncall") -> SlackChannel:
    return SlackChannel(SlackSettings(channel=channel, token=token, api_url=server.api_url))


def error_of(channel, n=None) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        channel.send(n or notice())
    return caught.value


def test_firing_posts_and_returns_the_thread(slack):
    delivery = web(slack).send(notice())
    [message] = slack.messages
    assert delivery.thread == {"channel": "C0ONCALL", "ts": message.ts}
    assert message.thread_ts is None and message.text.startswith("FIRING new-chat")


def test_reminder_and_resolve_go_in_the_thread_and_resolve_updates_the_original(slack):
    channel = web(slack)
    thread = channel.send(notice()).thread
    channel.send(notice(kind="reminder", thread=thread))
    channel.send(notice(kind="resolved", resolved_at="2026-05-01T09:20:00.000+00:00", thread=thread))
    [original] = slack.top_level()
    assert [m.text.split()[0] for m in slack.replies(original.ts)] == ["STILL", "RESOLVED"]
    [update] = original.updates
    assert update["text"].startswith("RESOLVED new-chat after 6m")


def test_a_grouped_check_replies_in_the_group_thread_and_renames_the_original(slack):
    channel = web(slack)
    thread = channel.send(notice(check="threads-api")).thread
    group = [{"check": "threads-api", "resolved": False}, {"check": "new-chat", "resolved": False}]
    channel.send(notice(check="new-chat", grouped=True, group=group, thread=thread))
    [original] = slack.top_level()
    assert len(slack.replies(original.ts)) == 1
    assert "2 of 2 checks failing" in original.updates[-1]["blocks"][0]["text"]["text"]


@pytest.mark.parametrize("answer, permanent, reason", [
    (429, False, "rate_limited"),
    (500, False, "server_error"),
    (503, False, "server_error"),
    ("internal_error", False, "api_error"),
    ("invalid_auth", True, "permanent"),
    ("channel_not_found", True, "permanent"),
    ("not_in_channel", True, "permanent"),
])
def test_slack_answers_map_to_temporary_or_permanent(slack, answer, permanent, reason):
    slack.fail_next("chat.postMessage", answer, retry_after=7 if answer == 429 else None)
    error = error_of(web(slack))
    assert (error.permanent, error.reason) == (permanent, reason)
    if answer == 429:
        assert error.retry_after == 7.0


def test_a_wrong_token_is_permanent_and_says_which_setting(slack):
    error = error_of(web(slack, token="xoxb-wrong"))
    assert error.permanent and "[alerts.slack] token" in error.message


def test_unknown_channel_is_permanent(slack):
    error = error_of(web(slack, channel="#nope"))
    assert error.permanent and "channel_not_found" in error.message


def test_connection_refused_is_temporary():
    channel = SlackChannel(SlackSettings(channel="#oncall", token=TOKEN,
                                         api_url=f"http://127.0.0.1:{closed_port()}/api/"))
    error = error_of(channel)
    assert not error.permanent and error.reason == "network" and "cannot reach Slack" in error.message


def test_webhook_posts_one_message_per_notice(slack):
    channel = SlackWebhookChannel(SlackSettings(webhook_url=slack.webhook_url))
    assert channel.send(notice()).thread is None
    channel.send(notice(kind="resolved"))
    assert [m["text"].split()[0] for m in slack.webhook_messages] == ["FIRING", "RESOLVED"]
    assert slack.webhook_messages[0]["blocks"]


def test_removed_webhook_is_permanent(slack):
    error = error_of(SlackWebhookChannel(SlackSettings(webhook_url=slack.url + "/services/T0/B0/gone")))
    assert error.permanent and "webhook_url" in error.message


def test_webhook_down_is_temporary(slack):
    slack.down = True
    error = error_of(SlackWebhookChannel(SlackSettings(webhook_url=slack.webhook_url)))
    assert not error.permanent and error.reason == "server_error"


def test_a_failed_reply_retried_after_the_edit_shows_once(slack):
    channel = web(slack)
    thread = channel.send(notice()).thread
    resolved = notice(kind="resolved", resolved_at="2026-05-01T09:20:00.000+00:00", thread=thread)
    slack.fail_next("chat.postMessage", 500)
    with pytest.raises(DeliveryError):
        channel.send(resolved)
    channel.send(resolved)  # the outbox's retry
    [original] = slack.top_level()
    assert len(slack.replies(original.ts)) == 1
    assert {u["text"] for u in original.updates} == {original.updates[0]["text"]}
