"""POST a JSON body for a channel, and turn what the other side answered into `DeliveryError`s the outbox understands.

Shared by the channels that speak plain HTTP (webhook, PagerDuty,
Alertmanager). The classification follows what each status means for a
retry of the same request (RFC 9110, section 15):

    2xx                      delivered
    408, 425, 429, 5xx       temporary: try again later (after `Retry-After` when it says)
    3xx                      permanent: we do not follow a redirect with a signed body; fix the URL
    other 4xx                permanent: the request itself is refused (bad key, bad URL, bad payload)
    no answer                temporary: the network, DNS, a timeout
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

import httpx

from alerts.channels.base import DeliveryError

TIMEOUT = 10.0  # seconds per call; the outbox retries anything slower
TEMPORARY = {408, 425, 429}


def post_json(client: httpx.Client, url: str, body: bytes, headers: Mapping[str, str], what: str) -> httpx.Response:
    """POST `body` (JSON) to `url`; the response when it was taken (2xx), else a `DeliveryError`.

    `what` says what was being delivered and where, for the error message
    (it must not hold a secret: the URL of a webhook often does).
    """
    try:
        response = client.post(url, content=body, headers={"content-type": "application/json", **headers})
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{what}: no answer: {type(exc).__name__}: {exc}", reason="network") from None
    if 200 <= response.status_code < 300:
        return response
    raise refusal(response, what)


def refusal(response: httpx.Response, what: str) -> DeliveryError:
    """The `DeliveryError` for a non-2xx answer (see the module docstring)."""
    status = response.status_code
    said = " ".join(response.text.split())[:200]
    sentence = f"{what}: answered {status}{': ' + said if said else ''}"
    if status in TEMPORARY or status >= 500:
        reason = "rate_limited" if status == 429 else "server_error"
        return DeliveryError(sentence, retry_after=retry_after(response.headers.get("retry-after")), reason=reason)
    if 300 <= status < 400:
        return DeliveryError(f"{sentence} (a redirect to {response.headers.get('location', '?')}): set the final "
                             "URL in the config", permanent=True)
    return DeliveryError(sentence, permanent=True)


def retry_after(value: str | None) -> float | None:
    """Seconds a `Retry-After` header asks for: a number of seconds, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
