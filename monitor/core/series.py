"""Prometheus series a probe kind adds to its checks' own (`probe_success` and the rest are common).

A kind declares its families (`ProbeKind.metrics`) and its results carry the
latest values (`Result.samples`); /metrics renders them beside the common
ones, with the check's labels (check, type, location, target) first. Use
blackbox_exporter's names where it has one (`probe_dns_answer_rrs`,
`probe_tls_version_info`), so dashboards built for it read ours.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """One metric family: its name, Prometheus type and help text."""

    name: str
    type: str
    help: str

    def header(self) -> str:
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.type}\n"


@dataclass(frozen=True)
class Sample:
    """One value of a kind's family in a run, with the labels it adds to the check's.

    Label values must be bounded (a TLS version, a serving status), never the
    server's text: every distinct value is a new series.
    """

    name: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()
