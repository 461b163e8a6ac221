"""`[alerts.slack]`: a bot token and a channel (threads, updates), or an incoming webhook."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.core.config import ReadContext
from monitor.core.config_schema import Table


@dataclass(frozen=True)
class SlackSettings:
    channel: str | None = None
    token: str | None = None
    webhook_url: str | None = None
    api_url: str | None = None  # Slack's Web API by default; a test server in tests


def read_slack_settings(t: Table, ctx: ReadContext) -> SlackSettings:
    """Read `[alerts.slack]` (its `ChannelReader`); the token and the webhook URL are secrets."""
    settings = SlackSettings(channel=t.string("channel"), token=t.string("token") or None,
                             webhook_url=t.string("webhook_url") or None, api_url=t.string("api_url") or None)
    if settings.token and not settings.channel:
        t.error("channel", 'is required with a token, e.g. channel = "#oncall"')
    if not settings.token and not settings.webhook_url:
        t.error("token", 'set token = "${SLACK_BOT_TOKEN}" (threads, updates) or '
                         'webhook_url = "${SLACK_WEBHOOK_URL}"')
    t.reject_unknown()
    ctx.secret(settings.token)
    ctx.secret(settings.webhook_url)
    return settings
