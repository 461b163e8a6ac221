"""Probe kinds. A new kind is one module plus one line in `PROBE_KINDS`."""

from __future__ import annotations

import importlib

from probes.base import Probe, ProbeContext

# type -> "module:Class"; imported on first use so that a monitor with only
# HTTP checks never loads Playwright.
PROBE_KINDS = {
    "http": "probes.http:HttpProbe",
    "browser": "probes.browser:BrowserProbe",
}


class LazyProbes(dict):
    """Probes by check type, each built from the context the first time it is asked for."""

    def __init__(self, ctx: ProbeContext):
        super().__init__()
        self.ctx = ctx

    def __missing__(self, kind: str) -> Probe:
        module, _, name = PROBE_KINDS[kind].partition(":")
        probe = getattr(importlib.import_module(module), name)(self.ctx)
        self[kind] = probe
        return probe


def build_probes(ctx: ProbeContext) -> dict[str, Probe]:
    return LazyProbes(ctx)
