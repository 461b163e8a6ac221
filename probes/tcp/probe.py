"""TCP checks with asyncio streams: connect, maybe TLS, maybe say something, maybe expect an answer.

Phases (seconds, `probe_tcp_duration_seconds{phase}`): `connect` (resolving
the host name included; `probe_dns_lookup_time_seconds` is that part), `tls`
(with `tls = true`), then, with `expect`, `first_byte` and `answer`: from
the end of the handshake (sending included) to the server's first byte, and
to the byte that made `expect` match. The server's
words (`error_text`) are what it sent when `expect` did not match; a
refused connection or a failed handshake has none.
"""

from __future__ import annotations

import asyncio
import ssl
import time

from monitor.core.config import Check
from monitor.core.durations import format_duration
from monitor.core.redact import redact
from monitor.core.results import Result, utcnow
from monitor.core.series import Sample
from probes.base import ProbeContext
from probes.error_text import extract_error_text
from probes.host_port import describe_bad_host, describe_connection_error
from probes.tcp.settings import MAX_ANSWER_BYTES, TcpOptions
from probes.tls_facts import expires_too_soon
from probes.tls_handshake import Progress, TlsContexts, TlsFailure, connect

FAILED_DUE_TO_REGEX = "probe_failed_due_to_regex"


class _Run(Progress):
    """What one run has seen so far, beyond connecting: what the server said, and whether `expect` failed."""

    def __init__(self) -> None:
        super().__init__()
        self.said = bytearray()
        self.regex_failed = False


class TcpProbe:
    """Runs `type = "tcp"` checks."""

    def __init__(self, ctx: ProbeContext):
        self._ctx = ctx
        self._tls = TlsContexts()

    async def close(self) -> None:
        pass

    async def run(self, check: Check) -> Result:
        options: TcpOptions = check.settings
        started_at = utcnow()
        run = _Run()
        t0 = time.perf_counter()
        failure: str | None = None
        try:
            async with asyncio.timeout(check.timeout):
                failure = await self._converse(options, run)
        except TimeoutError:
            failure = self._timed_out(options, run, check.timeout)
        except TlsFailure as exc:
            failure = exc.sentence
        except OSError as exc:
            failure = describe_connection_error(exc)
        except UnicodeError as exc:  # a host name the IDNA codec refuses; the reader refuses it first
            failure = describe_bad_host(exc, options.address.host, options.tls_client.name_for(options.address))
        duration = time.perf_counter() - t0
        error_text = None
        if run.regex_failed and run.said:
            error_text = extract_error_text(bytes(run.said), "text/plain", secrets=self._ctx.secrets)
        samples = run.samples()
        if options.expect is not None:
            samples.append(Sample(FAILED_DUE_TO_REGEX, 1 if run.regex_failed else 0))
        return Result(
            check=check.name, type=check.type, location=self._ctx.location,
            target=redact(options.target, self._ctx.secrets), started_at=started_at,
            duration_ms=round(duration * 1000, 3), ok=failure is None,
            failure=failure and redact(failure, self._ctx.secrets), error_text=error_text,
            phases=run.phases, cert_expires_at=run.facts.expires_at if run.facts else None, samples=samples,
        )

    async def _converse(self, options: TcpOptions, run: _Run) -> str | None:
        """Connect, shake hands, send, read until `expect` matches; the failure sentence, or None."""
        reader, writer = await connect(options.address, options.tls_client if options.tls else None, self._tls, run)
        try:
            if run.facts is not None:
                too_soon = expires_too_soon(run.facts.certificate, options.tls_client.cert_min_days, time.time())
                if too_soon is not None:
                    return too_soon
            if options.send is not None:
                run.stage = "sending"
                writer.write(options.send.encode())
                await writer.drain()
            if options.expect is None:
                return None
            run.stage = "the answer"
            return await _read_answer(reader, options, run)
        finally:
            writer.transport.abort()  # the target is done; a polite close would only add our own waiting

    def _timed_out(self, options: TcpOptions, run: _Run, timeout: float) -> str:
        if run.stage == "the answer" and options.expect is not None:
            run.regex_failed = True
            within = f"{options.expect.pattern!r} within {format_duration(timeout)}"
            if run.said:
                return f"the server's answer did not match {within}"
            return f"no answer matching {within}; the server said nothing"
        return f"timed out after {format_duration(timeout)} ({run.stage})"


async def _read_answer(reader: asyncio.StreamReader, options: TcpOptions, run: _Run) -> str | None:
    """Read until `expect` matches what the server said; the failure sentence, or None."""
    assert options.expect is not None, "only called with an expect pattern"
    while len(run.said) < MAX_ANSWER_BYTES:
        try:
            chunk = await reader.read(MAX_ANSWER_BYTES - len(run.said))
        except ssl.SSLError as exc:
            if "CERTIFICATE_REQUIRED" not in (exc.reason or ""):  # the alert, when it arrives before the close
                raise
            chunk = b""
        if not chunk:
            break
        if not run.said:
            run.since_lap("first_byte")
        run.said += chunk
        if options.expect.search(run.said.decode("utf-8", errors="replace")):
            run.since_lap("answer")
            return None
    run.regex_failed = True
    pattern = options.expect.pattern
    if not run.said and run.facts is not None and run.facts.version == "TLS 1.3":
        # TLS 1.3 finishes the client's side of the handshake before the server has checked the client's
        # certificate: a server that requires one hangs up on the first read, and asyncio shows that as EOF.
        return "the server closed the connection after the TLS handshake (does it require a client certificate?)"
    if not run.said:
        return f"the server closed the connection without saying anything (expected {pattern!r})"
    if len(run.said) >= MAX_ANSWER_BYTES:
        return f"the server's first {MAX_ANSWER_BYTES // 1024} KiB did not match {pattern!r}"
    return f"the server's answer did not match {pattern!r}"

