"""Alert channels. A new channel is one module or package (settings, their reader, the channel) plus one line
in `CHANNEL_KINDS`; see the README's "Adding a channel"."""

from __future__ import annotations

from alerts.channels import alertmanager, console, pagerduty, slack, webhook
from alerts.channels.base import Channel, ChannelContext, ChannelKind
from monitor.core.config import Config

CHANNEL_KINDS: dict[str, ChannelKind] = {kind.name: kind for kind in (
    slack.KIND,
    console.KIND,
    webhook.KIND,
    pagerduty.KIND,
    alertmanager.KIND,
)}
# Read with an empty table when [alerts] names no channel: alerts then show on the monitor's stdout.
FALLBACK_CHANNELS = ("console",)


def build_channels(config: Config, kinds: dict[str, ChannelKind] | None = None) -> list[Channel]:
    """One channel per destination (`[alerts.NAME]`) the config turned on, in the config's order."""
    kinds = CHANNEL_KINDS if kinds is None else kinds
    return [kinds[d.kind].build(d.settings, ChannelContext(name=d.name, public_url=config.monitor.public_url,
                                                            link_token=config.monitor.auth_token))
            for d in config.alerts.destinations.values()]
