"""`type = "tcp"`: connect to host:port, maybe over TLS, maybe send a line and expect an answer (a regex)."""

from __future__ import annotations

from monitor.core.series import Family
from probes.base import Probe, ProbeContext, ProbeKind
from probes.host_port import DNS_LOOKUP_TIME
from probes.tcp.settings import read_tcp_check
from probes.tls_facts import TLS_VERSION_INFO


def _probe(ctx: ProbeContext) -> Probe:
    from probes.tcp.probe import TcpProbe

    return TcpProbe(ctx)


KIND = ProbeKind(
    name="tcp", read_check=read_tcp_check, probe=_probe,
    metrics=(
        Family("probe_tcp_duration_seconds", "gauge",
               "Time spent in each phase of the latest TCP run (connect, tls, first_byte, answer)."),
        Family("probe_failed_due_to_regex", "gauge",
               "Whether the latest run failed because the server's answer did not match `expect` (1) or not (0)."),
        TLS_VERSION_INFO,
        DNS_LOOKUP_TIME,
    ),
    phase_metric="probe_tcp_duration_seconds",
)
