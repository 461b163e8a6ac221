"""The webhook channel against a loopback receiver: the payload, its signature, every answer a receiver gives."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from alerts.channels.base import ChannelContext, DeliveryError
from alerts.channels.webhook import WebhookChannel, WebhookSettings, webhook_payload
from tests.alerts_harness import Harness, make_config
from tests.hook_server import Answer, HookServer
from tests.notices import RELATION, notice
from tests.polling import eventually
from tests.servers import closed_port

SECRET = "whsec-0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def hooks():
    with HookServer(default=Answer(200, b"ok")) as server:
        yield server


def channel(url: str, secret: str | None = SECRET, **ctx) -> WebhookChannel:
    return WebhookChannel(WebhookSettings(url, secret, {"X-Team": "chat"}), ChannelContext(name="hook", **ctx))


def readme_verify():
    """The receiver's `verify(secret, headers, body)`, run from the README's own snippet."""
    section = (ROOT / "README.md").read_text().split("### Webhook", 1)[1].split("\n### ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


def test_the_payload_carries_the_check_its_labels_and_the_servers_words():
    n = notice(facts={"method": "POST", "target": "https://chat.example.com/api/threads", "status_code": 500,
                      "location": "eu-west", "type": "browser", "run_id": 42, "labels": {"team": "chat"},
                      "artifacts": ["new-chat/42/trace.zip"]}, incident_id=7)
    body = webhook_payload(n, public_url="https://monitor.example.com", token=None)
    assert body["version"] == 1 and body["kind"] == "firing" and body["check"] == "new-chat"
    assert body["server_said"] == RELATION and body["failure"] == "expected status 201, got 500"
    assert body["labels"] == {"team": "chat"} and body["location"] == "eu-west"
    assert body["request"] == {"method": "POST", "target": "https://chat.example.com/api/threads", "status_code": 500}
    assert body["incident"]["id"] == 7 and body["incident"]["runs_failed"] == 2
    assert body["links"]["check"] == "https://monitor.example.com/#check-new-chat"
    assert body["links"]["artifacts"] == [
        {"label": "trace", "url": "https://monitor.example.com/artifacts/new-chat/42/trace.zip"}]
    assert body["links"]["replay"] == "monitor replay new-chat --run 42"
    assert body["id"] == webhook_payload(n)["id"]  # stable across retries of one notice


def test_a_signed_post_verifies_with_the_documented_snippet(hooks):
    channel(hooks.url + "/hooks/synthetic").send(notice())
    [got] = hooks.received
    assert got.path == "/hooks/synthetic" and got.headers["content-type"] == "application/json"
    assert got.headers["x-team"] == "chat"
    verify = readme_verify()
    headers = httpx.Headers(got.headers)  # case-insensitive, as a web framework hands them over
    assert verify(SECRET, headers, got.body)
    assert not verify("another-secret", headers, got.body)
    assert not verify(SECRET, headers, got.body.replace(b"new-chat", b"old-chat"))
    assert got.json["server_said"] == RELATION


def test_without_a_secret_there_is_no_signature(hooks):
    channel(hooks.url, secret=None).send(notice())
    assert "x-synthetic-monitor-signature" not in hooks.received[0].headers


@pytest.mark.parametrize("status, headers, permanent, retry_after, reason", [
    (500, {}, False, None, "server_error"),
    (503, {"Retry-After": "7"}, False, 7.0, "server_error"),
    (429, {"Retry-After": "3"}, False, 3.0, "rate_limited"),
    (408, {}, False, None, "server_error"),
    (404, {}, True, None, "permanent"),
    (401, {}, True, None, "permanent"),
    (301, {"Location": "https://elsewhere.example.com/"}, True, None, "permanent"),
])
def test_each_answer_is_a_temporary_or_permanent_error(hooks, status, headers, permanent, retry_after, reason):
    hooks.answer(status, body=b'{"error": "nope"}', headers=headers)
    with pytest.raises(DeliveryError) as caught:
        channel(hooks.url).send(notice())
    error = caught.value
    assert (error.permanent, error.retry_after, error.reason) == (permanent, retry_after, reason)
    assert f"answered {status}" in error.message and "nope" in error.message


def test_no_answer_is_temporary():
    with pytest.raises(DeliveryError) as caught:
        channel(f"http://127.0.0.1:{closed_port()}/").send(notice())
    assert not caught.value.permanent and caught.value.reason == "network"


async def test_the_alerts_part_posts_firing_and_resolved_and_a_500_storm_doubles_nothing(tmp_path, hooks):
    hooks.answer(500, times=3)
    config = make_config(tmp_path, None, extra=f'[alerts.ops-hook]\nkind = "webhook"\nurl = "{hooks.url}/in"\n'
                                              f'secret = "{SECRET}"\n')
    async with Harness(config) as h:
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0, "the firing delivered after three 500s")
        h.pass_()
        await eventually(lambda: h.pending() == 0, "the resolve delivered")
    delivered = [r.json for r in hooks.received[3:]]
    assert [(b["kind"], b["check"]) for b in delivered] == [("firing", "threads-api"), ("resolved", "threads-api")]
    assert delivered[0]["server_said"] == RELATION
    assert all(r.json["id"] == hooks.received[0].json["id"] for r in hooks.received[:4])  # the retries: one notice
    assert SECRET in config.secrets
