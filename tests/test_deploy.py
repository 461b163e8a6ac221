"""deploy/: the compose example, its Prometheus and Grafana files, the Dockerfile and the systemd unit, as files.

No Docker engine runs in CI, so nothing here builds an image or starts a
container: the files are parsed, cross-checked against each other (mounted
paths exist, the scrape target is the monitor's service and port, the rule
file sits where Prometheus looks), `promtool check config` reads the
Prometheus config with the shipped rules, and the monitor's config loads.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.app.config import load_config
from monitor.core.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def mounts(service: dict) -> dict[str, Path]:
    """Container path -> host path of each bind mount (named volumes left out)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            found[target] = (DEPLOY / source).resolve()
    return found


def test_compose_wires_monitor_prometheus_and_grafana_from_files_that_exist(compose):
    services = compose["services"]
    assert set(services) == {"monitor", "prometheus", "grafana"}
    for name, service in services.items():
        for source in mounts(service).values():
            assert source.is_file(), f"{name} mounts {source}, which does not exist"
        # Published on loopback only: a TLS proxy goes in front.
        assert all(port.startswith("127.0.0.1:") for port in service.get("ports", [])), name
    assert set(compose["volumes"]) == {"monitor-data", "prometheus-data", "grafana-data"}
    assert "monitor-data:/data" in services["monitor"]["volumes"]
    grafana = mounts(services["grafana"])
    dashboard_folder = yaml.safe_load(
        grafana["/etc/grafana/provisioning/dashboards/synthetic-monitor.yml"].read_text()
    )["providers"][0]["options"]["path"]
    assert grafana[f"{dashboard_folder}/synthetic-monitor.json"] == ROOT / "dashboards" / "synthetic-monitor.json"
    datasource = yaml.safe_load(grafana["/etc/grafana/provisioning/datasources/prometheus.yml"].read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


@pytest.mark.slow
def test_prometheus_scrapes_the_monitor_service_and_loads_the_shipped_rules(compose, tmp_path):
    services = compose["services"]
    prometheus_mounts = mounts(services["prometheus"])
    config = yaml.safe_load(prometheus_mounts["/etc/prometheus/prometheus.yml"].read_text())
    [job] = config["scrape_configs"]
    assert job["job_name"] == "synthetic-monitor"  # what the rules' selectors name
    assert job["static_configs"][0]["targets"] == ["monitor:9108"]
    assert "127.0.0.1:9108:9108" in services["monitor"]["ports"]
    for rules in config["rule_files"]:
        assert f"/etc/prometheus/{rules}" in prometheus_mounts
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/setup --test installs it)")
    # Lay the files out as the container sees them, then let promtool read config and rules.
    for target, source in prometheus_mounts.items():
        shutil.copy(source, tmp_path / Path(target).name)
    done = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_the_compose_monitor_config_loads_and_needs_its_token(compose):
    env = {"MONITOR_DATA_DIR": "/data", "TARGET_URL": "https://chat.example.com", "MONITOR_AUTH_TOKEN": "t" * 32}
    path = DEPLOY / "monitor.toml"
    config = load_config(path, env=env)
    assert config.monitor.listen == "0.0.0.0:9108" and config.monitor.auth_token == "t" * 32
    assert str(config.monitor.database) == "/data/monitor.db"
    assert config.checks[0].target == "https://chat.example.com/api/health"
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={k: v for k, v in env.items() if k != "MONITOR_AUTH_TOKEN"})
    assert "MONITOR_AUTH_TOKEN" in str(refused.value)
    # The compose file passes every variable the config reads.
    assert set(env) <= set(compose["services"]["monitor"]["environment"])


def test_the_dockerfile_runs_as_a_user_with_a_data_volume_and_a_healthcheck():
    # Not built here (no Docker engine in CI); its instructions are checked as text.
    text = (ROOT / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines() if line and not line[0].isspace()
                    and not line.startswith("#")]
    users = [rest for word, *rest in instructions if word == "USER"]
    assert users and users[-1] != ["root"]
    assert any(word == "VOLUME" and "/data" in rest[0] for word, *rest in instructions)
    assert "HEALTHCHECK" in text and "/healthz" in text
    unit = (DEPLOY / "synthetic-monitor.service").read_text()
    assert "DynamicUser=" in unit or "User=" in unit


def test_the_systemd_unit_signals_the_monitor_alone_so_it_stops_its_browser_itself():
    """The default KillMode (control-group) would SIGTERM Chromium under the journeys the monitor finishes."""
    unit = (ROOT / "deploy" / "synthetic-monitor.service").read_text().splitlines()
    assert "KillMode=mixed" in unit
    assert any(line.startswith("TimeoutStopSec=") for line in unit)
