"""`type = "http"`: one HTTP request per run, judged by status, body and JSON; the server's words on failure."""

from __future__ import annotations

from monitor.core.series import Family
from probes.base import Probe, ProbeContext, ProbeKind
from probes.exchange import ExchangeSink
from probes.http.settings import read_http_check


def _probe(ctx: ProbeContext, on_exchange: ExchangeSink | None = None) -> Probe:
    from probes.http.probe import HttpProbe

    return HttpProbe(ctx, on_exchange=on_exchange)


KIND = ProbeKind(
    name="http", read_check=read_http_check, probe=_probe, replay_probe=_probe,
    metrics=(Family("probe_http_duration_seconds", "gauge", "Time spent in each HTTP phase in the latest run."),),
    phase_metric="probe_http_duration_seconds",
)
