"""The seam between the scheduler and the probe kinds.

A probe kind is a package under probes/ (probes/http/, probes/browser/)
that declares one `ProbeKind`: its name (the checks' `type`), the reader of
its checks' own keys (and of its own top-level table, if it has one), and
how to build its probe. `probes.PROBE_KINDS` lists them.

A probe is an object with `async run(check) -> Result` and `async close()`.
It is built once per monitor process from a `ProbeContext` and reused for
every run, so it can keep expensive things (TLS contexts, a browser) warm.
A probe never raises for a failing target: every outcome is a `Result`.

A kind may also declare the Prometheus families its results carry beyond
the common ones (`metrics`, filled by `Result.samples`), the family its
`Result.phases` go to (`phase_metric`), and a probe that shows every HTTP
exchange for `monitor replay` (`replay_probe`); the application reads these
from the registry, so a new kind touches nothing outside its package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from monitor.core.config import Check, CheckReader, SectionReader
from monitor.core.config_schema import ConfigIssue
from monitor.core.results import Result
from monitor.core.series import Family
from monitor.core.telemetry import NO_TELEMETRY, Telemetry
from probes.exchange import ExchangeSink


@dataclass(frozen=True)
class ProbeContext:
    location: str = "local"
    # Literal secrets from the config, redacted from anything a probe keeps.
    secrets: frozenset[str] = frozenset()
    artifacts_dir: Path = Path("artifacts")
    # Each kind's top-level settings, by kind name (`Config.sections`).
    sections: Mapping[str, Any] = field(default_factory=dict)
    telemetry: Telemetry = NO_TELEMETRY


# Which try of a run the probe is making: 0 for the first, n for the nth retry (`retries` on the check). Set by
# the runner around each try; a kind may record more on a retry (a browser's trace, `trace = "on-first-retry"`).
TRY: ContextVar[int] = ContextVar("probe_try", default=0)


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
    metrics: tuple[Family, ...] = ()  # the families of its `Result.samples` (and of `phase_metric`)
    phase_metric: str | None = None  # the family `Result.phases` are exported as, labelled by phase
    # A probe that hands every HTTP exchange it makes to the sink, for `monitor replay` to print like curl -v.
    replay_probe: Callable[[ProbeContext, ExchangeSink], Probe] | None = None
