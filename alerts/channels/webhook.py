"""A generic webhook: one signed JSON POST per notice, for tools of your own.

    [alerts.webhook]
    url = "https://ops.example.com/hooks/synthetic"
    secret = "${WEBHOOK_SECRET}"                     # optional: signs each body
    headers = { Authorization = "Bearer ${HOOK_TOKEN}" }

The body is `webhook_payload(...)`: schema version 1, documented in the
README ("Webhook"), carrying the check and its labels, the monitor's failure
sentence, the server's own words, the run, and links. With a `secret`, two
headers let the receiver check the body came from us and is fresh:

    X-Synthetic-Monitor-Timestamp: 1764673200
    X-Synthetic-Monitor-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

The outbox retries what may pass (408, 425, 429 with its Retry-After, 5xx,
no answer) and stops on the rest (see alerts/channels/http_post.py). A
receiver may see one notice twice (a retry after a lost answer): `id` is the
same both times.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from alerts.channels.base import Channel, ChannelContext, ChannelKind, Delivery, Notice
from alerts.channels.http_post import TIMEOUT, post_json
from alerts.channels.links import artifact_links, check_url, replay_command
from monitor.core.config import ReadContext
from monitor.core.config_schema import Table

SCHEMA_VERSION = 1
SIGNATURE_HEADER = "X-Synthetic-Monitor-Signature"
TIMESTAMP_HEADER = "X-Synthetic-Monitor-Timestamp"


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def read_webhook_settings(t: Table, ctx: ReadContext) -> WebhookSettings:
    """Read an `[alerts.NAME]` webhook table; the URL, the secret and every header value are secrets."""
    url = t.string("url", required=True, allowed='a URL such as "https://ops.example.com/hooks/synthetic"') or ""
    if url and urlsplit(url).scheme not in ("http", "https"):
        t.error("url", f"must be an http:// or https:// URL, got {url!r}")
    settings = WebhookSettings(url, t.string("secret") or None, t.mapping("headers"))
    t.reject_unknown()
    # A webhook URL often carries its own token (Slack's, Discord's, a query string's).
    for value in (settings.url, settings.secret, *settings.headers.values()):
        ctx.secret(value)
    return settings


def webhook_payload(notice: Notice, public_url: str | None = None, token: str | None = None) -> dict[str, Any]:
    """The JSON body for `notice` (schema version 1). Pure."""
    f = notice.facts
    return {
        "version": SCHEMA_VERSION,
        "id": notice_id(notice),
        "kind": notice.kind,  # firing | changed | reminder | resolved | test
        "check": notice.check,
        "labels": dict(f.labels),
        "location": f.location,
        "type": f.type,
        "at": notice.at.isoformat(),
        "incident": None if notice.incident_id is None else {
            "id": notice.incident_id,
            "opened_at": _iso(notice.opened_at),
            "failing_since": _iso(notice.failing_since),
            "resolved_at": _iso(notice.resolved_at),
            "runs_failed": notice.runs_failed,
            "closed_reason": notice.reason,
        },
        "failure": notice.failure,
        "server_said": notice.error_text,
        "previous_server_said": notice.previous_error_text,
        "browser_said": f.browser_said,
        "request": {"method": f.method, "target": f.target, "status_code": f.status_code},
        "failing_step": f.failing_step,
        "run_id": f.run_id,
        "links": {
            "check": check_url(public_url, notice.check),
            "artifacts": [{"label": link.label, "url": link.url} for link in artifact_links(notice, public_url, token)],
            "replay": replay_command(notice),
        },
    }


def notice_id(notice: Notice) -> str:
    """The same for every delivery of one notice (a retry), different for the next notice of the incident."""
    return f"{notice.check}/{notice.incident_id or 0}/{notice.kind}/{notice.at.isoformat()}"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Synthetic-Monitor-Signature` value: HMAC-SHA256 of `timestamp.body` with `secret`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookChannel:
    def __init__(self, settings: WebhookSettings, ctx: ChannelContext, client: httpx.Client | None = None):
        self.name = ctx.name
        self.settings = settings
        self.ctx = ctx
        self.client = client or httpx.Client(timeout=TIMEOUT)

    def send(self, notice: Notice) -> Delivery:
        body = json.dumps(webhook_payload(notice, self.ctx.public_url, self.ctx.link_token)).encode()
        headers = dict(self.settings.headers)
        if self.settings.secret:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(self.settings.secret, timestamp, body)
        post_json(self.client, self.settings.url, body, headers, f"webhook {self.name} ({notice.kind})")
        return Delivery()

    def test(self, notice: Notice) -> str:
        self.send(notice)
        return f"to {urlsplit(self.settings.url).netloc}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _build(settings: WebhookSettings, ctx: ChannelContext) -> Channel:
    return WebhookChannel(settings, ctx)


KIND = ChannelKind(name="webhook", read=read_webhook_settings, build=_build)
