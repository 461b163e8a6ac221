"""`type = "grpc"`: the standard gRPC health check (`grpc.health.v1.Health/Check`), with or without TLS.

The package is grpc_health, not grpc, so that `import grpc` anywhere means the library.
"""

from __future__ import annotations

import os

from monitor.core.series import Family
from probes.base import Probe, ProbeContext, ProbeKind
from probes.grpc_health.settings import read_grpc_check


def _probe(ctx: ProbeContext) -> Probe:
    # gRPC core writes every failed handshake to stderr itself, unstructured, beside the monitor's logs; the
    # run's Result says it already. Set before grpc is first imported, which is here in `monitor run`.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    from probes.grpc_health.probe import GrpcHealthProbe

    return GrpcHealthProbe(ctx)


KIND = ProbeKind(
    name="grpc", read_check=read_grpc_check, probe=_probe,
    metrics=(
        Family("probe_grpc_duration_seconds", "gauge", "Time spent in each phase of the latest gRPC health check."),
        Family("probe_grpc_status_code", "gauge", "gRPC status code of the latest health check RPC (0 is OK)."),
        Family("probe_grpc_healthcheck_response", "gauge",
               "1 for the serving status the latest health check answered, 0 for the others."),
        Family("probe_grpc_ssl", "gauge", "Whether the latest gRPC health check used TLS (1) or not (0)."),
    ),
    phase_metric="probe_grpc_duration_seconds",
)
