"""The seam between the scheduler and the probe kinds.

A probe kind is a package under probes/ (probes/http/, probes/browser/)
that declares one `ProbeKind`: its name (the checks' `type`), the reader of
its checks' own keys (and of its own top-level table, if it has one), and
how to build its probe. `probes.PROBE_KINDS` lists them.

A probe is an object with `async run(check) -> Result` and `async close()`.
It is built once per monitor process from a `ProbeContext` and reused for
every run, so it can keep expensive things (TLS contexts, a browser) warm.
A probe never raises for a failing target: every outcome is a `Result`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from monitor.core.config import Check, CheckReader, SectionReader
from monitor.core.config_schema import ConfigIssue
from monitor.core.results import Result
from monitor.core.telemetry import NO_TELEMETRY, Telemetry


@dataclass(frozen=True)
class ProbeContext:
    location: str = "local"
    # Literal secrets from the config, redacted from anything a probe keeps.
    secrets: frozenset[str] = frozenset()
    artifacts_dir: Path = Path("artifacts")
    # Each kind's top-level settings, by kind name (`Config.sections`).
    sections: Mapping[str, Any] = field(default_factory=dict)
    telemetry: Telemetry = NO_TELEMETRY


class Probe(Protocol):
    async def run(self, check: Check) -> Result: ...

    async def close(self) -> None: ...


# Looks deeper than the config's shape at a kind's checks (`monitor validate`): the problems, each with its path.
DeepValidator = Callable[[Sequence[Check], ProbeContext], Awaitable[list[ConfigIssue]]]


@dataclass(frozen=True)
class ProbeKind:
    name: str  # the checks' `type`
    read_check: CheckReader
    probe: Callable[[ProbeContext], Probe]
    section: SectionReader | None = None  # reads the kind's own [NAME] table, if it has one
    validate: DeepValidator | None = None  # what only the kind's own machinery can judge (a browser parsing selectors)
