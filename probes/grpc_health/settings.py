"""`type = "grpc"` checks: the check's keys -> `GrpcOptions` (where to ask, about which service, over what)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.core.config import ReadContext
from monitor.core.config_schema import Table
from probes.host_port import read_host_port


@dataclass(frozen=True)
class GrpcOptions:
    """A gRPC health check: `grpc.health.v1.Health/Check` for `service` ("" asks about the whole server)."""

    address: str = ""  # host:port, as the config's `target` key has it
    service: str = ""
    tls: bool = False
    ca_file: Path | None = None  # trusted CAs (PEM) instead of the system's
    server_name: str | None = None  # the name the certificate must carry, when not the host's

    @property
    def target(self) -> str:
        return self.address


def read_grpc_check(t: Table, ctx: ReadContext) -> GrpcOptions:
    """Read a gRPC health check's own keys from its table (its `CheckReader`)."""
    target = read_host_port(t)  # the same `target` as tcp and tls checks
    service = t.string("service", "")
    tls = t.boolean("tls", False)
    ca = t.string("ca_file")
    ca_file = None
    if ca is not None:
        ca_file = ctx.base / ca
        if not ca_file.is_file():
            t.error("ca_file", f"no such file: {ca_file} (a PEM file of the CA certificates to trust)")
    server_name = t.string("server_name")
    if "verify" in t.raw:
        t.known.add("verify")
        t.error("verify", "grpcio cannot skip certificate verification: trust the server's CA with ca_file instead")
    if not tls:
        for key in ("ca_file", "server_name"):
            if key in t.raw:
                t.error(key, "is only used with tls = true: set tls = true, or remove it")
    return GrpcOptions(address=str(target) if target else "", service=service, tls=tls, ca_file=ca_file,
                       server_name=server_name)
