"""A real Alertmanager for tests: Debian's `prometheus-alertmanager` on loopback, alone or as one peer of a cluster.

    config = shipped_config(folder, slack.webhook_url)      # dashboards/alertmanager.yml, timings cut to a second
    with AlertmanagerServer(folder, config) as am:
        am.alerts()                                         # GET /api/v2/alerts

`peers` (the cluster addresses of the other members) makes it gossip with
them; without, clustering is off. Peers that must know each other from the
start get their `cluster_address` handed in (`free_address()`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.loopback_binary import LoopbackBinary
from tests.servers import closed_port

DASHBOARDS = Path(__file__).resolve().parent.parent / "dashboards"


def free_address() -> str:
    return f"127.0.0.1:{closed_port()}"


def shipped_config(folder: Path, slack_webhook_url: str, group_wait: str = "1s") -> Path:
    """The shipped config and template, pointed at `folder` and a loopback Slack, grouping in `group_wait`."""
    config = yaml.safe_load((DASHBOARDS / "alertmanager.yml").read_text())
    (folder / "slack-webhook-url").write_text(slack_webhook_url)
    shutil.copy(DASHBOARDS / "alertmanager-slack.tmpl", folder / "alertmanager-slack.tmpl")
    config["global"]["slack_api_url_file"] = str(folder / "slack-webhook-url")
    config["templates"] = [str(folder / "alertmanager-slack.tmpl")]
    config["route"].update(group_wait=group_wait, group_interval="1s", repeat_interval="1h")
    path = folder / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


class AlertmanagerServer(LoopbackBinary):
    def __init__(self, folder: Path, config: Path, peers: list[str] = (), name: str = "am",
                 cluster_address: str | None = None):
        (folder / name).mkdir(parents=True, exist_ok=True)
        super().__init__(folder / name, "alertmanager")
        self.cluster_address = cluster_address or free_address()
        cluster = [f"--cluster.listen-address={self.cluster_address}", "--cluster.peer-timeout=1s",
                   "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=1s",
                   *(f"--cluster.peer={peer}" for peer in peers)] if peers else ["--cluster.listen-address="]
        self.start([shutil.which("prometheus-alertmanager") or "prometheus-alertmanager", f"--config.file={config}",
                    f"--storage.path={self.folder / 'data'}", f"--web.listen-address={self.listen_address}",
                    "--log.level=warn", *cluster])

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """GET /api/v2/alerts (active, silenced and inhibited ones by default, as Alertmanager lists them)."""
        response = self.client.get("/api/v2/alerts", params=filters)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts
