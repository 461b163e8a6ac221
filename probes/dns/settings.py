"""`type = "dns"` checks: the check's keys -> `DnsOptions` (the question, the server) and `DnsExpect`.

The queried name is `query_name`, not `name`: every check's `name` is its own.
Expected answers are parsed as records of the queried type when the config is
read, so `answers_contain = ["10.0.0.300"]` is a config error, not a failing
check; they are then compared in canonical form (`answer_key`), so
`"MAIL.example"` matches `mail.example.` and `"::1"` matches `0:0::1`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from monitor.core.config import ReadContext
from monitor.core.config_schema import Table, join
from probes.host_port import HostPort, parse_host_port

# TXT and SPF answers are compared as their text, strings joined (a long TXT record comes in 255-byte pieces).
TEXT_TYPES = frozenset({dns.rdatatype.TXT, dns.rdatatype.SPF})


@dataclass(frozen=True)
class DnsExpect:
    """What a passing answer looks like."""

    rcode: str = "NOERROR"
    # Each must be among the answers; or the answers must be exactly these (in any order).
    answers_contain: tuple[str, ...] = ()
    answers_equal: tuple[str, ...] | None = None
    # Fewest answers of the queried type: 1 when expecting NOERROR (an empty answer is a broken record), else 0.
    min_answers: int = 1


@dataclass(frozen=True)
class DnsOptions:
    query_name: str = ""
    record: str = "A"
    # An IP address and port; None: the first nameserver of /etc/resolv.conf, on port 53.
    server: HostPort | None = None
    expect: DnsExpect = DnsExpect()

    @property
    def question(self) -> str:
        """`threads.example. A`, as failure sentences name it."""
        return f"{self.query_name} {self.record}"

    @property
    def target(self) -> str:
        """`threads.example. A @127.0.0.1:5353`, like dig's `@server`."""
        return self.question + (f" @{self.server}" if self.server else "")


def answer_key(record: str, text: str) -> object:
    """The canonical form an answer is compared in; raises ValueError when `text` is no `record` record."""
    rdtype = dns.rdatatype.from_text(record)
    if rdtype in TEXT_TYPES:
        return text
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, text, origin=dns.name.root)
    except (dns.exception.DNSException, ValueError) as exc:
        raise ValueError(f"{text!r} is not a valid {record} record ({exc})") from None
    return rdata_key(rdata)


def rdata_key(rdata: dns.rdata.Rdata) -> object:
    if rdata.rdtype in TEXT_TYPES:
        return answer_text(rdata)
    # The canonical wire form (RFC 4034 6.2): names lowercased, addresses in binary.
    return rdata.to_digestable(dns.name.root)


def answer_text(rdata: dns.rdata.Rdata) -> str:
    """An answer as a config would write it: `10.0.0.9`, `10 mail.example.`, `v=spf1 -all` (TXT unquoted)."""
    if rdata.rdtype in TEXT_TYPES:
        return b"".join(rdata.strings).decode("utf-8", errors="replace")  # type: ignore[attr-defined]
    return str(rdata.to_text())


def read_dns_check(t: Table, ctx: ReadContext) -> DnsOptions:
    """Read a DNS check's own keys from its table (its `CheckReader`)."""
    query_name = t.string("query_name", required=True, allowed='a domain name such as "threads.example.com"')
    if query_name is not None:
        try:
            query_name = dns.name.from_text(query_name).to_text()
        except dns.exception.DNSException as exc:
            t.error("query_name", f"is not a valid domain name: {exc}")
    record = (t.string("record", "A") or "A").upper()
    try:
        rdtype = dns.rdatatype.from_text(record)
        if rdtype == dns.rdatatype.ANY:
            # An ANY answer holds records of other types, which the expectations cannot name; and many
            # servers answer ANY with a stub or refuse it (RFC 8482).
            t.error("record", "ANY is not supported: many servers refuse it (RFC 8482); ask for the type "
                              "you expect, such as A or MX")
            rdtype = dns.rdatatype.A
        elif dns.rdatatype.is_metatype(rdtype):
            raise dns.rdatatype.UnknownRdatatype
        record = dns.rdatatype.to_text(rdtype)
    except dns.rdatatype.UnknownRdatatype:
        t.error("record", f"must be a DNS record type such as A, AAAA, CNAME, MX, TXT, NS, SOA, got {record!r}")
        record = "A"
    server = _read_server(t)
    expect = _read_expect(t.table("expect"), record)
    return DnsOptions(query_name=query_name or "", record=record, server=server, expect=expect)


_SERVER_HINT = 'an IP address with an optional port: "127.0.0.1", "127.0.0.1:5353" or "[2001:db8::1]:53"'


def _read_server(t: Table) -> HostPort | None:
    raw = t.string("server", allowed=_SERVER_HINT)
    if raw is None:
        return None
    try:
        server = parse_host_port(raw, default_port=53)
        ipaddress.ip_address(server.host)  # asked directly: a name would need a resolver to find the resolver
    except ValueError:
        t.error("server", f"must be {_SERVER_HINT}, got {raw!r}")
        return None
    return server


def _read_expect(t: Table, record: str) -> DnsExpect:
    raw_rcode = (t.string("rcode", "NOERROR") or "NOERROR").upper()
    try:
        rcode = dns.rcode.to_text(dns.rcode.from_text(raw_rcode))
    except dns.rcode.UnknownRcode:
        t.error("rcode", f"must be a DNS response code such as NOERROR, NXDOMAIN or SERVFAIL, got {raw_rcode!r}")
        rcode = "NOERROR"
    contain = _read_answers(t, "answers_contain", record)
    equal = _read_answers(t, "answers_equal", record) if "answers_equal" in t.raw else None
    if contain and equal is not None:
        t.error("answers_equal", "set either answers_contain or answers_equal, not both")
    min_answers = t.integer("min_answers", 1 if rcode == "NOERROR" else 0, minimum=0)
    t.reject_unknown()
    return DnsExpect(rcode=rcode, answers_contain=contain, answers_equal=equal, min_answers=min_answers)


def _read_answers(t: Table, key: str, record: str) -> tuple[str, ...]:
    raw = t.get(key, [], kind=list, allowed=f'an array of {record} answers such as ["10.0.0.5"]')
    answers = []
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            t.issues.add(join(t.at(key), i), f"must be a string, got {item!r}")
            continue
        try:
            answer_key(record, item)
        except ValueError as exc:
            t.issues.add(join(t.at(key), i), str(exc))
            continue
        answers.append(item)
    return tuple(answers)
