"""Many monitors, one page: an HA pair behind a clustered Alertmanager, and a quorum of locations. Real binaries.

Debian's Alertmanager (two peers gossiping on loopback) with the shipped
config and template posts to a loopback Slack; two `monitor run` processes
watch a target that answers `relation "threads" does not exist`. The pair
(same location) pages once and resolves once, even with a peer or a monitor
killed mid-incident; the same run against two unclustered peers pages twice,
so the test can fail. With `min_failing_locations = 2`, a real Prometheus
scraping two locations keeps one location's failure quiet (the shipped
quorum rule and inhibit rule) and pages once, naming both, when both fail.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.alertmanager import AlertmanagerServer, free_address, shipped_config
from tests.monitor_process import MonitorProcess, service_config
from tests.polling import wait_until
from tests.prometheus import PrometheusServer
from tests.servers import BreakableTarget

pytestmark = pytest.mark.slow

RELATION = 'relation "threads" does not exist'
RULES = Path(__file__).resolve().parent.parent / "dashboards" / "prometheus-rules.yml"


def broken_threads(broken: bool = True) -> BreakableTarget:
    """What the monitors' one check (`broken-0`) probes: the missing-table error while broken."""
    return BreakableTarget("/broken/0", RELATION, broken)


@pytest.fixture
def target():
    t = broken_threads()
    with t.server:
        yield t


def firing(slack) -> list[dict]:
    return [m["attachments"][0] for m in slack.webhook_messages if m["attachments"][0]["title"].startswith("FIRING")]


def resolved(slack) -> list[dict]:
    return [m["attachments"][0] for m in slack.webhook_messages
            if m["attachments"][0]["title"].startswith("RESOLVED")]


def monitor_config(folder, target_url: str, ams: list[AlertmanagerServer], location: str, extra_alerts: str = ""):
    folder.mkdir(exist_ok=True)
    urls = ", ".join(f'"{am.url}"' for am in ams)
    return service_config(folder, target_url, passing=0, failing=1, extra=f'location = "{location}"',
                          alerts=f"{extra_alerts}\n[alerts.alertmanager]\nurls = [{urls}]\n")


def test_an_ha_pair_behind_a_clustered_alertmanager_pages_once_and_resolves_once(tmp_path, slack, target):
    addresses = [free_address(), free_address()]
    config = shipped_config(tmp_path, slack.webhook_url)
    with (AlertmanagerServer(tmp_path, config, name="am-0", cluster_address=addresses[0], peers=[addresses[1]]) as am0,
          AlertmanagerServer(tmp_path, config, name="am-1", cluster_address=addresses[1], peers=[addresses[0]]) as am1):
        pair = [MonitorProcess(monitor_config(tmp_path / name, target.server.url, [am0, am1], "eu")).start()
                for name in ("eu-a", "eu-b")]
        try:
            pair[0].wait_until(lambda: firing(slack), "the page", timeout=30)
            for am in (am0, am1):  # both monitors pushed to both peers, and the peers had time to notify
                wait_until(lambda am=am: any(a["labels"]["check"] == "broken-0" for a in am.alerts()), "the alert")
            settle(seconds=4)
            [page] = firing(slack)
            assert RELATION in page["text"] and "*eu*" in page["text"]

            pair[1].kill()  # one of the pair dies: the other keeps the incident open, nobody pages again
            am1.__exit__(None, None, None)  # and one peer too
            settle(seconds=3)
            assert len(firing(slack)) == 1
            assert [a for a in am0.alerts(active="true") if a["labels"]["check"] == "broken-0"]  # still open
            target.broken = False
            pair[0].wait_until(lambda: resolved(slack), "the resolve", timeout=30)
            settle(seconds=3)
            assert len(resolved(slack)) == 1 and len(firing(slack)) == 1
        finally:
            for monitor in pair:
                monitor.__exit__(None, None, None)


def test_without_gossip_the_same_pair_pages_twice(tmp_path, slack, target):
    config = shipped_config(tmp_path, slack.webhook_url)
    with (AlertmanagerServer(tmp_path, config, name="am-0") as am0,
          AlertmanagerServer(tmp_path, config, name="am-1") as am1):
        pair = [MonitorProcess(monitor_config(tmp_path / name, target.server.url, [am0, am1], "eu")).start()
                for name in ("eu-a", "eu-b")]
        try:
            pair[0].wait_until(lambda: len(firing(slack)) >= 2, "a page from each unclustered peer", timeout=30)
        finally:
            for monitor in pair:
                monitor.__exit__(None, None, None)


def test_a_quorum_of_two_locations_keeps_one_failing_location_quiet_and_pages_once_for_both(tmp_path, slack):
    eu, us = broken_threads(True), broken_threads(False)
    # group_wait outlasts Prometheus' scrape and rule evaluation (1 s each here), as the shipped config says.
    config = shipped_config(tmp_path, slack.webhook_url, group_wait="6s")
    with eu.server, us.server, AlertmanagerServer(tmp_path, config) as am:
        quorum = "min_failing_locations = 2"
        monitors = [MonitorProcess(monitor_config(tmp_path / loc, t.server.url, [am], loc, quorum))
                    for loc, t in (("eu", eu), ("us", us))]
        targets = [m.url.removeprefix("http://") for m in monitors]
        # Prometheus first, as in production: eu's alert reaches Alertmanager as soon as its incident opens, and
        # the quorum rule must be firing before group_wait ends, which a Prometheus still starting would miss.
        with PrometheusServer(tmp_path, {"synthetic-monitor": targets}, [RULES],
                              alertmanagers=[am.url.removeprefix("http://")]) as prometheus:
            try:
                for monitor in monitors:
                    monitor.start()
                for monitor in monitors:
                    monitor.wait_until(lambda m=monitor: m.healthz() is not None, "the monitor serving")
                prometheus.wait_for(lambda: prometheus.query('ALERTS{alertname="SyntheticCheckBelowQuorum"}'),
                                    "the quorum rule firing for eu alone", timeout=30)
                wait_until(lambda: any(a["status"]["state"] == "suppressed" and a["labels"].get("location") == "eu"
                                       for a in am.alerts()), "eu's alert inhibited", timeout=20)
                settle(seconds=8)  # past group_wait: an uninhibited alert would have paged by now
                assert firing(slack) == []
                us.broken = True
                monitors[1].wait_until(lambda: firing(slack), "the page once both locations fail", timeout=40)
                settle(seconds=3)
                [page] = firing(slack)
                assert "*eu*" in page["text"] and "*us*" in page["text"] and RELATION in page["text"]
            finally:
                for monitor in monitors:
                    monitor.__exit__(None, None, None)


def settle(seconds: float) -> None:
    """Let time pass on purpose: what must NOT happen (a second page) can only be seen by waiting."""
    time.sleep(seconds)
