"""`type = "multistep"`: HTTP requests in order, values of one carried into the next; teardown steps always run."""

from __future__ import annotations

from probes import http
from probes.base import Probe, ProbeContext, ProbeKind
from probes.exchange import ExchangeSink
from probes.multistep.settings import read_multistep_check


def _probe(ctx: ProbeContext, on_exchange: ExchangeSink | None = None) -> Probe:
    from probes.multistep.probe import MultistepProbe

    return MultistepProbe(ctx, on_exchange=on_exchange)


# Phases are summed over the steps sent (a run's connect time is every step's connect time).
KIND = ProbeKind(
    name="multistep", read_check=read_multistep_check, probe=_probe, replay_probe=_probe,
    metrics=http.KIND.metrics, phase_metric="probe_http_duration_seconds",
)
