"""Alertmanager: push each incident as an alert to every peer of a cluster, as Prometheus does.

    [alerts.alertmanager]
    urls = ["http://am-1:9093", "http://am-2:9093"]   # every peer; never one address behind a load balancer
    runbook_url = "https://wiki.example.com/runbooks/{check}"   # optional; {check} is the check's name

Alertmanager then does what it is for: grouping, silences, inhibition,
routing to every pager, and, in a cluster, paging once for alerts that
several monitors push with the same labels (gossip and its notification
log). Like Prometheus (https://prometheus.io/docs/alerting/latest/clients/),
this channel:

- sends `POST /api/v2/alerts` to every peer: labels `alertname =
  "SyntheticCheckFailing"`, `check`, `location`, `type` and the check's own
  labels; annotations `summary`, `failure`, `server_said` (the server's
  words, capped), `browser_said` (a journey's failure in the browser's own
  words), `artifacts`, `replay`, `runbook_url`; `generatorURL` is the check
  on the status page;
- re-sends every firing alert every `RESEND` seconds (the alerts part calls
  `refresh` with what the database says is open), with `endsAt` a few
  re-sends ahead, so an alert the monitor stops pushing (it died) resolves
  by itself, and a restarted or new Alertmanager peer learns it again;
- on recovery sends `endsAt` = the resolve time, and keeps re-sending it for
  `RESOLVED_FOR` seconds, so that every peer hears of it.

A push counts as delivered when at least one peer took it: the others catch
up at the next re-send. When none did, the outbox retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from alerts.channels.base import Channel, ChannelContext, ChannelKind, Delivery, DeliveryError, Notice
from alerts.channels.http_post import TIMEOUT, post_json
from alerts.channels.links import artifact_links, check_url, replay_command
from monitor.core.config import ReadContext
from monitor.core.config_schema import Table
from monitor.core.results import utcnow

log = logging.getLogger("monitor.alerts.alertmanager")

ALERTNAME = "SyntheticCheckFailing"
RESEND = 60.0  # seconds between two pushes of a firing alert
ENDS_AFTER = 4 * RESEND  # a firing alert's endsAt, from each push: it outlives three missed re-sends
RESOLVED_FOR = 300.0  # seconds a resolved alert is re-sent for
SAID_LIMIT = 1000  # characters of the server's (or the browser's) words in an annotation


@dataclass(frozen=True)
class AlertmanagerSettings:
    urls: tuple[str, ...]
    runbook_url: str | None = None  # "{check}" becomes the check's name


def read_alertmanager_settings(t: Table, ctx: ReadContext) -> AlertmanagerSettings:
    urls = t.get("urls", [], kind=list, required=True, allowed='every peer, e.g. ["http://am-1:9093"]')
    good = []
    for index, url in enumerate(urls):
        if isinstance(url, str) and urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc:
            good.append(url.rstrip("/"))
        else:
            t.issues.add(f"{t.at('urls')}[{index}]", f"must be an http:// or https:// URL of a peer, got {url!r}")
    if "urls" in t.raw and not urls:
        t.error("urls", "must name at least one Alertmanager (every peer of a cluster)")
    settings = AlertmanagerSettings(tuple(good), t.string("runbook_url") or None)
    t.reject_unknown()
    return settings


def alertmanager_alert(notice: Notice, settings: AlertmanagerSettings, now: datetime, public_url: str | None = None,
                       token: str | None = None) -> dict[str, Any]:
    """The postable alert for `notice` at `now`: firing until a few re-sends ahead, or ended when resolved. Pure."""
    f = notice.facts
    labels = {**f.labels, "alertname": ALERTNAME, "check": notice.check, "location": f.location or "",
              "type": f.type or ""}
    said = _capped(notice.error_text)
    annotations = {
        "summary": f"{notice.check}: {notice.failure or 'failing'}" + (f": {said}" if said else ""),
        "failure": notice.failure or "",
        "server_said": said,
        "browser_said": _capped(f.browser_said),
        "artifacts": " ".join(link.url for link in artifact_links(notice, public_url, token)),
        "replay": replay_command(notice) or "",
        "runbook_url": settings.runbook_url.replace("{check}", notice.check) if settings.runbook_url else "",
    }
    starts = notice.failing_since or notice.opened_at or notice.at
    ends = (notice.resolved_at or now) if notice.kind == "resolved" else now + timedelta(seconds=ENDS_AFTER)
    alert = {"labels": {k: v for k, v in labels.items() if v != ""},
             "annotations": {k: v for k, v in annotations.items() if v != ""},
             "startsAt": _rfc3339(starts), "endsAt": _rfc3339(ends)}
    page = check_url(public_url, notice.check)
    return {**alert, "generatorURL": page} if page else alert


class AlertmanagerChannel:
    resend_every = RESEND  # the alerts part calls `refresh` this often
    resolved_for = RESOLVED_FOR

    def __init__(self, settings: AlertmanagerSettings, ctx: ChannelContext, client: httpx.Client | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.name = ctx.name
        self.settings = settings
        self.ctx = ctx
        self.client = client or httpx.Client(timeout=TIMEOUT)
        self.clock = clock

    def send(self, notice: Notice) -> Delivery:
        self._push([notice], f"Alertmanager {self.name} ({notice.kind} of {notice.check})")
        return Delivery()

    def refresh(self, notices: list[Notice]) -> None:
        """Push again every alert that is firing or resolved lately (what the database says)."""
        if notices:
            self._push(notices, f"Alertmanager {self.name} (re-sending {len(notices)} alert(s))")

    def test(self, notice: Notice) -> str:
        now = self.clock()
        test = {"labels": {"alertname": "SyntheticMonitorTest", "severity": "none"},
                "annotations": {"summary": f"TEST synthetic-monitor can reach this Alertmanager ({notice.check})"},
                "startsAt": _rfc3339(now), "endsAt": _rfc3339(now + timedelta(minutes=5))}
        taken = self._post_all([test], f"Alertmanager {self.name} (test)")
        return f"to {', '.join(taken)} (alertname SyntheticMonitorTest, ends in 5 minutes)"

    def _push(self, notices: list[Notice], what: str) -> None:
        now = self.clock()
        alerts = [alertmanager_alert(n, self.settings, now, self.ctx.public_url, self.ctx.link_token)
                  for n in notices]
        self._post_all(alerts, what)

    def _post_all(self, alerts: list[dict[str, Any]], what: str) -> list[str]:
        """Post to every peer; the peers that took it. Raises when none did (permanent if all refused for good)."""
        body = json.dumps(alerts).encode()
        taken: list[str] = []
        errors: list[DeliveryError] = []
        for url in self.settings.urls:
            try:
                post_json(self.client, f"{url}/api/v2/alerts", body, {}, f"{what} at {url}")
                taken.append(urlsplit(url).netloc)
            except DeliveryError as exc:
                errors.append(exc)
        if not taken:
            raise DeliveryError("; ".join(e.message for e in errors) or f"{what}: no Alertmanager configured",
                                permanent=bool(errors) and all(e.permanent for e in errors),
                                reason=errors[0].reason if errors else "error")
        for error in errors:  # the others hear of it at the next re-send
            log.warning("%s", error.message)
        return taken


def _capped(text: str | None) -> str:
    """`text` within SAID_LIMIT characters ("" for none: an empty annotation is left out)."""
    text = text or ""
    return text if len(text) <= SAID_LIMIT else text[:SAID_LIMIT - 1] + "…"


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _build(settings: AlertmanagerSettings, ctx: ChannelContext) -> Channel:
    return AlertmanagerChannel(settings, ctx)


KIND = ChannelKind(name="alertmanager", read=read_alertmanager_settings, build=_build)
