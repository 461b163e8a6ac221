"""A real Prometheus scrapes a real `monitor run` watching the broken demo app.

One stack per module (it takes ~10 s to gather enough samples for rate()),
and the tests run in file order: the first ones look at the broken demo, then
the demo is migrated, then the monitor is stopped to trip the dead man's switch.

Every PromQL expression of the shipped dashboard and every alert rule is
evaluated through Prometheus's HTTP API. The monitor runs the demo's
"New chat" journey in real Chromium too, so the journey step panels have
real series, a DNS check against dnsmasq and a gRPC health check, so the
DNS and gRPC panels have theirs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from demo.app import start_server
from tests.certs import server_context
from tests.dnsmasq import Dnsmasq
from tests.grpc_health_server import HealthServer
from tests.prometheus import PrometheusServer
from tests.servers import TargetServer, closed_port, respond

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "dashboards" / "synthetic-monitor.json"
RULES = ROOT / "dashboards" / "prometheus-rules.yml"

# What Grafana would put in place of its variables, for a dashboard showing everything.
GRAFANA_VARIABLES = {
    "__rate_interval": "1m", "__interval": "15s", "__range": "5m",
    "check": ".*", "location": ".*", "job": "synthetic-monitor",
}


def substitute(expr: str) -> str:
    """`expr` with Grafana's `$name` variables replaced; fails on an unknown one."""
    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        assert name in GRAFANA_VARIABLES, f"unknown dashboard variable ${name} in {expr}"
        return GRAFANA_VARIABLES[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found.append((f"variable {variable['name']}", variable["query"]))
    return found


def evaluate(prometheus: PrometheusServer, expr: str) -> list:
    """Run a dashboard expression; Grafana's label_values(selector, label) becomes a label-values call."""
    expr = substitute(expr)
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", expr)
    if match:
        return prometheus.api(f"label/{match.group(2)}/values", **{"match[]": match.group(1)})
    return prometheus.query(expr)


def watched_series(expr: str) -> str:
    """What an alert expression watches: absent(X) -> X, `X > 3` -> X, `X < on (l) Y` -> X, else the expression."""
    absent = re.fullmatch(r"absent\((.+)\)", expr.strip())
    if absent:
        return absent.group(1)
    compared = re.fullmatch(r"(.+?)\s*(==|!=|>=|<=|>|<)\s*([\d.\s*+e-]+|on\s*\(.+)", expr.strip(), re.S)
    return compared.group(1) if compared else expr


def write_config(folder: Path, demo_url: str, tls_url: str, port: int, dns_server: str, grpc_target: str) -> Path:
    path = folder / "monitor.toml"
    checks = [("threads-api", f"{demo_url}/api/threads"), ("health", f"{demo_url}/api/health"),
              ("certificate", f"{tls_url}/")]
    path.write_text(f'[monitor]\ndatabase = "monitor.db"\nlisten = "127.0.0.1:{port}"\nlocation = "ci"\n' + "".join(
        f'[[checks]]\nname = "{name}"\nurl = "{url}"\ninterval = "1s"\ntimeout = "2s"\n' for name, url in checks)
        + f'''
[[checks]]
name = "certificate-tls"
type = "tls"
target = "{tls_url.removeprefix("https://")}"
interval = "1s"
timeout = "2s"

[[checks]]
name = "zone-dns"
type = "dns"
query_name = "example"
record = "SOA"
server = "{dns_server}"
interval = "1s"
timeout = "2s"

[[checks]]
name = "health-tcp"
type = "tcp"
target = "{demo_url.removeprefix("http://")}"
send = "HEAD /api/health HTTP/1.0\\r\\n\\r\\n"
expect = "^HTTP/1"
interval = "1s"
timeout = "2s"

[[checks]]
name = "search-grpc"
type = "grpc"
target = "{grpc_target}"
interval = "1s"
timeout = "2s"

[[checks]]
name = "new-chat"
type = "browser"
url = "{demo_url}/"
interval = "2s"
timeout = "15s"
steps = [
  {{ name = "open New chat", click = "role=button[name='New chat']" }},
  {{ expect_visible = "li.thread", timeout = "3s" }},
]
''')
    return path


class Stack:
    def __init__(self, folder: Path):
        self.folder = folder
        self.exit = contextlib.ExitStack()
        self.demo, self.demo_url = start_server(db_path=folder / "demo.db", broken=True)
        self.exit.callback(self.demo.shutdown)
        tls = TargetServer({"/": respond(200, "ok")}, tls=server_context(folder, with_ca=True, valid_days=10))
        self.exit.enter_context(tls)
        dns_server = self.exit.enter_context(Dnsmasq(folder))
        grpc_server = self.exit.enter_context(HealthServer())
        self.monitor_url = f"http://127.0.0.1:{closed_port()}"
        config = write_config(folder, self.demo_url, tls.url, int(self.monitor_url.rsplit(":", 1)[1]),
                              dns_server.address, grpc_server.target)
        self.monitor_log = (folder / "monitor.log").open("w")
        self.exit.callback(self.monitor_log.close)
        self.monitor = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config)], cwd=folder,
            env={**os.environ, "PYTHONPATH": str(ROOT), "SSL_CERT_FILE": str(folder / "ca.pem")},
            stdout=self.monitor_log, stderr=subprocess.STDOUT)
        self.exit.callback(self.stop_monitor)
        self.prometheus = self.exit.enter_context(PrometheusServer(folder, {
            "synthetic-monitor": [self.monitor_url.removeprefix("http://")],
        }, [RULES]))

    def stop_monitor(self) -> int:
        if self.monitor.poll() is None:
            self.monitor.send_signal(signal.SIGTERM)
            try:
                self.monitor.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.monitor.kill()
                self.monitor.wait()
        return self.monitor.returncode

    def monitor_logs(self) -> str:
        self.monitor_log.flush()
        return (self.folder / "monitor.log").read_text()[-3000:]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("prometheus"))
    with stack.exit:
        prometheus = stack.prometheus
        # rate() and increase() need a few samples: wait for 4 scrapes of every check.
        prometheus.wait_for(
            lambda: stack.monitor.poll() is None and prometheus.values(
                'count_over_time(probe_success{job="synthetic-monitor"}[1m]) >= 4').keys()
            >= {"threads-api", "health", "certificate", "new-chat", "certificate-tls", "health-tcp", "zone-dns",
                "search-grpc"},
            "four scrapes of every check", timeout=60)
        yield stack


def promtool_check_metrics(exposition: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True, timeout=30)


def test_metrics_pass_promtool_check_metrics(stack):
    exposition = httpx.get(f"{stack.monitor_url}/metrics").content
    assert b'synthetic_journey_step_duration_seconds{check="new-chat",step="open New chat"}' in exposition
    checked = promtool_check_metrics(exposition)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, b"", b"")


def test_the_broken_demo_shows_failing_threads_and_a_passing_health_check(stack):
    # The misleading health endpoint made visible; the journey fails at the silent "New chat".
    assert stack.prometheus.values('probe_success{job="synthetic-monitor"}') == {
        "threads-api": 0.0, "health": 1.0, "certificate": 1.0, "new-chat": 0.0, "certificate-tls": 1.0,
        "health-tcp": 1.0, "zone-dns": 1.0, "search-grpc": 1.0}
    assert stack.prometheus.values('probe_http_status_code{check="threads-api"}') == {"threads-api": 500.0}
    assert httpx.get(f"{stack.monitor_url}/healthz").status_code == 200


def test_every_dashboard_query_parses_and_returns_data(stack):
    queries = dashboard_queries()
    assert len(queries) >= 25
    failures = []
    for where, expr in queries:
        try:
            if not evaluate(stack.prometheus, expr):
                failures.append(f"{where}: no data for {substitute(expr)}")
        except Exception as exc:
            failures.append(f"{where}: {exc} in {substitute(expr)}")
    assert not failures, "\n".join(failures)


def loaded_rules(prometheus: PrometheusServer) -> dict[str, dict]:
    groups = prometheus.api("rules")["groups"]
    return {rule["name"]: rule for group in groups for rule in group["rules"]}


def test_every_alert_rule_loads_evaluates_and_watches_real_series(stack):
    prometheus = stack.prometheus
    rules = prometheus.wait_for(
        lambda: (r := loaded_rules(prometheus)) and all(rule["health"] != "unknown" for rule in r.values()) and r,
        "every rule evaluated once")
    assert set(rules) == set(re.findall(r"- alert: (\w+)", RULES.read_text()))  # every rule loaded
    firing_now = set()
    for name, rule in rules.items():
        assert rule["health"] == "ok", (name, rule.get("lastError"))
        if prometheus.query(rule["query"]):
            firing_now.add(name)
        assert prometheus.query(watched_series(rule["query"])), f"{name} watches no series: {rule['query']}"
    assert firing_now == {"SyntheticCheckFailing", "SyntheticCertificateExpiringSoon", "SyntheticMonitorWatchdog"}
    assert prometheus.values(rules["SyntheticCheckFailing"]["query"]).keys() == {"threads-api", "new-chat"}
    pending = prometheus.wait_for(
        lambda: len(found := [a for a in prometheus.api("alerts")["alerts"]
                              if a["labels"]["alertname"] == "SyntheticCheckFailing"]) == 2 and found,
        "SyntheticCheckFailing to be pending for both failing checks")
    assert sorted((a["labels"]["check"], a["state"]) for a in pending) == [
        ("new-chat", "pending"), ("threads-api", "pending")]


def test_after_migrate_both_checks_pass(stack):
    assert httpx.post(f"{stack.demo_url}/admin/migrate").status_code == 200
    stack.prometheus.wait_for(
        lambda: stack.prometheus.values('probe_success{check=~"threads-api|health|new-chat"}') == {
            "threads-api": 1.0, "health": 1.0, "new-chat": 1.0},
        "probe_success 1 for threads-api, health and new-chat after migrate")
    assert not stack.prometheus.query(loaded_rules(stack.prometheus)["SyntheticCheckFailing"]["query"])


def test_a_stopped_monitor_trips_the_dead_mans_switch(stack):
    rules = loaded_rules(stack.prometheus)
    assert not stack.prometheus.query(rules["SyntheticMonitorDown"]["query"])
    assert stack.stop_monitor() == 0, stack.monitor_logs()
    for name in ("SyntheticMonitorDown", "SyntheticMonitorMetricsAbsent"):
        stack.prometheus.wait_for(lambda name=name: stack.prometheus.query(rules[name]["query"]), f"{name} to fire")
