"""Probe kinds. A new kind is one package (settings, their reader, its probe) plus one line in `PROBE_KINDS`."""

from __future__ import annotations

from probes import browser, dns, grpc_health, http, multistep, tcp, tls
from probes.base import Probe, ProbeContext, ProbeKind

PROBE_KINDS: dict[str, ProbeKind] = {kind.name: kind for kind in (
    http.KIND,
    browser.KIND,
    multistep.KIND,
    tcp.KIND,
    tls.KIND,
    dns.KIND,
    grpc_health.KIND,
)}


class LazyProbes(dict[str, Probe]):
    """Probes by check type, each built from the context the first time it is asked for."""

    def __init__(self, ctx: ProbeContext):
        super().__init__()
        self.ctx = ctx

    def __missing__(self, kind: str) -> Probe:
        probe = PROBE_KINDS[kind].probe(self.ctx)
        self[kind] = probe
        return probe


def build_probes(ctx: ProbeContext) -> dict[str, Probe]:
    return LazyProbes(ctx)
