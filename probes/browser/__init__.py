"""`type = "browser"`: a journey in a real Chromium (steps or a Python script), the network watched throughout.

The probe itself, and with it Playwright, is imported on first use, so a
monitor with only HTTP checks never loads it.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.core.config import Check
from monitor.core.config_schema import ConfigIssue
from probes.base import Probe, ProbeContext, ProbeKind
from probes.browser.settings import read_browser_check, read_browser_section


def _probe(ctx: ProbeContext) -> Probe:
    from probes.browser.probe import BrowserProbe

    return BrowserProbe(ctx)


async def _validate(checks: Sequence[Check], ctx: ProbeContext) -> list[ConfigIssue]:
    from probes.browser.selectors import validate_journeys

    return await validate_journeys(checks, ctx)


KIND = ProbeKind(name="browser", read_check=read_browser_check, probe=_probe, section=read_browser_section,
                 validate=_validate)
