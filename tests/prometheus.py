"""A real Prometheus for tests: Debian's `prometheus` binary on a loopback port.

`PrometheusServer(folder, jobs, rule_files)` writes a config that scrapes
each job's targets every second, starts Prometheus with its TSDB in `folder`,
and waits until it is ready. `query(expr)` runs an instant query through the
HTTP API and returns the result vector, raising `PromQLError` for an
expression Prometheus refuses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.loopback_binary import LoopbackBinary
from tests.polling import WaitTimeout, wait_until


class PromQLError(Exception):
    pass


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        raise RuntimeError("prometheus is not installed: run `scripts/setup --test` (Debian package prometheus)")
    return path


class PrometheusServer(LoopbackBinary):
    def __init__(self, folder: Path, jobs: dict[str, list[str]], rule_files: list[Path] = (),
                 alertmanagers: list[str] = ()):
        super().__init__(folder, "prometheus")
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}
                               for job, targets in jobs.items()],
        }
        if alertmanagers:  # "host:port" of each peer
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
        # JSON is YAML, so no YAML writer is needed.
        (folder / "prometheus.yml").write_text(json.dumps(config, indent=2))
        self.start([prometheus_binary(), f"--config.file={folder / 'prometheus.yml'}",
                    f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address={self.listen_address}",
                    "--log.level=warn"])

    def api(self, path: str, **params) -> dict | list:
        body = self.client.get(f"/api/v1/{path}", params=params).json()
        if body.get("status") != "success":
            raise PromQLError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """The instant vector `expr` evaluates to now (PromQLError if it does not parse)."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            return [{"metric": {}, "value": data["result"]}] if data["resultType"] == "scalar" else data["result"]
        return data["result"]

    def values(self, expr: str) -> dict[str, float]:
        """`expr`'s result as {the `check` label (or all labels): value}."""
        return {r["metric"].get("check", json.dumps(r["metric"], sort_keys=True)): float(r["value"][1])
                for r in self.query(expr)}

    def wait_for(self, predicate, what: str, timeout: float = 30.0):
        """Poll `predicate()` until truthy; fail with `what` and Prometheus's log after `timeout`."""
        try:
            return wait_until(predicate, what, timeout, every=0.2)
        except WaitTimeout as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None
