"""TLS checks: one handshake, judged by the certificate (trust, name, dates) and the protocol version.

Phases (seconds, `probe_tls_duration_seconds{phase}`): `connect` (resolving the
host name included; `probe_dns_lookup_time_seconds` is that part) and `tls`.
Nothing is sent after the handshake. A failure names the one property that
failed (probes/tls_facts.py); the server says no words here, so
`error_text` stays empty.
"""

from __future__ import annotations

import asyncio
import time

from monitor.core.config import Check
from monitor.core.durations import format_duration
from monitor.core.redact import redact
from monitor.core.results import Result, utcnow
from monitor.core.series import Sample
from probes.base import ProbeContext
from probes.host_port import DNS_LOOKUP_TIME, connect_any, describe_bad_host, describe_connection_error, resolve
from probes.tls.settings import TlsOptions
from probes.tls_facts import TlsFacts, expires_too_soon
from probes.tls_handshake import TlsContexts, TlsFailure, start_tls


class TlsProbe:
    """Runs `type = "tls"` checks."""

    def __init__(self, ctx: ProbeContext):
        self._ctx = ctx
        self._tls = TlsContexts()

    async def close(self) -> None:
        pass

    async def run(self, check: Check) -> Result:
        options: TlsOptions = check.settings
        started_at = utcnow()
        phases: dict[str, float] = {}
        facts: TlsFacts | None = None
        failure: str | None = None
        stage = "connecting"
        lookup: float | None = None
        t0 = mark = time.perf_counter()
        try:
            async with asyncio.timeout(check.timeout):
                addresses = await resolve(options.address)
                lookup = time.perf_counter() - mark
                _, writer = await connect_any(addresses)
                try:
                    now = time.perf_counter()
                    phases["connect"], mark, stage = round(now - mark, 6), now, "the TLS handshake"
                    facts = await start_tls(writer, options.address, options.client, self._tls)
                    phases["tls"] = round(time.perf_counter() - mark, 6)
                finally:
                    writer.transport.abort()  # the handshake is all we came for
        except TimeoutError:
            failure = f"timed out after {format_duration(check.timeout)} ({stage})"
        except TlsFailure as exc:
            failure, facts = exc.sentence, exc.facts
        except OSError as exc:
            failure = describe_connection_error(exc)
        except UnicodeError as exc:  # a host name the IDNA codec refuses; the reader refuses it first
            failure = describe_bad_host(exc, options.address.host, options.client.name_for(options.address))
        duration = time.perf_counter() - t0
        if failure is None and facts is not None:
            failure = expires_too_soon(facts.certificate, options.client.cert_min_days, time.time())
        return Result(
            check=check.name, type=check.type, location=self._ctx.location,
            target=redact(options.target, self._ctx.secrets), started_at=started_at,
            duration_ms=round(duration * 1000, 3), ok=failure is None,
            failure=failure and redact(failure, self._ctx.secrets),
            phases=phases, cert_expires_at=facts.expires_at if facts else None,
            samples=(facts.samples() if facts else [])
            + ([Sample(DNS_LOOKUP_TIME.name, round(lookup, 6))] if lookup is not None else []),
        )
