"""`type = "tls"` checks: the check's keys -> `TlsOptions` (where to shake hands, and what a good handshake is)."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.core.config import ReadContext
from monitor.core.config_schema import Table
from probes.host_port import HostPort, read_host_port
from probes.tls_handshake import TlsClient, read_tls_client


@dataclass(frozen=True)
class TlsOptions:
    address: HostPort
    client: TlsClient

    @property
    def target(self) -> str:
        return str(self.address)


def read_tls_check(t: Table, ctx: ReadContext) -> TlsOptions:
    """Read a TLS check's own keys from its table (its `CheckReader`)."""
    address = read_host_port(t)
    client = read_tls_client(t, ctx)
    # A missing target is an error recorded on the table, so the check is dropped: the placeholder is never run.
    return TlsOptions(address=address or HostPort("", 0), client=client)
