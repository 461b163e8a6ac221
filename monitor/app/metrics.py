"""Results and the monitor's own health -> Prometheus metrics.

`Metrics(registry, config)` is three things at once: the `ResultListener`
that turns each run into the `probe_*` and `synthetic_check_*` series, the
`Telemetry` the scheduler, store, outbox and browser report to, and a
`ServicePart` whose `on_reload` drops the series of checks no longer in the
config. The names, types and labels below are a contract (README, "Metrics,
health and dashboards"); dashboards and alert rules depend on them.

Per check, latest run (gauges; labels check, type, location, target):
    probe_success, probe_duration_seconds, probe_http_status_code,
    probe_ssl_earliest_cert_expiry, and each kind's own (`ProbeKind.metrics`:
    http's probe_http_duration_seconds{phase}, dns's probe_dns_answer_rrs...)
Per check, over time:
    synthetic_check_runs_total{check,type,location,result}      counter
    synthetic_check_duration_seconds{check,type,location}       histogram
    synthetic_journey_step_duration_seconds{check,step}         gauge (latest run)
    synthetic_check_consecutive_failures{check}, synthetic_incident_open{check},
    synthetic_check_last_run_timestamp_seconds{check}           gauges
    synthetic_check_labels{check, <the check's own labels>}     gauge, always 1 (for joins)
    synthetic_check_min_failing_locations{check}                gauge, its quorum
The monitor itself (in the injected registry):
    synthetic_alerts_sent_total{channel,kind}, synthetic_alert_delivery_failures_total{channel,reason},
    synthetic_alert_outbox_pending, synthetic_scheduler_lag_seconds (histogram),
    synthetic_admission_wait_seconds (histogram),
    synthetic_store_errors_total, synthetic_store_writes_lost_total, synthetic_store_pending_writes,
    synthetic_store_healthy,
    synthetic_browser_restarts_total, synthetic_monitor_info{version,location}

Label values are bounded: check names, types and step names come from the
config, `target` is the configured URL with secrets redacted (the probe
already redacted `Result.target`), and alert `kind`/`reason` values outside
the known sets are reported as "other". No run ids, no error text.

Why per-check series are text: prometheus-client's generic exposition costs
about 20 µs a sample, 0.6 s a scrape at 1,000 checks on a small machine. So
each check's lines are rendered once when its result arrives (a few dozen
lines), and a scrape only joins the strings it already has.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from monitor import __version__
from monitor.core.config import Check, Config
from monitor.core.redact import redact
from monitor.core.results import Result
from monitor.core.series import Family
from monitor.core.telemetry import Telemetry
from probes import PROBE_KINDS

if TYPE_CHECKING:
    from monitor.app.service import Service

# From a 20 ms API call to a 60 s browser journey.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ALERT_KINDS = ("firing", "changed", "reminder", "resolved", "test")
DELIVERY_FAILURE_REASONS = ("rate_limited", "server_error", "network", "permanent", "error")
OTHER = "other"


_PROBE_FAMILIES = (
    Family("probe_success", "gauge", "Whether the latest run of the check passed (1) or failed (0)."),
    Family("probe_duration_seconds", "gauge", "How long the latest run of the check took."),
    Family("probe_http_status_code", "gauge", "HTTP status of the latest run; 0 when no response came."),
    Family("probe_ssl_earliest_cert_expiry", "gauge",
           "Unix time the target's own certificate (the leaf, not its chain) expires, as the latest run saw it."),
)
_KIND_FAMILIES = tuple({f.name: f for kind in PROBE_KINDS.values() for f in kind.metrics}.values())
# The family each kind's `Result.phases` are exported as (http: probe_http_duration_seconds{phase}).
PHASE_METRICS = {name: kind.phase_metric for name, kind in PROBE_KINDS.items() if kind.phase_metric}

# The per-check families, in exposition order: the common probe_* ones, each kind's own, the monitor's.
CHECK_FAMILIES = _PROBE_FAMILIES + _KIND_FAMILIES + (
    Family("synthetic_check_runs_total", "counter", "Runs of the check, by result (success, failure)."),
    Family("synthetic_check_duration_seconds", "histogram", "Duration of the check's runs."),
    Family("synthetic_journey_step_duration_seconds", "gauge",
           "Duration of each step of the latest run of a browser journey."),
    Family("synthetic_check_consecutive_failures", "gauge", "Failed runs in a row, up to the latest one."),
    Family("synthetic_incident_open", "gauge", "Whether the check has an open incident (1) or not (0)."),
    Family("synthetic_check_last_run_timestamp_seconds", "gauge", "Unix time the latest run started."),
    Family("synthetic_check_labels", "gauge",
           "Always 1; the labels are the check's own (team, severity...), for joins: one series per check."),
    Family("synthetic_check_min_failing_locations", "gauge",
           "How many locations must fail the check before it pages through Alertmanager (its quorum)."),
)


def escape_label(value: object) -> str:
    """A label value as the text exposition format wants it inside double quotes."""
    return str(value).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def format_value(value: float) -> str:
    """A sample value in the form Prometheus parses (+Inf, NaN, 0.25, 3.0)."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


@dataclass
class CheckSeries:
    """What is exported about one check, kept between its runs."""

    check: str
    type: str
    location: str
    runs: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0})
    bucket_counts: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    duration_sum: float = 0.0
    duration_count: int = 0
    consecutive_failures: int = 0
    incident_open: bool = False
    latest: Result | None = None
    target: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)  # the check's own, from the config
    quorum: int = 1  # its min_failing_locations

    def add(self, result: Result, target: str) -> None:
        seconds = round(result.duration_ms / 1000, 6)
        self.runs["success" if result.ok else "failure"] += 1
        for i, bound in enumerate(DURATION_BUCKETS):
            if seconds <= bound:
                self.bucket_counts[i] += 1
                break
        self.duration_sum += seconds
        self.duration_count += 1
        self.consecutive_failures = 0 if result.ok else self.consecutive_failures + 1
        self.latest = result
        self.target = target


def render_check(s: CheckSeries) -> dict[str, bytes]:
    """The exposition lines of one check, by family name (pure)."""
    lines: dict[str, list[str]] = {}

    def add(family: str, labels: str, value: float, suffix: str = "") -> None:
        lines.setdefault(family, []).append(f"{family}{suffix}{{{labels}}} {format_value(value)}\n")

    check = f'check="{escape_label(s.check)}"'
    base = f'{check},type="{escape_label(s.type)}",location="{escape_label(s.location)}"'
    r = s.latest
    if r is not None:
        probe = f'{base},target="{escape_label(s.target)}"'
        add("probe_success", probe, 1 if r.ok else 0)
        add("probe_duration_seconds", probe, round(r.duration_ms / 1000, 6))
        if r.type == "http" or r.status_code is not None:
            add("probe_http_status_code", probe, r.status_code or 0)
        phase_metric = PHASE_METRICS.get(r.type)
        if phase_metric is not None:
            for phase, seconds in sorted(r.phases.items()):
                add(phase_metric, f'{probe},phase="{escape_label(phase)}"', seconds)
        if r.cert_expires_at is not None:
            add("probe_ssl_earliest_cert_expiry", probe, r.cert_expires_at)
        for sample in r.samples:
            own = "".join(f',{name}="{escape_label(value)}"' for name, value in sample.labels)
            add(sample.name, probe + own, sample.value)
        # Two steps of one name would be a duplicate series, which Prometheus rejects: keep the first.
        steps_seen: set[str] = set()
        for step in r.steps:
            if step.name in steps_seen:
                continue
            steps_seen.add(step.name)
            add("synthetic_journey_step_duration_seconds", f'{check},step="{escape_label(step.name)}"',
                round(step.duration_ms / 1000, 6))
        add("synthetic_check_last_run_timestamp_seconds", check, r.started_at.timestamp())
        add("synthetic_check_consecutive_failures", check, s.consecutive_failures)
    if s.duration_count:
        for result in ("success", "failure"):
            add("synthetic_check_runs_total", f'{base},result="{result}"', s.runs[result])
        histogram = "synthetic_check_duration_seconds"
        cumulative = 0
        for bound, count in zip(DURATION_BUCKETS, s.bucket_counts, strict=True):
            cumulative += count
            add(histogram, f'{base},le="{format_value(bound)}"', cumulative, "_bucket")
        add(histogram, f'{base},le="+Inf"', s.duration_count, "_bucket")
        add(histogram, base, s.duration_sum, "_sum")
        add(histogram, base, s.duration_count, "_count")
    add("synthetic_incident_open", check, 1 if s.incident_open else 0)
    own = "".join(f',{name}="{escape_label(value)}"' for name, value in sorted(s.labels.items()))
    add("synthetic_check_labels", check + own, 1)
    add("synthetic_check_min_failing_locations", check, s.quorum)
    return {family: "".join(text).encode() for family, text in lines.items()}


class Metrics(Telemetry):
    """Prometheus metrics of one monitor process. Thread-safe: results arrive
    on the event loop, scrapes are served from the HTTP server's threads."""

    def __init__(self, registry: CollectorRegistry, config: Config, *, version: str = __version__):
        self.registry = registry
        self._lock = threading.Lock()
        self._series: dict[str, CheckSeries] = {}
        self._rendered: dict[str, dict[str, bytes]] = {}
        self._configured: set[str] = set()
        self._secrets: frozenset[str] = frozenset()
        self._alerts_sent = Counter("synthetic_alerts_sent_total", "Notifications delivered, by channel and kind.",
                                    ["channel", "kind"], registry=registry)
        self._delivery_failures = Counter(
            "synthetic_alert_delivery_failures_total", "Failed delivery attempts, by channel and reason.",
            ["channel", "reason"], registry=registry)
        self._outbox_pending = Gauge("synthetic_alert_outbox_pending", "Notifications waiting in the outbox.",
                                     registry=registry)
        self._scheduler_lag = Histogram("synthetic_scheduler_lag_seconds",
                                        "How late scheduled runs started against their plan.",
                                        buckets=LAG_BUCKETS, registry=registry)
        self._admission_wait = Histogram("synthetic_admission_wait_seconds",
                                         "How long runs waited to start while the event loop was behind "
                                         "(admission control); 0 for a run that started at once.",
                                         buckets=LAG_BUCKETS, registry=registry)
        self._store_errors = Counter("synthetic_store_errors_total",
                                     "Write attempts the monitor's database refused (held and retried).",
                                     registry=registry)
        self._store_lost = Counter("synthetic_store_writes_lost_total",
                                   "Writes given up: the backlog was full, or the monitor stopped while the "
                                   "database refused them.", registry=registry)
        self._store_pending = Gauge("synthetic_store_pending_writes",
                                    "Writes waiting for the monitor's database.", registry=registry)
        self._store_healthy = Gauge("synthetic_store_healthy",
                                    "1 while the monitor's database takes its writes and a new connection sees "
                                    "them; 0 while /healthz reports the database.", registry=registry)
        self._browser_restarts = Counter("synthetic_browser_restarts_total",
                                         "Times the shared browser was launched again after a crash.",
                                         registry=registry)
        self._info = Gauge("synthetic_monitor_info", "Always 1; labels say the version and location.",
                           ["version", "location"], registry=registry)
        self._info.labels(version, config.monitor.location).set(1)
        self.on_reload(config)

    # -- ResultListener --------------------------------------------------------------------

    def on_result(self, check: Check, result: Result) -> None:
        with self._lock:
            if check.name not in self._configured:
                return  # a run that was in flight when a reload removed its check
            series = self._series.get(check.name)
            if series is None or (series.type, series.location) != (result.type, result.location):
                series = CheckSeries(check.name, result.type, result.location,
                                     incident_open=bool(series and series.incident_open), labels=check.labels,
                                     quorum=check.alerts.min_failing_locations)
                self._series[check.name] = series
            # Probes redact the target already; a crashed probe's stand-in Result may not have.
            series.add(result, redact(result.target, self._secrets))
            self._rendered[check.name] = render_check(series)

    # -- ServicePart -----------------------------------------------------------------------

    async def start(self, service: Service) -> None:
        self._store_pending.set_function(service.writer.pending)
        self._store_healthy.set_function(lambda: 0 if service.database_health() else 1)

    async def stop(self) -> None:
        pass

    def on_reload(self, config: Config) -> None:
        """Forget checks no longer configured; start new ones at `synthetic_incident_open 0`."""
        names = {c.name for c in config.checks}
        with self._lock:
            self._configured = names
            self._secrets = config.secrets
            for name in set(self._series) - names:
                del self._series[name]
                del self._rendered[name]
            for check in config.checks:
                series = self._series.get(check.name)
                if series is None:
                    series = CheckSeries(check.name, check.type, config.monitor.location)
                    self._series[check.name] = series
                series.labels = check.labels
                series.quorum = check.alerts.min_failing_locations
                self._rendered[check.name] = render_check(series)
        # Counters of the configured channels start at 0, so rate() and
        # increase() have a series to work on before the first alert.
        for channel in config.alerts.destinations:
            for kind in ALERT_KINDS:
                self._alerts_sent.labels(channel, kind)
            for reason in DELIVERY_FAILURE_REASONS:
                self._delivery_failures.labels(channel, reason)

    # -- Telemetry -------------------------------------------------------------------------

    def scheduler_lag(self, seconds: float) -> None:
        self._scheduler_lag.observe(max(0.0, seconds))

    def admission_wait(self, seconds: float) -> None:
        self._admission_wait.observe(max(0.0, seconds))

    def store_error(self, error: Exception) -> None:
        self._store_errors.inc()

    def store_lost(self, writes: int) -> None:
        self._store_lost.inc(writes)

    def alert_sent(self, channel: str, kind: str) -> None:
        self._alerts_sent.labels(channel, kind if kind in ALERT_KINDS else OTHER).inc()

    def alert_delivery_failed(self, channel: str, reason: str) -> None:
        self._delivery_failures.labels(channel, reason if reason in DELIVERY_FAILURE_REASONS else OTHER).inc()

    def outbox_pending(self, count: int) -> None:
        self._outbox_pending.set(count)

    def incident_state(self, check: str, open: bool, consecutive_failures: int) -> None:
        with self._lock:
            series = self._series.get(check)
            if series is None:
                return  # not a configured check: no new label value
            if (series.incident_open, series.consecutive_failures) == (open, consecutive_failures):
                return  # as the run's own rendering already says: the usual case, one render per run saved
            series.incident_open = open
            series.consecutive_failures = consecutive_failures
            self._rendered[check] = render_check(series)

    def browser_restarted(self) -> None:
        self._browser_restarts.inc()

    # -- exposition ------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format (version 0.0.4)."""
        with self._lock:
            # Each check's dict is replaced, never changed, so a snapshot of the references is
            # consistent, and results need not wait while a scrape joins megabytes.
            rendered = list(self._rendered.values())
        parts: list[bytes] = []
        for family in CHECK_FAMILIES:
            blocks = [lines[family.name] for lines in rendered if family.name in lines]
            if blocks:
                parts.append(family.header().encode())
                parts.extend(blocks)
        return b"".join(parts) + generate_latest(self.registry)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
