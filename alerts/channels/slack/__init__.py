"""Slack: `[alerts.slack]` settings, the message builder (pure) and the channel that posts it."""

from __future__ import annotations

from alerts.channels.base import Channel, ChannelContext, ChannelKind
from alerts.channels.slack.settings import SlackSettings, read_slack_settings


def _build(settings: SlackSettings, ctx: ChannelContext) -> Channel:
    from alerts.channels.slack.channel import slack_channel

    return slack_channel(settings, ctx.public_url, ctx.link_token, ctx.name)


KIND = ChannelKind(name="slack", read=read_slack_settings, build=_build)
