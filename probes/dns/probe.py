"""DNS checks with dnspython: one query to one server per run, judged by rcode and answers.

The query goes over UDP and is repeated over TCP when the answer comes back
truncated, as a stub resolver does; the recursion-desired flag is set, so
a recursive resolver answers for the whole chain. No retries: a lost
datagram is a failed run, and `retries` on the check is there for flaky links.

What the server said (`Result.error_text`) is its response code and the
answers it gave ("NOERROR: A 10.0.0.9"); a timeout or a refused query is our
own observation and goes only into the failure sentence. Sinks print the two
as "failure: error_text", so the sentence does not repeat the rcode:
"threads.example. A did not resolve: NXDOMAIN".
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.inet
import dns.message
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver

from monitor.core.config import Check
from monitor.core.durations import format_duration
from monitor.core.redact import redact
from monitor.core.results import Result, utcnow
from monitor.core.series import Sample
from probes.base import ProbeContext
from probes.dns.settings import DnsExpect, DnsOptions, answer_key, answer_text, rdata_key
from probes.error_text import extract_error_text
from probes.host_port import HostPort

if TYPE_CHECKING:
    from dns._asyncbackend import Backend  # where dnspython defines it; dns.asyncbackend returns it


class DnsProbe:
    """Runs `type = "dns"` checks. Holds nothing between runs but the system resolver's address."""

    def __init__(self, ctx: ProbeContext):
        self._ctx = ctx
        self._system_server: HostPort | None = None
        # Loaded here, not on the first query: its import would count as the first run's lookup time.
        self._backend = dns.asyncbackend.get_backend("asyncio")

    async def close(self) -> None:
        pass

    def _server(self, options: DnsOptions) -> HostPort | None:
        """The check's server, else the first nameserver of /etc/resolv.conf (read once per process), else None."""
        if options.server is not None:
            return options.server
        if self._system_server is None:
            try:
                nameservers = dns.resolver.Resolver(configure=True).nameservers
            except dns.resolver.NoResolverConfiguration:
                return None
            if not nameservers:
                return None
            self._system_server = HostPort(str(nameservers[0]), 53)
        return self._system_server

    async def run(self, check: Check) -> Result:
        options: DnsOptions = check.settings
        started_at = utcnow()
        t0 = time.perf_counter()
        response, failure, server, used_tcp = None, None, "", False
        address = self._server(options)
        try:
            if address is None:
                failure = "no DNS server to ask: set `server`, or list a nameserver in /etc/resolv.conf"
            else:
                server = str(address)
                query = dns.message.make_query(options.query_name, options.record)
                async with asyncio.timeout(check.timeout):
                    response, used_tcp = await _ask(self._backend, query, address.host, address.port, check.timeout)
        except (dns.exception.Timeout, TimeoutError):
            failure = f"no answer from {server} within {format_duration(check.timeout)}"
        except ConnectionRefusedError:
            failure = f"nothing answers DNS at {server} (connection refused)"
        except EOFError:  # dnspython's word for a TCP answer shorter than its length said
            failure = f"{server} closed the TCP connection mid-answer"
        except OSError as exc:
            failure = f"query to {server} failed: {exc.strerror or exc}"
        except dns.exception.DNSException as exc:
            failure = f"unreadable answer from {server}: {exc}"
        duration = time.perf_counter() - t0
        samples = [Sample("probe_dns_query_succeeded", 1 if response is not None else 0)]
        error_text, details, phases = None, {}, {}
        if response is not None:
            phases = {"request": round(duration, 6)}
            rcode = dns.rcode.to_text(response.rcode())
            asked = dns.rdatatype.from_text(options.record)
            # Through a CNAME chain the records of the asked type are the answers; the chain is only said.
            answers = [rdata for rrset in response.answer if rrset.rdtype == asked for rdata in rrset]
            failure = first_failure(options, rcode, answers)
            said = [f"{dns.rdatatype.to_text(rrset.rdtype)} {answer_text(rdata)}"
                    for rrset in response.answer for rdata in rrset]
            # A TXT record can hold a token: the answers kept are redacted like the rest.
            details = {"server": server, "rcode": rcode, "answers": [redact(a, self._ctx.secrets) for a in said],
                       "tcp": used_tcp}
            if failure is not None:
                error_text = extract_error_text(rcode + (": " + ", ".join(said) if said else ""), "text/plain",
                                                secrets=self._ctx.secrets)
            samples += _response_samples(response)
        return Result(
            check=check.name, type=check.type, location=self._ctx.location,
            target=redact(options.target, self._ctx.secrets), started_at=started_at,
            duration_ms=round(duration * 1000, 3), ok=failure is None,
            failure=failure and redact(failure, self._ctx.secrets), error_text=error_text,
            phases=phases, samples=samples, details=details,
        )


async def _ask(backend: Backend, query: dns.message.Message, ip: str, port: int,
               timeout: float) -> tuple[dns.message.Message, bool]:
    """Send `query` over UDP, and again over TCP if the answer is truncated; say whether TCP was used.

    The UDP socket is connected to the server, so a closed port fails at once
    as refused: the kernel hands the ICMP error only to connected sockets, and
    an unconnected one would wait out the timeout.
    """
    sock = await backend.make_socket(  # type: ignore[no-untyped-call]  # dnspython leaves it untyped
        dns.inet.af_for_address(ip), socket.SOCK_DGRAM, 0, None, (ip, port))
    try:
        return await dns.asyncquery.udp_with_fallback(query, ip, timeout=timeout, port=port, udp_sock=sock,
                                                          backend=backend)
    finally:
        await sock.close()


def first_failure(options: DnsOptions, rcode: str, answers: list[dns.rdata.Rdata]) -> str | None:
    """The sentence saying why this answer fails the check, or None when it passes. Pure."""
    expect: DnsExpect = options.expect
    question = options.question
    # Sinks print "failure: error_text", and the rcode is the server's word: the sentence leaves it to error_text.
    if rcode != expect.rcode:
        if expect.rcode == "NOERROR":
            return f"{question} did not resolve"
        return f"{question}: expected {expect.rcode}, got {rcode}"
    # Sorted: a round-robin server shuffles its answers, and the sentence should not change with them.
    got = dict(sorted(((rdata_key(a), answer_text(a)) for a in answers), key=lambda item: item[1]))
    shown = ", ".join(got.values()) or "no answer"
    if expect.answers_equal is not None:
        wanted = {answer_key(options.record, text): text for text in expect.answers_equal}
        if wanted.keys() != got.keys():
            return f"{question}: expected exactly {', '.join(wanted.values()) or 'no answer'}, got {shown}"
    missing = [text for text in expect.answers_contain if answer_key(options.record, text) not in got]
    if missing:
        return f"{question}: expected {', '.join(missing)}, got {shown}"
    if len(answers) < expect.min_answers:
        return f"{question}: no record in the answer"
    return None


def _response_samples(response: dns.message.Message) -> list[Sample]:
    """blackbox_exporter's series of a DNS answer: section sizes, the zone's serial when an SOA came.

    Not probe_dns_lookup_time_seconds: blackbox_exporter's is the time to resolve the target's host name,
    and a dns check's `server` is an IP address; the query's time is probe_dns_duration_seconds{phase="request"}.
    """
    samples = [
        Sample("probe_dns_answer_rrs", sum(len(rrset) for rrset in response.answer)),
        Sample("probe_dns_authority_rrs", sum(len(rrset) for rrset in response.authority)),
        Sample("probe_dns_additional_rrs", sum(len(rrset) for rrset in response.additional)),
    ]
    # An SOA answers an SOA query, and comes in the authority section of NXDOMAIN and empty answers.
    soa = next((rdata for section in (response.answer, response.authority) for rrset in section
                if rrset.rdtype == dns.rdatatype.SOA for rdata in rrset), None)
    if soa is not None:
        samples.append(Sample("probe_dns_serial", soa.serial))
    return samples
