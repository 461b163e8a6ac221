"""`type = "dns"`: one query to a DNS server per run, judged by response code and answers (dnspython)."""

from __future__ import annotations

from monitor.core.series import Family
from probes.base import Probe, ProbeContext, ProbeKind
from probes.dns.settings import read_dns_check


def _probe(ctx: ProbeContext) -> Probe:
    from probes.dns.probe import DnsProbe

    return DnsProbe(ctx)


KIND = ProbeKind(
    name="dns", read_check=read_dns_check, probe=_probe,
    metrics=(
        Family("probe_dns_duration_seconds", "gauge", "Time spent in each phase of the latest DNS query."),
        Family("probe_dns_query_succeeded", "gauge", "Whether the latest DNS query got an answer (1) or not (0)."),
        Family("probe_dns_answer_rrs", "gauge", "Records in the answer section of the latest DNS answer."),
        Family("probe_dns_authority_rrs", "gauge", "Records in the authority section of the latest DNS answer."),
        Family("probe_dns_additional_rrs", "gauge", "Records in the additional section of the latest DNS answer."),
        Family("probe_dns_serial", "gauge", "Serial of the SOA record in the latest DNS answer, when it had one."),
    ),
    phase_metric="probe_dns_duration_seconds",
)
