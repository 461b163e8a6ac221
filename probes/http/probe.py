"""HTTP checks with httpx: one request, honest timings, the server's own words.

Every probe opens a fresh connection (keep-alive off), as blackbox_exporter
does, so the reported time includes connect and TLS like a new user's first
request. The TLS contexts are built once per process: building one loads the
whole CA bundle, which would otherwise dominate cheap probes.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from monitor.core.config import Check
from monitor.core.redact import redact
from monitor.core.results import Result, utcnow
from probes.base import ProbeContext
from probes.error_text import extract_error_text
from probes.exchange import Exchange, ExchangeSink
from probes.http.errors import describe_error, is_timeout
from probes.http.expect import first_failure, graphql_message
from probes.http.settings import HttpOptions

USER_AGENT = "synthetic-monitor/0.1 (+https://github.com/synthetic-monitor)"

# httpcore trace events -> the phase each one starts or ends.
_PHASE_EVENTS = {
    "connection.connect_tcp.started": ("connect", "start"),
    "connection.connect_tcp.complete": ("connect", "end"),
    "connection.start_tls.started": ("tls", "start"),
    "connection.start_tls.complete": ("tls", "end"),
    "http11.send_request_headers.started": ("processing", "start"),
    "http2.send_request_headers.started": ("processing", "start"),
    "http11.receive_response_headers.complete": ("processing", "end"),
    "http2.receive_response_headers.complete": ("processing", "end"),
    "http11.receive_response_body.started": ("transfer", "start"),
    "http2.receive_response_body.started": ("transfer", "start"),
}


class PhaseTimer:
    """Sums the time spent in each phase across a request and its redirects.

    `started` is when the network part began (the first phase: connecting),
    so a probe's duration leaves out httpx building the request and the
    connection pool's bookkeeping, which are the monitor's time, not the target's.
    """

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._open: dict[str, float] = {}
        self.started: float | None = None

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        phase, edge = _PHASE_EVENTS.get(event, (None, None))
        if phase is None:
            return
        now = time.perf_counter()
        if self.started is None:
            self.started = now
        if edge == "start":
            self._open[phase] = now
        elif phase in self._open:
            self.phases[phase] = self.phases.get(phase, 0.0) + now - self._open.pop(phase)

    def finish(self) -> dict[str, float]:
        """Close the phases still open (the body transfer ends when we stop reading)."""
        now = time.perf_counter()
        for phase, start in self._open.items():
            self.phases[phase] = self.phases.get(phase, 0.0) + now - start
        self._open.clear()
        return {k: round(v, 6) for k, v in self.phases.items()}


def build_tls_contexts() -> dict[bool, ssl.SSLContext]:
    """The two TLS contexts every probe shares: verifying, and not (verify_tls = false)."""
    verifying = ssl.create_default_context()
    try:
        import certifi

        verifying.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    lax = ssl.create_default_context()
    lax.check_hostname = False
    lax.verify_mode = ssl.CERT_NONE
    return {True: verifying, False: lax}


@dataclass(frozen=True)
class Answer:
    """What one request got, judged: `status` is None when no response came (`failure` says why)."""

    status: int | None
    headers: tuple[tuple[str, str], ...]  # the response's, raw
    body: bytes  # at most max_body_bytes of it, raw and untrusted
    duration: float  # seconds, up to the last byte of the body
    phases: dict[str, float]
    cert_expires_at: float | None
    failure: str | None  # why the answer fails the expectations, not redacted; None when it passes
    error_text: str | None  # the server's words (redacted), when it failed and said any
    timed_out: bool = False  # `failure` is that the request ran out of its `timeout`


class HttpProbe:
    """Runs `type = "http"` checks. Pass `transport` to test without a network."""

    def __init__(self, ctx: ProbeContext, transport: httpx.AsyncBaseTransport | None = None, *,
                 on_exchange: ExchangeSink | None = None):
        self._ctx = ctx
        self.on_exchange = on_exchange
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        self._clients = {
            verify: httpx.AsyncClient(verify=tls, limits=limits, transport=transport, trust_env=False,
                                      headers={"user-agent": USER_AGENT})
            for verify, tls in build_tls_contexts().items()
        }

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def run(self, check: Check) -> Result:
        options: HttpOptions = check.settings
        started_at = utcnow()
        answer = await self.send(options, check.timeout)
        return Result(
            check=check.name, type=check.type, location=self._ctx.location,
            target=redact(options.url, self._ctx.secrets), started_at=started_at,
            duration_ms=round(answer.duration * 1000, 3), ok=answer.failure is None, status_code=answer.status,
            method=options.method, failure=answer.failure and redact(answer.failure, self._ctx.secrets),
            error_text=answer.error_text, phases=answer.phases, cert_expires_at=answer.cert_expires_at,
        )

    async def send(self, options: HttpOptions, timeout: float, *, secrets: Collection[str] | None = None,
                   on_exchange: ExchangeSink | None = None) -> Answer:
        """Send the request of `options` within `timeout` seconds and judge the answer by `options.expect`.

        Never raises for a failing target. `error_text` is redacted with `secrets` (the context's unless
        given); `failure` is not: the caller redacts what it keeps. `on_exchange` (else the probe's own
        sink) hears of every hop, raw.
        """
        secrets = self._ctx.secrets if secrets is None else secrets
        on_exchange = on_exchange or self.on_exchange
        timer = PhaseTimer()
        status = None
        body, truncated, cert_expires_at, content_type = b"", False, None, None
        response_headers: tuple[tuple[str, str], ...] = ()
        failure = None
        timed_out = False
        t0 = time.perf_counter()
        finished = None
        try:
            async with asyncio.timeout(timeout):
                async with self._clients[options.verify_tls].stream(
                    options.method, options.url, headers=options.headers, content=options.body,
                    follow_redirects=options.follow_redirects, timeout=timeout,
                    extensions={"trace": timer},
                ) as response:
                    status = response.status_code
                    content_type = response.headers.get("content-type")
                    response_headers = tuple(response.headers.items())
                    cert_expires_at = _peer_cert_expiry(response)
                    body, truncated = await _read_prefix(response, options.max_body_bytes)
                    # The target is done at its last byte; closing the stream and the
                    # connection is the monitor's own work, not the target's latency.
                    finished = time.perf_counter()
                    if on_exchange is not None:
                        for hop in _exchanges(response, options.body, body, truncated):
                            on_exchange(hop)
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeEncodeError, OSError, TimeoutError, ssl.SSLError) as exc:
            # httpx raises InvalidURL and UnicodeEncodeError (a header it cannot encode) before sending anything.
            failure = _not_ascii(options.headers) if isinstance(exc, UnicodeEncodeError) else \
                describe_error(exc, timeout)
            timed_out = is_timeout(exc)
            if on_exchange is not None:
                sent = {"user-agent": USER_AGENT, **options.headers}
                on_exchange(Exchange(options.method, options.url, tuple(sent.items()), options.body, error=failure))
        duration = (finished or time.perf_counter()) - (timer.started or t0)
        if failure is None:
            # No exception: the response arrived, so its status is known.
            assert status is not None, "a request that raised nothing has a status"
            days_left = None if cert_expires_at is None else (cert_expires_at - time.time()) / 86400
            failure = first_failure(options.expect, status=status, body=body, truncated=truncated,
                                    duration=duration, cert_days_left=days_left)
        error_text = None
        if failure is not None and body:
            # A GraphQL answer's first error is its server's words; the extractor would join them all.
            message = graphql_message(body.decode("utf-8", errors="replace")) if options.expect.graphql_errors \
                else None
            error_text = extract_error_text(message if message is not None else body,
                                            "text/plain" if message is not None else content_type,
                                            secrets=secrets)
        return Answer(status=status, headers=response_headers, body=body, duration=duration,
                      phases=timer.finish(), cert_expires_at=cert_expires_at, failure=failure,
                      error_text=error_text, timed_out=timed_out)


def _exchanges(response: httpx.Response, request_body: bytes | None, body: bytes,
               truncated: bool) -> list[Exchange]:
    """Every hop of `response` (its redirects first), with the last one's body as read."""
    hops = []
    for number, hop in enumerate([*response.history, response]):
        last = hop is response
        # A redirect resends the body only when it keeps the method (307, 308).
        resent = number == 0 or hop.request.method not in ("GET", "HEAD")
        hops.append(Exchange(
            hop.request.method, str(hop.request.url), tuple(hop.request.headers.items()),
            request_body if resent else None,
            hop.http_version, hop.status_code, hop.reason_phrase, tuple(hop.headers.items()),
            body if last else b"", truncated if last else False))
    return hops


def _not_ascii(headers: Mapping[str, str]) -> str:
    """Why httpx could not encode `headers`: the names of those that are not ASCII (never their values)."""
    names = [name for name, value in headers.items() if not (name + value).isascii()]
    return f"a header value is not ASCII: {', '.join(names) or '?'} (HTTP headers carry ASCII only)"


async def _read_prefix(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Read at most `limit` bytes of the body; say whether there was more."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            # Leaving the stream closes the connection; the rest is never read.
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def _peer_cert_expiry(response: httpx.Response) -> float | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    ssl_object = stream.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    not_after = cert.get("notAfter") if cert else None
    if not not_after:
        return None
    return float(ssl.cert_time_to_seconds(not_after))
