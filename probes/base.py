"""The seam between the scheduler and the probe kinds.

A probe kind is a class with `async run(check) -> Result` and `async close()`.
It is built once per monitor process from a `ProbeContext` and reused for
every run, so it can keep expensive things (TLS contexts, a browser) warm.
A probe never raises for a failing target: every outcome is a `Result`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from monitor.config import BrowserSettings, Check
from monitor.results import Result
from monitor.telemetry import NO_TELEMETRY, Telemetry


@dataclass(frozen=True)
class ProbeContext:
    location: str = "local"
    # Literal secrets from the config, redacted from anything a probe keeps.
    secrets: frozenset[str] = frozenset()
    artifacts_dir: Path = Path("artifacts")
    browser: BrowserSettings = field(default_factory=BrowserSettings)
    telemetry: Telemetry = NO_TELEMETRY


class Probe(Protocol):
    async def run(self, check: Check) -> Result: ...

    async def close(self) -> None: ...
