"""What one run of one check produced.

A probe returns a `Result`; the store, the incident machine, the metrics and
the CLI only ever read it. Probes know nothing of where results go.

Text fields that came from the monitored server (`error_text`, anything in
`details`) are untrusted: already redacted of secrets by the probe, but every
sink must still escape them for its own medium. So is `browser_said`: a page's
console can say anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.core.series import Sample


@dataclass
class StepResult:
    """One step of a browser journey."""

    name: str
    ok: bool
    duration_ms: float
    error: str | None = None


@dataclass
class Result:
    """The outcome of one run of one check.

    `failure` is one human sentence saying why the run failed ("expected
    status 200, got 500"); `error_text` is the server's own words, when it
    said any, and only what a server sent. When the server said nothing,
    `browser_said` holds what the browser or Playwright said instead
    ("Timeout 3000ms exceeded.", "page error: Failed to fetch"), so it is never
    mistaken for the server's words. All are None for a passing run.
    """

    check: str
    type: str
    location: str
    target: str
    started_at: datetime
    duration_ms: float
    ok: bool
    status_code: int | None = None
    method: str | None = None
    failure: str | None = None
    error_text: str | None = None
    browser_said: str | None = None
    # Seconds per phase where measured (HTTP: connect, tls, processing, transfer); each kind names its
    # phases and the metric they go to (`ProbeKind.phase_metric`).
    phases: dict[str, float] = field(default_factory=dict)
    # Unix time the target's own certificate (the leaf) expires (any kind that spoke TLS).
    cert_expires_at: float | None = None
    # The kind's own series for this run (`ProbeKind.metrics`): exported, not stored.
    samples: list[Sample] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    failing_step: str | None = None
    # Files kept for this run, relative to artifacts_dir.
    artifacts: list[str] = field(default_factory=list)
    # Probe-specific extras (network log of a journey, ...), JSON-serialisable.
    details: dict[str, Any] = field(default_factory=dict)
    # Set by the store once the run is written.
    run_id: int | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)
