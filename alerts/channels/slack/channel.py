"""Slack: the Web API (threads, message updates) or an incoming webhook.

Thin: the message comes from `alerts.channels.slack.message.build_slack_message`;
this module only posts it and turns Slack's answers into `Delivery` or a
`DeliveryError` the outbox understands.

With a bot token (`SlackChannel`):
    firing    chat.postMessage in the channel; its ts becomes the incident's thread
    grouped   a reply in the group's thread, and chat.update of the group message
    changed   a reply in the thread (the words changed; the message keeps the words it fired with)
    reminder  a reply in the thread
    resolved  a reply in the thread, and chat.update of the original message
With a webhook (`SlackWebhookChannel`): one message per notice, no threads.

Retries belong to the outbox (it survives restarts); the SDK keeps only its
default one quick retry on a dropped connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from alerts.channels.base import Delivery, DeliveryError, Notice
from alerts.channels.slack.message import SlackMessage, build_slack_message
from alerts.channels.slack.settings import SlackSettings

log = logging.getLogger("monitor.alerts.slack")
TIMEOUT = 10  # seconds per HTTP call; the outbox retries anything slower

# Web API errors that will not go away by retrying the same call
# (https://api.slack.com/methods/chat.postMessage#errors): the token is bad
# or revoked, the bot cannot see or post to the channel, or the payload is
# wrong. Everything else (ratelimited, internal_error, fatal_error,
# service_unavailable, request_timeout...) is worth another try.
PERMANENT_API_ERRORS = {
    "invalid_auth": "the token was refused: check [alerts.slack] token (SLACK_BOT_TOKEN)",
    "not_authed": "no token was sent: set [alerts.slack] token",
    "account_inactive": "the token belongs to a deleted user or app: create a new token",
    "token_revoked": "the token was revoked: create a new one",
    "token_expired": "the token expired: create a new one",
    "missing_scope": "the token lacks the chat:write scope: add it to the Slack app and reinstall",
    "channel_not_found": "the channel does not exist or the bot cannot see it: check [alerts.slack] "
                         "channel, and invite the bot to a private channel",
    "not_in_channel": "the bot is not in the channel: /invite the bot there",
    "is_archived": "the channel is archived: pick another [alerts.slack] channel",
    "restricted_action": "the workspace does not let the bot post there",
    "invalid_blocks": "Slack refused the message layout",
    "msg_too_long": "Slack refused the message as too long",
    "cant_update_message": "the original message can no longer be edited",
    "message_not_found": "the original message was deleted",
}

# Incoming webhooks answer with an HTTP status and a plain-text reason
# (https://api.slack.com/messaging/webhooks#handling_errors): 404 no_service
# means the webhook was removed or never existed, 403 invalid_token and 410
# channel_is_archived never recover; 400 invalid_payload is our bug.
PERMANENT_WEBHOOK_STATUS = {400, 401, 403, 404, 410}


def _temporary_or_permanent(status: int | None, error: str, headers: Mapping[str, Any] | None,
                            what: str) -> DeliveryError:
    if status == 429 or error == "ratelimited":
        retry_after = _retry_after(headers)
        return DeliveryError(f"{what}: Slack rate limit (retry after {retry_after or '?'} s)",
                             retry_after=retry_after, reason="rate_limited")
    if error in PERMANENT_API_ERRORS:
        return DeliveryError(f"{what}: {error}: {PERMANENT_API_ERRORS[error]}", permanent=True)
    if status is not None and status >= 500:
        return DeliveryError(f"{what}: Slack answered {status}, a trouble on its side", reason="server_error")
    return DeliveryError(f"{what}: Slack answered {status}: {error[:200] or 'unknown error'}", reason="api_error")


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def _network_error(exc: Exception, url: str) -> DeliveryError:
    reason = getattr(exc, "reason", exc)
    return DeliveryError(f"cannot reach Slack at {url}: {reason}", reason="network")


class SlackChannel:
    """Slack Web API with a bot token: threads per incident, updates on resolve."""

    def __init__(self, settings: SlackSettings, public_url: str | None = None, client: WebClient | None = None,
                 token: str | None = None, name: str = "slack"):
        self.name = name
        self.settings = settings
        self.public_url = public_url
        self.link_token = token
        self.base_url = settings.api_url or WebClient.BASE_URL
        if not self.base_url.endswith("/"):
            self.base_url += "/"
        self.client = client or WebClient(token=settings.token, base_url=self.base_url, timeout=TIMEOUT)

    def send(self, notice: Notice) -> Delivery:
        message = build_slack_message(notice, self.public_url, self.link_token)
        thread, kind = notice.thread, notice.kind
        if kind == "firing" and not (notice.grouped and thread):
            return Delivery(self._post(message, None, "posting the alert"))
        if thread is None:
            # The firing never reached Slack's Web API (say it went out before
            # a token was configured): stand alone rather than lose the notice.
            return Delivery(self._post(message, None, f"posting the {kind}"))
        # The edit first: it is idempotent, so when the reply then fails and
        # the outbox retries, nothing shows twice.
        if kind == "resolved" or (notice.grouped and kind != "changed"):
            # A group's message tells the words its checks share: one check's new words are not the group's.
            self._update_original(notice, thread)
        self._post(message, thread, f"replying in the thread ({kind})")
        return Delivery(thread)

    def test(self, notice: Notice) -> str:
        """Check the token, then post `notice`: the error says whether the token, the channel or the network failed."""
        try:
            self._call("checking the token", self.client.auth_test)
        except DeliveryError as exc:
            if exc.reason == "network":
                raise DeliveryError(f"network: {exc.message}; check [alerts.slack] api_url, proxies and firewalls",
                                    permanent=True) from None
            raise DeliveryError(f"token: {exc.message}", permanent=True) from None
        try:
            self.send(notice)
        except DeliveryError as exc:
            raise DeliveryError(f"channel {self.settings.channel}: {exc.message}", permanent=True) from None
        return f"to {self.settings.channel}"

    def _update_original(self, notice: Notice, thread: Mapping[str, Any]) -> None:
        if len(notice.group) > 1:
            # The group's message tells the group's state, not this check's reason.
            original = replace(notice, reason=None,
                               kind="firing" if any(not m.resolved for m in notice.group) else "resolved")
        else:
            original = notice
        message = build_slack_message(original, self.public_url, self.link_token)
        try:
            self._call("updating the original message", self.client.chat_update, channel=thread["channel"],
                       ts=thread["ts"], text=message["text"], blocks=message["blocks"])
        except DeliveryError as exc:
            if not exc.permanent:
                raise
            # The reply already went out; an edit that can never succeed
            # (message deleted, too old) must not block the outbox.
            log.warning("could not update the original Slack message: %s", exc.message)

    def _post(self, message: SlackMessage, thread: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
        """Post `message` (as a reply when `thread` is set); return its reference: `{"channel", "ts"}`."""
        kwargs: dict[str, Any] = {"channel": thread["channel"] if thread else self.settings.channel,
                                  "text": message["text"], "blocks": message["blocks"], "unfurl_links": False}
        if thread:
            kwargs["thread_ts"] = thread["ts"]
        response = self._call(what, self.client.chat_postMessage, **kwargs)
        return {"channel": response.get("channel") or kwargs["channel"], "ts": response.get("ts")}

    def _call(self, what: str, method: Callable[..., SlackResponse], **kwargs: Any) -> SlackResponse:
        """`method(**kwargs)`, with Slack's refusals and network failures turned into a `DeliveryError`."""
        try:
            return method(**kwargs)
        except SlackApiError as exc:
            response: SlackResponse = exc.response  # untyped in slack_sdk; always the refused call's response
            data = response.data if isinstance(response.data, dict) else {}
            raise _temporary_or_permanent(response.status_code, str(data.get("error") or ""),
                                          response.headers, what) from None
        except (URLError, OSError) as exc:
            raise _network_error(exc, self.base_url) from None


class SlackWebhookChannel:
    """An incoming webhook: one message per notice, no threads or updates."""

    def __init__(self, settings: SlackSettings, public_url: str | None = None,
                 client: WebhookClient | None = None, token: str | None = None, name: str = "slack"):
        self.name = name
        self.public_url = public_url
        self.link_token = token
        self.client = client or _webhook_client(settings)

    def test(self, notice: Notice) -> str:
        self.send(notice)
        return "to the webhook's channel"

    def send(self, notice: Notice) -> Delivery:
        message = build_slack_message(notice, self.public_url, self.link_token)
        try:
            response = self.client.send(text=message["text"], blocks=message["blocks"], unfurl_links=False)
        except (URLError, OSError) as exc:
            raise _network_error(exc, "the webhook URL") from None
        if response.status_code == 200:
            return Delivery()
        body = (response.body or "").strip()[:200]
        if response.status_code in PERMANENT_WEBHOOK_STATUS:
            raise DeliveryError(f"the Slack webhook answered {response.status_code} {body}: it was removed or "
                                "is wrong; set a new [alerts.slack] webhook_url", permanent=True)
        if response.status_code == 429:
            retry_after = _retry_after(response.headers)
            raise DeliveryError(f"Slack webhook rate limit (retry after {retry_after or '?'} s)",
                                retry_after=retry_after, reason="rate_limited")
        raise DeliveryError(f"the Slack webhook answered {response.status_code} {body}".rstrip(),
                            reason="server_error" if response.status_code >= 500 else "api_error")


def _webhook_client(settings: SlackSettings) -> WebhookClient:
    """A client for the settings' webhook, which `read_slack_settings` requires when there is no token."""
    if settings.webhook_url is None:
        raise ValueError("[alerts.slack] needs a webhook_url when no token is set")
    return WebhookClient(settings.webhook_url, timeout=TIMEOUT)


def slack_channel(settings: SlackSettings, public_url: str | None = None, link_token: str | None = None,
                  name: str = "slack") -> SlackChannel | SlackWebhookChannel:
    """The Slack channel the settings ask for: Web API when a token is set, else the webhook.

    `link_token` is the monitor's [monitor] auth_token, which signs artifact links.
    """
    if settings.token:
        return SlackChannel(settings, public_url, token=link_token, name=name)
    return SlackWebhookChannel(settings, public_url, token=link_token, name=name)
