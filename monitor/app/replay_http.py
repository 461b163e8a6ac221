"""`monitor replay NAME` for a check that speaks HTTP: send its requests again, now, and show both sides like `curl -v`.

    > GET /api/threads HTTP/1.1
    > host: 127.0.0.1:8000
    > authorization: [REDACTED]
    >
    < HTTP/1.1 500 Internal Server Error
    < content-type: application/json
    <
    {"error": "no such table: threads"}

The run goes through the check's own probe and is stored like any other.
What is shown is redacted (the config's secrets, credential-shaped text, and
whole values of credential headers such as `Authorization` and `Cookie`) and
escaped for the terminal: the response is the server's, untrusted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from urllib.parse import urlsplit

from monitor.app.cli_support import EXIT_FAILED, EXIT_OK
from monitor.app.render import verdict_lines
from monitor.core.config import Check, Config
from monitor.core.redact import REDACTED, is_secret_name, redact
from monitor.core.results import Result
from monitor.core.terminal import Style, one_line, safe
from probes import PROBE_KINDS
from probes.exchange import Exchange

BODY_LIMIT = 4096  # characters of a body shown; the rest is counted


def exchange_lines(exchange: Exchange, secrets: Collection[str], style: Style) -> list[str]:
    """One request and its response as `curl -v` shows them, redacted and escaped. Pure."""
    parts = urlsplit(exchange.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # httpx speaks HTTP/1.1 unless HTTP/2 was negotiated, whatever version the server answers with.
    sent = "HTTP/2" if exchange.http_version == "HTTP/2" else "HTTP/1.1"
    lines = [style.dim(f"* {one_line(redact(exchange.url, secrets))}"),
             f"> {one_line(exchange.method)} {one_line(redact(target, secrets))} {sent}"]
    lines += [f"> {line}" for line in _headers(exchange.request_headers, secrets)]
    lines.append(">")
    if exchange.request_body:
        lines += [f"> {line}" for line in _body(exchange.request_body, False, secrets)]
    if exchange.status is None:
        lines.append(style.red(f"* no response: {one_line(exchange.error or 'unknown error', 300)}"))
        return lines
    version = exchange.http_version or "HTTP/1.1"
    lines.append(f"< {one_line(version)} {exchange.status} {one_line(exchange.reason, 100)}".rstrip())
    lines += [f"< {line}" for line in _headers(exchange.response_headers, secrets)]
    lines.append("<")
    lines += _body(exchange.body, exchange.truncated, secrets)
    return lines


def _headers(headers: tuple[tuple[str, str], ...], secrets: Collection[str]) -> list[str]:
    shown = []
    for name, value in headers:
        value = REDACTED if is_secret_name(name) else redact(value, secrets)
        shown.append(f"{one_line(name, 100)}: {one_line(value, 500)}")
    return shown


def _body(body: bytes, truncated: bool, secrets: Collection[str]) -> list[str]:
    if not body:
        return []
    if b"\x00" in body[:2048]:
        return [f"[{len(body)} bytes of binary data]"]
    text = redact(body.decode("utf-8", errors="replace"), secrets)
    more = len(text) > BODY_LIMIT or truncated
    lines = [safe(line) for line in text[:BODY_LIMIT].splitlines()]
    if more:
        lines.append(f"[… cut: {len(body)} bytes read{', more not downloaded' if truncated else ''}]")
    return lines


def replays_requests(check: Check) -> bool:
    """Whether `check`'s kind can show the HTTP exchanges of a run (`ProbeKind.replay_probe`)."""
    return PROBE_KINDS[check.type].replay_probe is not None


def replay_request(config: Config, check: Check, style: Style) -> int:
    """Send `check`'s requests now through its probe, print each exchange and the verdict; store the run."""
    result = asyncio.run(_send(config, check, style))
    print()
    for line in verdict_lines(result, style):
        print(line)
    if result.run_id is not None:
        print(f"stored as run {result.run_id}")
    return EXIT_OK if result.ok else EXIT_FAILED


async def _send(config: Config, check: Check, style: Style) -> Result:
    from monitor.app.runner import probe_context, run_once_stored

    replay_probe = PROBE_KINDS[check.type].replay_probe
    assert replay_probe is not None, "replays_requests(check) was asked first"

    def show(exchange: Exchange) -> None:
        for line in exchange_lines(exchange, config.secrets, style):
            print(line, flush=True)

    return await run_once_stored(config, check, {check.type: replay_probe(probe_context(config), show)})
