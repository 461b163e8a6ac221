"""Result -> Prometheus series, read back through prometheus-client's own parser."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from monitor.app.config import parse_config
from monitor.app.metrics import DURATION_BUCKETS, Metrics
from monitor.core.results import Result, StepResult

CONFIG = """
[monitor]
location = "eu-west"
[alerts.console]
enabled = true
[alerts.slack]
webhook_url = "https://hooks.slack.com/services/T0/B0/xyz"
[[checks]]
name = "api"
url = "https://api.example.com/health"
[[checks]]
name = "threads"
url = "https://chat.example.com/api/threads"
"""
STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def config():
    return parse_config(CONFIG)


@pytest.fixture
def metrics(config):
    return Metrics(CollectorRegistry(), config, version="1.2.3")


def result(check="api", ok=True, duration_ms=30.0, **kw) -> Result:
    return Result(check=check, type=kw.pop("type", "http"), location="eu-west",
                  target=kw.pop("target", f"https://{check}.example.com/health"), started_at=STARTED,
                  duration_ms=duration_ms, ok=ok, **kw)


def samples(metrics: Metrics) -> dict[tuple, float]:
    """{(sample name, ((label, value), ...) sorted): value}"""
    text = metrics.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def values(metrics: Metrics, name: str, **match) -> dict[tuple, float]:
    """Samples of `name` whose labels include `match`, keyed by their labels."""
    return {labels: v for (n, labels), v in samples(metrics).items()
            if n == name and set(match.items()) <= set(labels)}


def only(metrics: Metrics, name: str, **match) -> float:
    [value] = values(metrics, name, **match).values()
    return value



def step_durations(metrics) -> dict[str, float]:
    return {dict(labels)["step"]: v for labels, v in values(metrics, "synthetic_journey_step_duration_seconds").items()}

def test_a_passing_http_run_sets_the_blackbox_style_gauges(metrics, config):
    run = result(status_code=200, phases={"connect": 0.001, "tls": 0.004, "processing": 0.02, "transfer": 0.002},
                 cert_expires_at=1_800_000_000.0)
    metrics.on_result(config.check("api"), run)
    probe = {"check": "api", "type": "http", "location": "eu-west", "target": "https://api.example.com/health"}
    assert values(metrics, "probe_success") == {tuple(sorted(probe.items())): 1.0}
    assert only(metrics, "probe_duration_seconds", check="api") == 0.03
    assert only(metrics, "probe_http_status_code", check="api") == 200
    assert only(metrics, "probe_ssl_earliest_cert_expiry", check="api") == 1_800_000_000.0
    phases = {dict(labels)["phase"]: v for labels, v in values(metrics, "probe_http_duration_seconds").items()}
    assert phases == {"connect": 0.001, "tls": 0.004, "processing": 0.02, "transfer": 0.002}
    assert only(metrics, "synthetic_check_last_run_timestamp_seconds", check="api") == STARTED.timestamp()
    assert only(metrics, "synthetic_check_runs_total", check="api", result="success") == 1
    assert only(metrics, "synthetic_check_runs_total", check="api", result="failure") == 0
    # No `instance` label: Prometheus owns it.
    assert not any("instance" in dict(labels) for (_, labels) in samples(metrics))


def test_failures_count_up_in_a_row_and_reset_on_a_pass(metrics, config):
    check = config.check("api")
    seen = []
    for ok in (False, False, False, True, False):
        metrics.on_result(check, result(ok=ok, status_code=500 if not ok else 200))
        seen.append((only(metrics, "probe_success", check="api"),
                     only(metrics, "synthetic_check_consecutive_failures", check="api")))
    assert seen == [(0, 1), (0, 2), (0, 3), (1, 0), (0, 1)]
    assert only(metrics, "synthetic_check_runs_total", check="api", result="failure") == 4


def test_no_response_reports_status_code_0_and_no_phases(metrics, config):
    metrics.on_result(config.check("api"), result(ok=False, failure="connection refused"))
    assert only(metrics, "probe_http_status_code", check="api") == 0
    assert values(metrics, "probe_http_duration_seconds") == {}
    assert values(metrics, "probe_ssl_earliest_cert_expiry") == {}


@pytest.mark.parametrize("seconds, bucket", [
    (0.004, 0.01), (0.05, 0.05), (0.051, 0.1), (0.3, 0.5), (19.0, 20.0), (20.0, 20.0), (45.0, 60.0), (90.0, None),
])
def test_the_duration_histogram_fits_fast_apis_and_slow_journeys(metrics, config, seconds, bucket):
    metrics.on_result(config.check("api"), result(duration_ms=seconds * 1000))
    buckets = {dict(labels)["le"]: v for labels, v in
               values(metrics, "synthetic_check_duration_seconds_bucket", check="api").items()}
    expected = {str(b): 1.0 if bucket is not None and b >= bucket else 0.0 for b in DURATION_BUCKETS}
    assert buckets == {**expected, "+Inf": 1.0}
    assert only(metrics, "synthetic_check_duration_seconds_sum", check="api") == pytest.approx(seconds)
    assert only(metrics, "synthetic_check_duration_seconds_count", check="api") == 1


def test_journey_steps_are_gauges_of_the_latest_run(metrics, config):
    check = config.check("threads")
    steps = [StepResult("open the page", True, 800.0), StepResult("click New chat", False, 3000.0, "timeout")]
    metrics.on_result(check, result("threads", ok=False, type="browser", steps=steps))
    assert step_durations(metrics) == {"open the page": 0.8, "click New chat": 3.0}
    # A journey without a status code has no probe_http_status_code.
    assert values(metrics, "probe_http_status_code") == {}
    metrics.on_result(check, result("threads", type="browser", steps=[
        StepResult("open the page", True, 700.0), StepResult("open the page", True, 1.0)]))
    assert step_durations(metrics) == {"open the page": 0.7}


def test_a_new_target_replaces_the_old_series(metrics, config):
    metrics.on_result(config.check("api"), result(target="https://old.example.com/"))
    metrics.on_result(config.check("api"), result(target="https://new.example.com/"))
    assert [dict(labels)["target"] for labels in values(metrics, "probe_success")] == ["https://new.example.com/"]
    assert only(metrics, "synthetic_check_runs_total", check="api", result="success") == 2


def test_labels_hold_no_error_text_or_run_ids_and_odd_targets_are_escaped(metrics, config):
    evil = 'https://x.example.com/a"b\\c\nd'
    metrics.on_result(config.check("api"), result(
        ok=False, target=evil, status_code=500, run_id=987654,
        failure='expected status 200, got 500', error_text='<script>"boom"</script>\nno such table: threads'))
    label_values = {v for (_, labels) in samples(metrics) for _, v in labels}
    assert evil in label_values  # round-trips through escaping
    text = metrics.exposition().decode()
    assert "987654" not in text and "boom" not in text and "no such table" not in text and "expected" not in text


def test_reload_drops_removed_checks_and_starts_new_ones_at_zero(metrics, config):
    metrics.on_result(config.check("api"), result())
    metrics.on_result(config.check("threads"), result("threads"))
    metrics.incident_state("threads", True, 3)
    reloaded = parse_config(CONFIG.replace('name = "threads"', 'name = "signup"'))
    metrics.on_reload(reloaded)
    assert {dict(labels)["check"] for (n, labels) in samples(metrics) if "check" in dict(labels)} == {"api", "signup"}
    assert values(metrics, "synthetic_incident_open") == {
        (("check", "api"),): 0.0, (("check", "signup"),): 0.0}
    # A run of the removed check that was still in flight brings nothing back.
    metrics.on_result(config.check("threads"), result("threads"))
    assert not values(metrics, "probe_success", check="threads")


def test_incident_state_sets_open_and_failures_for_configured_checks_only(metrics, config):
    metrics.on_result(config.check("api"), result(ok=False))
    metrics.incident_state("api", True, 5)
    metrics.incident_state("not-a-check", True, 1)
    assert values(metrics, "synthetic_incident_open") == {(("check", "api"),): 1.0, (("check", "threads"),): 0.0}
    assert only(metrics, "synthetic_check_consecutive_failures", check="api") == 5


def test_the_monitors_own_metrics(metrics):
    metrics.scheduler_lag(0.2)
    metrics.scheduler_lag(-1)  # a clock step back is no lag
    metrics.store_error(OSError("disk full"))
    metrics.alert_sent("slack", "firing")
    metrics.alert_sent("slack", "something new")
    metrics.alert_delivery_failed("slack", "rate_limited")
    metrics.alert_delivery_failed("slack", "HTTP 418 from https://evil/")  # never free text in a label
    metrics.outbox_pending(4)
    metrics.browser_restarted()
    assert only(metrics, "synthetic_scheduler_lag_seconds_count") == 2
    assert only(metrics, "synthetic_scheduler_lag_seconds_bucket", le="0.25") == 2
    assert only(metrics, "synthetic_store_errors_total") == 1
    assert only(metrics, "synthetic_alerts_sent_total", channel="slack", kind="firing") == 1
    assert only(metrics, "synthetic_alerts_sent_total", channel="slack", kind="other") == 1
    assert only(metrics, "synthetic_alert_delivery_failures_total", channel="slack", reason="rate_limited") == 1
    assert only(metrics, "synthetic_alert_delivery_failures_total", channel="slack", reason="other") == 1
    assert only(metrics, "synthetic_alert_outbox_pending") == 4
    assert only(metrics, "synthetic_browser_restarts_total") == 1
    assert values(metrics, "synthetic_monitor_info") == {(("location", "eu-west"), ("version", "1.2.3")): 1.0}


def test_alert_counters_of_configured_channels_exist_before_the_first_alert(metrics):
    sent = {(dict(labels)["channel"], dict(labels)["kind"])
            for labels in values(metrics, "synthetic_alerts_sent_total")}
    assert sent == {(c, k) for c in ("console", "slack") for k in ("firing", "changed", "reminder", "resolved", "test")}
    assert set(values(metrics, "synthetic_alert_delivery_failures_total").values()) == {0.0}


def test_each_metrics_has_its_own_registry(config):
    first, second = Metrics(CollectorRegistry(), config), Metrics(CollectorRegistry(), config)
    first.store_error(OSError())
    assert only(first, "synthetic_store_errors_total") == 1 and only(second, "synthetic_store_errors_total") == 0
    assert REGISTRY.get_sample_value("synthetic_store_errors_total") is None


@pytest.mark.slow
def test_promtool_finds_nothing_to_complain_about(metrics, config):
    metrics.on_result(config.check("api"), result(status_code=200, phases={"connect": 0.01},
                                                  cert_expires_at=1.9e9, target='https://x/"q"'))
    metrics.on_result(config.check("threads"), result("threads", ok=False, type="browser",
                                                      steps=[StepResult("load", False, 10.0)]))
    metrics.incident_state("threads", True, 1)
    checked = subprocess.run(["promtool", "check", "metrics"], input=metrics.exposition(), capture_output=True)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, b"", b"")


def test_secrets_in_the_target_url_never_reach_a_label():
    config = parse_config('[[checks]]\nname = "api"\nurl = "https://x.example.com/v1?key=${SHOP_TOKEN}"\n',
                          env={"SHOP_TOKEN": "tok-1234567890"})
    metrics = Metrics(CollectorRegistry(), config)
    # As the runner reports a probe that crashed: the configured URL, as is.
    metrics.on_result(config.check("api"), result(ok=False, target=config.check("api").target))
    assert "tok-1234567890" not in metrics.exposition().decode()
    assert [dict(labels)["target"] for labels in values(metrics, "probe_success")] == [
        "https://x.example.com/v1?key=[REDACTED]"]


def test_a_checks_own_labels_are_one_info_series_not_on_every_sample():
    config = parse_config('[[checks]]\nname = "api"\nurl = "http://x/api"\n'
                          'labels = { team = "chat", severity = "page \\"now\\"" }\n'
                          '[[checks]]\nname = "web"\nurl = "http://x/web"\n')
    metrics = Metrics(CollectorRegistry(), config)
    metrics.on_result(config.check("api"), result(target="http://x/api"))
    assert values(metrics, "synthetic_check_labels") == {
        (("check", "api"), ("severity", 'page "now"'), ("team", "chat")): 1.0, (("check", "web"),): 1.0}
    assert all("team" not in dict(labels) for labels in values(metrics, "probe_success"))
    relabeled = parse_config('[[checks]]\nname = "api"\nurl = "http://x/api"\nlabels = { team = "payments" }\n')
    metrics.on_reload(relabeled)
    assert values(metrics, "synthetic_check_labels") == {(("check", "api"), ("team", "payments")): 1.0}
