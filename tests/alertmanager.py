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
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.polling import WaitTimeout, wait_until
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


class AlertmanagerServer:
    def __init__(self, folder: Path, config: Path, peers: list[str] = (), name: str = "am",
                 cluster_address: str | None = None):
        self.folder = folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.url = f"http://127.0.0.1:{closed_port()}"
        self.cluster_address = cluster_address or f"127.0.0.1:{closed_port()}"
        cluster = [f"--cluster.listen-address={self.cluster_address}", "--cluster.peer-timeout=1s",
                   "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=1s",
                   *(f"--cluster.peer={peer}" for peer in peers)] if peers else ["--cluster.listen-address="]
        self.log = (self.folder / "alertmanager.log").open("w")
        self.process = subprocess.Popen(
            [shutil.which("prometheus-alertmanager") or "prometheus-alertmanager", f"--config.file={config}",
             f"--storage.path={self.folder / 'data'}", f"--web.listen-address={self.url.removeprefix('http://')}",
             "--log.level=warn", *cluster], stdout=self.log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def __enter__(self) -> AlertmanagerServer:
        try:
            wait_until(self._ready, "alertmanager to be ready", timeout=30, every=0.1)
        except WaitTimeout:
            raise RuntimeError(f"alertmanager not ready after 30s: {self.logs()}") from None
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"alertmanager exited: {self.logs()}")
        try:
            return self.client.get("/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """GET /api/v2/alerts (active, silenced and inhibited ones by default, as Alertmanager lists them)."""
        response = self.client.get("/api/v2/alerts", params=filters)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def logs(self) -> str:
        self.log.flush()
        return (self.folder / "alertmanager.log").read_text()[-3000:]
