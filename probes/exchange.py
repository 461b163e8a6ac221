"""One HTTP request and its answer as they went over the wire: what `monitor replay` prints like `curl -v`.

Any kind that speaks HTTP (an HTTP check, each step of a multistep check)
hands its exchanges to an `ExchangeSink` when asked, through its kind's
`ProbeKind.replay_probe`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Exchange:
    """One request and its response as they went over the wire, for `monitor replay` (printed like `curl -v`).

    Raw: secrets are not redacted and the response is the server's,
    untrusted; whoever shows it redacts and escapes. `status` is None when
    no response came (then `error` says why). A redirect is one exchange per hop.
    """

    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes | None = None
    http_version: str | None = None
    status: int | None = None
    reason: str = ""
    response_headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    truncated: bool = False  # the body went on past max_body_bytes
    error: str | None = None


# on_exchange(exchange): hears of every hop of every request the probe sends.
ExchangeSink = Callable[[Exchange], None]
