"""`type = "tcp"` checks: the check's keys -> `TcpOptions` (where to connect, what to say, what to expect)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from monitor.core.config import ReadContext
from monitor.core.config_schema import Table
from probes.host_port import HostPort, read_host_port
from probes.tls_handshake import TLS_KEYS, TlsClient, read_tls_client

# Read at most this much of what the server says while waiting for `expect`: banners and answers are short.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class TcpOptions:
    address: HostPort
    tls: bool = False
    tls_client: TlsClient = field(default_factory=TlsClient)
    send: str | None = None  # written once connected (and after the TLS handshake)
    expect: re.Pattern[str] | None = None  # searched in what the server says, as UTF-8 text

    @property
    def target(self) -> str:
        return str(self.address)


def read_tcp_check(t: Table, ctx: ReadContext) -> TcpOptions:
    """Read a TCP check's own keys from its table (its `CheckReader`)."""
    address = read_host_port(t)
    tls = t.boolean("tls", False)
    if not tls:
        for key in TLS_KEYS:
            if key in t.raw:
                t.error(key, "applies to TLS only: set tls = true, or remove it")
    tls_client = read_tls_client(t, ctx)
    expect = None
    pattern = t.string("expect", allowed='a regular expression such as "^220 " (a Python regex)')
    if pattern is not None:
        try:
            expect = re.compile(pattern)
        except re.error as exc:
            t.error("expect", f"is not a valid regular expression: {exc}")
    send = t.string("send")
    if send == "":
        t.error("send", 'must not be empty; remove it to send nothing, or write e.g. "PING\\r\\n"')
    # A missing target is an error recorded on the table, so the check is dropped: the placeholder is never run.
    return TcpOptions(address=address or HostPort("", 0), tls=tls, tls_client=tls_client, send=send or None,
                      expect=expect)
