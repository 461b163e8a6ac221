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
from probes.base import ProbeContext
from probes.host_port import describe_bad_host, describe_connection_error
from probes.tls.settings import TlsOptions
from probes.tls_facts import expires_too_soon
from probes.tls_handshake import Progress, TlsContexts, TlsFailure, connect


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
        progress = Progress()
        failure: str | None = None
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(check.timeout):
                _, writer = await connect(options.address, options.client, self._tls, progress)
                writer.transport.abort()  # the handshake is all we came for
        except TimeoutError:
            failure = f"timed out after {format_duration(check.timeout)} ({progress.stage})"
        except TlsFailure as exc:
            failure = exc.sentence
        except OSError as exc:
            failure = describe_connection_error(exc)
        except UnicodeError as exc:  # a host name the IDNA codec refuses; the reader refuses it first
            failure = describe_bad_host(exc, options.address.host, options.client.name_for(options.address))
        duration = time.perf_counter() - t0
        facts = progress.facts
        if failure is None and facts is not None:
            failure = expires_too_soon(facts.certificate, options.client.cert_min_days, time.time())
        return Result(
            check=check.name, type=check.type, location=self._ctx.location,
            target=redact(options.target, self._ctx.secrets), started_at=started_at,
            duration_ms=round(duration * 1000, 3), ok=failure is None,
            failure=failure and redact(failure, self._ctx.secrets),
            phases=progress.phases, cert_expires_at=facts.expires_at if facts else None,
            samples=progress.samples(),
        )
