"""`type = "tls"`: one TLS handshake with host:port; fails on the certificate (expiry, name, trust) or version."""

from __future__ import annotations

from monitor.core.series import Family
from probes.base import Probe, ProbeContext, ProbeKind
from probes.host_port import DNS_LOOKUP_TIME
from probes.tls.settings import read_tls_check
from probes.tls_facts import TLS_VERSION_INFO


def _probe(ctx: ProbeContext) -> Probe:
    from probes.tls.probe import TlsProbe

    return TlsProbe(ctx)


KIND = ProbeKind(
    name="tls", read_check=read_tls_check, probe=_probe,
    metrics=(
        Family("probe_tls_duration_seconds", "gauge", "Time spent in each phase of the latest TLS run (connect, tls)."),
        TLS_VERSION_INFO,
        DNS_LOOKUP_TIME,
    ),
    phase_metric="probe_tls_duration_seconds",
)
