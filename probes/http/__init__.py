"""`type = "http"`: one HTTP request per run, judged by status, body and JSON; the server's words on failure."""

from __future__ import annotations

from probes.base import Probe, ProbeContext, ProbeKind
from probes.http.settings import read_http_check


def _probe(ctx: ProbeContext) -> Probe:
    from probes.http.probe import HttpProbe

    return HttpProbe(ctx)


KIND = ProbeKind(name="http", read_check=read_http_check, probe=_probe)
