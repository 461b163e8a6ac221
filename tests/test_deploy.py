"""deploy/: the compose files, their Prometheus, Alertmanager and Grafana files, the Kubernetes manifests, the
Dockerfile and the systemd unit, as files.

No Docker engine runs in CI, so nothing here builds an image or starts a
container (scripts/prove-image does, by hand): the files are parsed,
cross-checked against each other (mounted paths exist, the scrape targets
are the monitors' services and port, the rule file sits where Prometheus
looks, Alertmanager peers name each other), `promtool` and `amtool` read
the Prometheus and Alertmanager configs, every monitor's config loads, and
the Kubernetes manifests pass Kubernetes' own JSON schemas.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
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
    # Non-root Chromium needs a user namespace for its sandbox, which Docker's default seccomp profile refuses.
    assert {"no-new-privileges:true", "seccomp=unconfined"} <= set(services["monitor"]["security_opt"])
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
    # The public base by default; scripts/prove-image passes a debootstrapped one instead.
    assert ["ARG", "BASE=python:3.12-slim-bookworm"] in instructions and ["FROM", "${BASE}"] in instructions
    # Playwright's Node.js driver dies at start without libatomic1, which slim images lack (the proof found it).
    assert "libatomic1" in text and "chromium" in text
    unit = (DEPLOY / "synthetic-monitor.service").read_text()
    assert "DynamicUser=" in unit or "User=" in unit


def test_the_systemd_unit_signals_the_monitor_alone_so_it_stops_its_browser_itself():
    """The default KillMode (control-group) would SIGTERM Chromium under the journeys the monitor finishes."""
    unit = (ROOT / "deploy" / "synthetic-monitor.service").read_text().splitlines()
    assert "KillMode=mixed" in unit
    assert any(line.startswith("TimeoutStopSec=") for line in unit)


# deploy/compose-scale-out.yml: two locations, an HA pair, a 2-peer Alertmanager cluster, Prometheus, Grafana.

@pytest.fixture(scope="module")
def scale_out() -> dict:
    return yaml.safe_load((DEPLOY / "compose-scale-out.yml").read_text())


def monitor_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("image") == "synthetic-monitor:latest"}


def flag(service: dict, name: str) -> list[str]:
    """The values of `--name=value` in a service's command."""
    return [arg.split("=", 1)[1] for arg in service.get("command", []) if arg.startswith(f"--{name}=")]


def lay_out(mounted: dict[str, Path], folder: Path, under: str) -> None:
    """Copy the files mounted under the container folder `under` into `folder`, as the container sees them."""
    for target, source in mounted.items():
        if target.startswith(under + "/"):
            shutil.copy(source, folder / Path(target).name)


def test_scale_out_wires_two_locations_an_ha_pair_and_two_alertmanagers_from_files_that_exist(scale_out):
    services = scale_out["services"]
    monitors = monitor_services(scale_out)
    assert set(monitors) == {"monitor-eu-1", "monitor-eu-2", "monitor-us"}
    assert set(services) == {*monitors, "alertmanager-1", "alertmanager-2", "prometheus", "grafana"}
    for name, service in services.items():
        for source in mounts(service).values():
            assert source.is_file(), f"{name} mounts {source}, which does not exist"
        assert all(port.startswith("127.0.0.1:") for port in service.get("ports", [])), name
    host_ports = [port.rsplit(":", 1)[0] for s in services.values() for port in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports)), "two services publish the same host port"
    # Every monitor reads the same config; the locations are eu (twice: the HA pair) and us.
    locations = sorted(m["environment"]["MONITOR_LOCATION"] for m in monitors.values())
    assert locations == ["eu", "eu", "us"]
    for name, monitor in monitors.items():
        assert mounts(monitor)["/etc/synthetic-monitor/monitor.toml"] == DEPLOY / "monitor-scale-out.toml", name
        assert monitor["environment"]["MONITOR_CONFIG"] == "/etc/synthetic-monitor/monitor.toml"
        assert {"no-new-privileges:true", "seccomp=unconfined"} <= set(monitor["security_opt"]), name
    # Each monitor has a database of its own: a SQLite file is never shared between monitors.
    data = [v.split(":")[0] for m in monitors.values() for v in m["volumes"] if v.endswith(":/data")]
    assert len(data) == 3 and len(set(data)) == 3 and set(data) <= set(scale_out["volumes"])
    grafana = mounts(services["grafana"])
    assert grafana == mounts(yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["grafana"])


def test_scale_out_alertmanager_peers_name_each_other_and_read_the_webhook_secret(scale_out):
    services = scale_out["services"]
    peers = {name: services[name] for name in ("alertmanager-1", "alertmanager-2")}
    config = yaml.safe_load((ROOT / "dashboards" / "alertmanager.yml").read_text())
    for name, peer in peers.items():
        assert mounts(peer)["/etc/alertmanager/alertmanager.yml"] == ROOT / "dashboards" / "alertmanager.yml"
        assert flag(peer, "config.file") == ["/etc/alertmanager/alertmanager.yml"]
        # The template sits where the config's `templates` look for it.
        for template in config["templates"]:
            assert template in mounts(peer), f"{name} does not mount {template}"
        [listen] = flag(peer, "cluster.listen-address")
        [other] = set(peers) - {name}
        assert flag(peer, "cluster.peer") == [f"{other}:{listen.rsplit(':', 1)[1]}"], name
        [secret] = peer["secrets"]
        assert secret["target"] == config["global"]["slack_api_url_file"]
        assert secret["source"] in scale_out["secrets"]
        assert any(v.endswith(":/alertmanager") for v in peer["volumes"]) and flag(peer, "storage.path") == [
            "/alertmanager"]


def test_scale_out_monitor_configs_load_with_their_location_and_push_to_every_peer(scale_out, tmp_path):
    peers = {f"http://{name}:9093" for name in ("alertmanager-1", "alertmanager-2")}
    stand_ins = {"TARGET_URL": "https://chat.example.com", "MONITOR_AUTH_TOKEN": "t" * 32}
    for name, monitor in monitor_services(scale_out).items():
        # The compose file's environment, its ${VAR:?...} values as the user would set them.
        env = {key: stand_ins.get(key, value) for key, value in monitor["environment"].items()}
        assert set(stand_ins) <= set(env), name
        config = load_config(mounts(monitor)["/etc/synthetic-monitor/monitor.toml"], env=env)
        assert config.monitor.location == monitor["environment"]["MONITOR_LOCATION"], name
        assert config.monitor.listen == "0.0.0.0:9108" and str(config.monitor.database) == "/data/monitor.db"
        assert set(config.alerts.destinations["alertmanager"].settings.urls) == peers, name
    # The scale-out keys the file shows commented out load too, once uncommented.
    text = (DEPLOY / "monitor-scale-out.toml").read_text()
    for key in ("workers", "min_failing_locations"):
        assert f"\n# {key} = " in text, key
        text = text.replace(f"\n# {key} = ", f"\n{key} = ")
    (tmp_path / "monitor.toml").write_text(text)
    config = load_config(tmp_path / "monitor.toml", env={**env, "MONITOR_LOCATION": "eu"})
    assert config.monitor.workers >= 1 and config.alerts.defaults.min_failing_locations == 2
    # A monitor started without its location is refused, not run as "local".
    with pytest.raises(ConfigError) as refused:
        load_config(DEPLOY / "monitor-scale-out.toml", env={"MONITOR_DATA_DIR": "/data", **stand_ins})
    assert "MONITOR_LOCATION" in str(refused.value)


@pytest.mark.slow
def test_scale_out_prometheus_scrapes_every_monitor_alerts_both_peers_and_promtool_agrees(scale_out, tmp_path):
    services = scale_out["services"]
    prometheus_mounts = mounts(services["prometheus"])
    config = yaml.safe_load(prometheus_mounts["/etc/prometheus/prometheus.yml"].read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {t for c in jobs["synthetic-monitor"]["static_configs"] for t in c["targets"]}
    assert targets == {f"{name}:9108" for name in monitor_services(scale_out)}
    [alerting] = config["alerting"]["alertmanagers"]
    assert {t for c in alerting["static_configs"] for t in c["targets"]} == {"alertmanager-1:9093",
                                                                                "alertmanager-2:9093"}
    assert prometheus_mounts["/etc/prometheus/prometheus-rules.yml"] == ROOT / "dashboards" / "prometheus-rules.yml"
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/setup --test installs it)")
    lay_out(prometheus_mounts, tmp_path, "/etc/prometheus")
    done = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


@pytest.mark.slow
def test_scale_out_alertmanager_config_and_template_pass_amtool(scale_out, tmp_path):
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (scripts/setup --test installs prometheus-alertmanager)")
    peer = scale_out["services"]["alertmanager-1"]
    lay_out(mounts(peer), tmp_path, "/etc/alertmanager")
    # Point the config's absolute paths at the laid-out folder, so amtool reads the real template.
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(config_file.read_text().replace("/etc/alertmanager/", f"{tmp_path}/"))
    (tmp_path / "slack-webhook-url").write_text("https://hooks.slack.com/services/T0/B0/x\n")
    done = subprocess.run([amtool, "check-config", str(config_file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 templates" in done.stdout and "SUCCESS" in done.stdout


# deploy/kubernetes/: a StatefulSet sharded by pod ordinal, its Services and ConfigMap, and, for the Prometheus
# Operator, a ServiceMonitor and a PrometheusRule holding the shipped rules. The built-in kinds are validated
# against Kubernetes' own JSON schemas (kubernetes-validate ships them, for every release it supports).

KUBERNETES = DEPLOY / "kubernetes"
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}  # monitoring.coreos.com: no schema in kubernetes-validate


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    """Kind/name -> document, from every manifest under deploy/kubernetes/."""
    found = {}
    for path in sorted(KUBERNETES.glob("*.yaml")) + sorted((KUBERNETES / "prometheus-operator").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_kubernetes_manifests_pass_the_kubernetes_schemas_strictly(manifests):
    from kubernetes_validate import utils as kubernetes_validate  # a test extra: pyproject.toml

    versions = kubernetes_validate.all_versions()
    assert {kind.split("/")[0] for kind in manifests} == {"ConfigMap", "Service", "StatefulSet", *OPERATOR_KINDS}
    for name, doc in manifests.items():
        if doc["kind"] in OPERATOR_KINDS:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1", name
            continue
        # The oldest and the newest release it knows; strict: an unknown or misspelt field is an error.
        for version in (versions[0], versions[-1]):
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{name} is not a valid {doc['kind']} for Kubernetes {version}: {error.message} "
                            f"at {'.'.join(map(str, error.path))}")


def test_the_statefulset_shards_by_ordinal_and_its_services_monitor_and_config_fit_together(manifests):
    sts = manifests["StatefulSet/synthetic-monitor"]["spec"]
    pod = sts["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["MONITOR_SHARDS"]["value"] == str(sts["replicas"]), "MONITOR_SHARDS must equal replicas"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "--shard" in container["command"][-1] and container["command"][-1].startswith("exec monitor run")
    labels = sts["template"]["metadata"]["labels"]
    assert selects(sts["selector"]["matchLabels"], labels)
    # The governing Service is headless; the metrics Service, which the ServiceMonitor picks alone, reaches
    # every pod on the container's metrics port, and is named as the rules' job.
    headless = manifests[f"Service/{sts['serviceName']}"]["spec"]
    assert headless["clusterIP"] == "None" and selects(headless["selector"], labels)
    services = {name: doc for name, doc in manifests.items() if name.startswith("Service/")}
    monitor_selector = manifests["ServiceMonitor/synthetic-monitor"]["spec"]["selector"]["matchLabels"]
    [scraped] = [name for name, doc in services.items() if selects(monitor_selector, doc["metadata"]["labels"])]
    assert scraped == "Service/synthetic-monitor"  # the job label under the Operator: the rules match it
    metrics = services[scraped]["spec"]
    assert selects(metrics["selector"], labels) and metrics["publishNotReadyAddresses"] is True
    [port] = container["ports"]
    assert [p["targetPort"] for p in metrics["ports"]] == [port["name"]] == ["metrics"]
    [endpoint] = manifests["ServiceMonitor/synthetic-monitor"]["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in metrics["ports"]}
    # Volumes: the ConfigMap where MONITOR_CONFIG points, a claim per pod at MONITOR_DATA_DIR.
    mounts_at = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    [config_volume] = [v for v in pod["volumes"] if v["name"] == mounts_at["/etc/synthetic-monitor"]]
    assert f"ConfigMap/{config_volume['configMap']['name']}" in manifests
    assert env["MONITOR_CONFIG"]["value"] == "/etc/synthetic-monitor/monitor.toml"
    [claim] = sts["volumeClaimTemplates"]
    assert mounts_at[env["MONITOR_DATA_DIR"]["value"]] == claim["metadata"]["name"]
    # Non-root with the image's numeric ids, no privilege escalation, no capabilities.
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["fsGroup"] == 10001
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_the_configmap_config_loads_with_the_statefulsets_environment(manifests, tmp_path):
    [container] = manifests["StatefulSet/synthetic-monitor"]["spec"]["template"]["spec"]["containers"]
    # Values that come from the cluster (the pod's name, the Secret) as the cluster would give them.
    env = {e["name"]: e.get("value", "synthetic-monitor-0" if e["name"] == "POD_NAME" else "t" * 32)
           for e in container["env"]}
    config_file = tmp_path / "monitor.toml"
    config_file.write_text(manifests["ConfigMap/synthetic-monitor-config"]["data"]["monitor.toml"])
    config = load_config(config_file, env=env)
    assert config.monitor.location == env["MONITOR_LOCATION"]
    assert int(config.monitor.listen.rsplit(":", 1)[1]) == container["ports"][0]["containerPort"]
    assert str(config.monitor.database) == "/data/monitor.db" and config.monitor.auth_token == "t" * 32
    assert len(config.alerts.destinations["alertmanager"].settings.urls) >= 2  # every peer, not one
    assert config.checks[0].target == "https://chat.example.com/api/health"


def test_the_prometheusrule_holds_exactly_the_shipped_rules(manifests):
    shipped = yaml.safe_load((ROOT / "dashboards" / "prometheus-rules.yml").read_text())
    assert manifests["PrometheusRule/synthetic-monitor"]["spec"] == shipped, (
        "deploy/kubernetes/prometheus-operator/prometheusrule.yaml differs from dashboards/prometheus-rules.yml: "
        "run scripts/sync-prometheusrule")


@pytest.mark.slow
def test_each_pod_runs_the_shard_of_its_ordinal_and_the_pods_share_every_check_once(manifests, tmp_path):
    # Each pod's own command under /bin/sh, as in the image, with `monitor run` turned into `monitor validate`
    # (same arguments): the real CLI then says which checks that pod's --shard runs.
    sts = manifests["StatefulSet/synthetic-monitor"]
    [container] = sts["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["/bin/sh", "-c"]
    config_file = tmp_path / "monitor.toml"
    config_file.write_text(manifests["ConfigMap/synthetic-monitor-config"]["data"]["monitor.toml"])
    monitor = tmp_path / "bin" / "monitor"
    monitor.parent.mkdir()
    real = Path(sys.executable).parent / "monitor"  # the venv's, beside the Python running the tests
    monitor.write_text(f'#!/bin/sh\n[ "$1" = run ] && shift\nexec {real} validate -c {config_file} "$@"\n')
    monitor.chmod(0o755)
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env.update(PATH=f"{monitor.parent}:/usr/bin:/bin", MONITOR_AUTH_TOKEN="t" * 32, MONITOR_DATA_DIR=str(tmp_path))
    replicas = sts["spec"]["replicas"]
    runs: dict[str, list[str]] = {}
    for ordinal in range(replicas):
        pod = f"{sts['metadata']['name']}-{ordinal}"
        done = subprocess.run(container["command"], capture_output=True, text=True, timeout=60,
                              env={**env, "POD_NAME": pod})
        assert done.returncode == 0, done.stdout + done.stderr
        # "shard 1/3 runs 1 of 1: health"
        [line] = [line for line in done.stdout.splitlines() if line.startswith("shard ")]
        assert line.startswith(f"shard {ordinal + 1}/{replicas} runs "), (pod, line)
        names = line.split(": ", 1)[1]
        runs[pod] = [] if names == "none" else names.split(", ")
    every = [name for names in runs.values() for name in names]
    assert sorted(every) == sorted(check.name for check in load_config(config_file, env=env).checks), runs


@pytest.mark.slow
def test_promtool_checks_the_prometheusrules_rules(manifests, tmp_path):
    # What the Operator hands Prometheus: the spec, as a rule file.
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/setup --test installs it)")
    rules = tmp_path / "synthetic-monitor.yml"
    rules.write_text(yaml.safe_dump(manifests["PrometheusRule/synthetic-monitor"]["spec"]))
    done = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
