"""Run a check once through a fresh probe of its kind, as `monitor check` would, and close the probe.

    result = await probe_once(check)                     # the kind comes from check.type (PROBE_KINDS)
    result = await probe_once(check, secrets={"s3cr3t"})
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.core.config import Check
from monitor.core.results import Result
from probes import PROBE_KINDS
from probes.base import ProbeContext


async def probe_once(check: Check, secrets: Iterable[str] = ()) -> Result:
    probe = PROBE_KINDS[check.type].probe(ProbeContext(location="test", secrets=frozenset(secrets)))
    try:
        return await probe.run(check)
    finally:
        await probe.close()
