"""The shipped Grafana dashboard, provisioning files and alert rules, checked as files.

Whether their PromQL works against real data is tests/test_prometheus.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from monitor.app.config import parse_config
from monitor.app.metrics import CHECK_FAMILIES, Metrics

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads((DASHBOARDS / "synthetic-monitor.json").read_text())


def panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def exported_metric_names() -> set[str]:
    """Every metric family name /metrics can show."""
    metrics = Metrics(CollectorRegistry(), parse_config('[alerts.console]\nenabled = true\n'))
    names = {f.name for f in CHECK_FAMILIES}
    names |= {m.name + ("_total" if m.type == "counter" else "") for m in metrics.registry.collect()}
    return names


def test_the_dashboard_asks_for_a_prometheus_data_source_on_import(dashboard):
    assert dashboard["__inputs"] == [{
        "name": "DS_PROMETHEUS", "label": "Prometheus", "description": "Prometheus that scrapes synthetic-monitor",
        "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}]
    for panel in panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    # No data source is named any other way (a uid from someone's Grafana would break the import).
    uids = set(re.findall(r'"uid": "([^"]*)"', json.dumps(dashboard)))
    assert uids == {"${DS_PROMETHEUS}", "synthetic-monitor"}


def test_the_dashboard_has_check_and_location_variables(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    # A data source variable of the same name makes ${DS_PROMETHEUS} work when provisioned from a file too.
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for name in ("check", "location"):
        assert variables[name]["type"] == "query"
        assert variables[name]["includeAll"] and variables[name]["multi"] and variables[name]["allValue"] == ".*"
    exprs = " ".join(t["expr"] for p in panels(dashboard) for t in p["targets"])
    assert exprs.count('check=~"$check"') >= 10 and exprs.count('location=~"$location"') >= 10


def test_the_dashboard_has_the_panels_the_issue_asks_for(dashboard):
    titles = [p["title"] for p in panels(dashboard)]
    for wanted in ("Status of every check", "Success ratio", "Duration percentiles per check",
                   "Journey step durations", "HTTP phases", "Open incidents", "Alerts sent",
                   "Alert delivery failures", "Scheduler lag and admission wait", "Monitor up"):
        assert wanted in titles


def test_the_dashboard_layout_is_valid(dashboard):
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_every_exported_metric_is_on_the_dashboard_or_in_the_rules(dashboard):
    text = json.dumps(dashboard) + (DASHBOARDS / "prometheus-rules.yml").read_text()
    missing = [name for name in sorted(exported_metric_names()) if name not in text]
    assert not missing


def test_every_exported_metric_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Metrics, health and dashboards", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in sorted(exported_metric_names()) if f"`{name}" not in section]
    assert not missing


def test_provisioning_files_load_the_dashboard_from_a_folder_and_a_prometheus_data_source():
    sources = yaml.safe_load((DASHBOARDS / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert sources["apiVersion"] == 1
    assert [(s["type"], s["access"]) for s in sources["datasources"]] == [("prometheus", "proxy")]
    providers = yaml.safe_load((DASHBOARDS / "provisioning" / "dashboards" / "synthetic-monitor.yml").read_text())
    assert providers["apiVersion"] == 1
    [provider] = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=DASHBOARDS, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_promtool_check_rules_passes():
    checked = promtool("check", "rules", "prometheus-rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 10 rules found" in checked.stdout


@pytest.mark.slow
def test_promtool_unit_tests_of_the_rules_pass():
    tested = promtool("test", "rules", "prometheus-rules.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.slow
def test_the_example_prometheus_config_is_valid():
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
