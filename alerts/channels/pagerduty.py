"""PagerDuty: Events API v2, one alert per incident, triggered and resolved under a stable `dedup_key`.

    [alerts.pagerduty]
    routing_key = "${PAGERDUTY_ROUTING_KEY}"       # an Events API v2 integration key of a service
    severity = "critical"                           # default; a check's `severity` label wins when it is one
                                                    # of critical, error, warning, info

A firing notice sends `trigger`; a reminder or a changed error sends
`trigger` again with the same `dedup_key`, which PagerDuty folds into the
open alert; the resolve sends `resolve`. The summary leads with the
server's own words, cut to PagerDuty's 1,024 characters; the rest goes in
`custom_details`, and the artifacts and the status page in `links`
(https://developer.pagerduty.com/docs/events-api-v2/trigger-events/).
PagerDuty answers 202 when it took the event, 400 when it never will, 429
when events come too fast: the outbox retries that one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from alerts.channels.base import Channel, ChannelContext, ChannelKind, Delivery, Notice
from alerts.channels.http_post import TIMEOUT, post_json
from alerts.channels.links import artifact_links, check_url, replay_command
from monitor.core.config import ReadContext
from monitor.core.config_schema import Table

EVENTS_API = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_LIMIT = 1024
SEVERITIES = ("critical", "error", "warning", "info")


@dataclass(frozen=True)
class PagerDutySettings:
    routing_key: str
    api_url: str = EVENTS_API
    severity: str = "critical"


def read_pagerduty_settings(t: Table, ctx: ReadContext) -> PagerDutySettings:
    """Read an `[alerts.NAME]` PagerDuty table; the routing key is a secret."""
    key = t.string("routing_key", required=True, allowed='the integration key, e.g. "${PAGERDUTY_ROUTING_KEY}"')
    severity = t.choice("severity", "critical", SEVERITIES)
    settings = PagerDutySettings(key or "", t.string("api_url", EVENTS_API), severity)
    t.reject_unknown()
    ctx.secret(settings.routing_key)
    return settings


def dedup_key(notice: Notice) -> str:
    """One PagerDuty alert per incident of a check."""
    return f"synthetic-monitor/{notice.check}/{notice.incident_id or 0}"


def summary(notice: Notice) -> str:
    """The alert's headline, the server's words first, at most `SUMMARY_LIMIT` characters."""
    what = f"{notice.check}: {notice.failure or 'failed'}"
    text = f"{notice.error_text} — {what}" if notice.error_text else what
    text = " ".join(text.split())  # one line: PagerDuty shows it in lists and push notifications
    return text if len(text) <= SUMMARY_LIMIT else text[:SUMMARY_LIMIT - 1] + "…"


def pagerduty_event(notice: Notice, settings: PagerDutySettings, public_url: str | None = None,
                    token: str | None = None) -> dict[str, Any]:
    """The Events API v2 body for `notice`: `resolve` for a resolved one, `trigger` otherwise. Pure."""
    event: dict[str, Any] = {"routing_key": settings.routing_key, "dedup_key": dedup_key(notice)}
    if notice.kind == "resolved":
        return {**event, "event_action": "resolve"}
    f = notice.facts
    severity = f.labels.get("severity", settings.severity)
    links = [{"href": link.url, "text": link.label} for link in artifact_links(notice, public_url, token)]
    page = check_url(public_url, notice.check)
    if page:
        links.append({"href": page, "text": f"{notice.check} on the status page"})
    return {**event, "event_action": "trigger", "client": "synthetic-monitor", **({"client_url": page} if page else {}),
            "links": links,
            "payload": _without_none({
                "summary": summary(notice),
                "source": f.location or "synthetic-monitor",
                "severity": severity if severity in SEVERITIES else settings.severity,
                "timestamp": notice.at.isoformat(),
                "component": notice.check,
                "group": f.labels.get("team"),
                "class": f.type,
                "custom_details": {
                    "check": notice.check, "failure": notice.failure, "server_said": notice.error_text,
                    "previous_server_said": notice.previous_error_text, "browser_said": f.browser_said,
                    "labels": dict(f.labels),
                    "request": " ".join(str(p) for p in (f.method, f.target) if p) or None,
                    "status_code": f.status_code, "failing_step": f.failing_step, "run_id": f.run_id,
                    "failing_since": notice.failing_since.isoformat() if notice.failing_since else None,
                    "runs_failed": notice.runs_failed, "replay": replay_command(notice),
                    "kind": notice.kind,
                },
            })}


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


class PagerDutyChannel:
    def __init__(self, settings: PagerDutySettings, ctx: ChannelContext, client: httpx.Client | None = None):
        self.name = ctx.name
        self.settings = settings
        self.ctx = ctx
        self.client = client or httpx.Client(timeout=TIMEOUT)

    def send(self, notice: Notice) -> Delivery:
        event = pagerduty_event(notice, self.settings, self.ctx.public_url, self.ctx.link_token)
        self._post(event, f"PagerDuty {self.name} ({event['event_action']} of {notice.check})")
        return Delivery(thread={"dedup_key": event["dedup_key"]})

    def test(self, notice: Notice) -> str:
        """Trigger an `info` alert and resolve it at once: PagerDuty shows it in the service's history."""
        test = {"routing_key": self.settings.routing_key,
                "dedup_key": f"synthetic-monitor/test/{notice.at.timestamp():.0f}"}
        self._post({**test, "event_action": "trigger", "payload": {
            "summary": f"TEST synthetic-monitor can page this service ({notice.check})", "source": "synthetic-monitor",
            "severity": "info"}}, f"PagerDuty {self.name} (test trigger)")
        self._post({**test, "event_action": "resolve"}, f"PagerDuty {self.name} (test resolve)")
        return "to the service of its routing key (triggered and resolved)"

    def _post(self, event: dict[str, Any], what: str) -> None:
        post_json(self.client, self.settings.api_url, json.dumps(event).encode(), {}, what)


def _build(settings: PagerDutySettings, ctx: ChannelContext) -> Channel:
    return PagerDutyChannel(settings, ctx)


KIND = ChannelKind(name="pagerduty", read=read_pagerduty_settings, build=_build)
