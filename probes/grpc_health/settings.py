"""`type = "grpc"` checks: the check's keys -> `GrpcOptions` (where to ask, about which service, over what)."""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.core.config import ReadContext
from monitor.core.config_schema import Table
from probes.host_port import HostPort, read_host_port
from probes.tls_handshake import TlsClient, read_ca_file, read_server_name


@dataclass(frozen=True)
class GrpcOptions:
    """A gRPC health check: `grpc.health.v1.Health/Check` for `service` ("" asks about the whole server)."""

    address: HostPort = HostPort("", 0)  # the config's `target`, as tcp and tls checks read it
    service: str = ""
    tls: bool = False
    # Whom to trust and by which name (`ca_file`, `server_name`); grpcio always verifies, so only those two.
    client: TlsClient = field(default_factory=TlsClient)

    @property
    def target(self) -> str:
        return str(self.address)


def read_grpc_check(t: Table, ctx: ReadContext) -> GrpcOptions:
    """Read a gRPC health check's own keys from its table (its `CheckReader`)."""
    target = read_host_port(t)  # the same `target` as tcp and tls checks
    service = t.string("service", "")
    tls = t.boolean("tls", False)
    # The same readers as tcp and tls checks, so the same words for the same mistakes.
    client = TlsClient(server_name=read_server_name(t), ca_file=read_ca_file(t, ctx))
    if "verify" in t.raw:
        t.known.add("verify")
        t.error("verify", "grpcio cannot skip certificate verification: trust the server's CA with ca_file instead")
    if not tls:
        for key in ("ca_file", "server_name"):
            if key in t.raw:
                t.error(key, "is only used with tls = true: set tls = true, or remove it")
    # A missing target is an error recorded on the table, so the check is dropped: the placeholder is never run.
    return GrpcOptions(address=target or HostPort("", 0), service=service, tls=tls, client=client)
