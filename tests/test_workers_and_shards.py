"""Beyond one event loop: worker processes under one `monitor run`, and shards across monitors. Real processes.

With `workers = 2` every check runs once per interval (no share runs twice,
none is dropped), `/metrics` speaks for every check, and a worker killed
with SIGKILL is started again while every run the metrics counted is
stored. Three monitors configured `shard = "K/3"` run every check in
exactly one of their databases.
"""

from __future__ import annotations

import signal
import time

import psutil
import pytest

from monitor.core.sharding import Share, select
from tests.monitor_process import MonitorProcess, query, service_config, stored_runs
from tests.servers import TargetServer, send

pytestmark = pytest.mark.slow

CHECKS = 20


@pytest.fixture
def target():
    with TargetServer({"/ok": lambda h: send(h, 200, b'{"status": "ok"}')}) as server:
        yield server


def runs_per_check(db) -> dict[str, int]:
    return dict(query(db, "select check_name, count(*) from runs group by check_name"))


def workers_of(monitor: MonitorProcess) -> list[int]:
    """The monitor's worker processes (multiprocessing's spawned children, not its resource tracker)."""
    found = []
    for child in psutil.Process(monitor.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:  # gone, or a zombie the supervisor has not reaped yet: not a running worker
            continue
    return found


def test_two_workers_run_each_check_once_per_interval_and_a_killed_one_comes_back(tmp_path, target):
    config = service_config(tmp_path, target.url, passing=CHECKS, extra="workers = 2")
    with MonitorProcess(config) as monitor:
        monitor.wait_until(lambda: len(workers_of(monitor)) == 2, "two worker processes")
        monitor.wait_until(lambda: stored_runs(monitor.db) >= CHECKS, "the first runs")
        started, before = time.monotonic(), runs_per_check(monitor.db)
        monitor.wait_until(lambda: min(runs_per_check(monitor.db).values()) >= min(before.values()) + 4,
                           "four more runs of every check")
        seconds = time.monotonic() - started
        grew = {name: n - before.get(name, 0) for name, n in runs_per_check(monitor.db).items()}
        assert len(grew) == CHECKS
        assert all(count <= seconds + 2 for count in grew.values()), (seconds, grew)  # none runs twice as often
        assert {name for (family, labels), _ in monitor.samples().items() if family == "probe_success"
                for key, name in labels if key == "check"} == {f"ok-{i}" for i in range(CHECKS)}

        [victim, other] = workers_of(monitor)
        psutil.Process(victim).send_signal(signal.SIGKILL)
        monitor.wait_until(lambda: len(workers_of(monitor)) == 2 and victim not in workers_of(monitor),
                           "the killed worker started again")
        after_kill = runs_per_check(monitor.db)
        monitor.wait_until(lambda: all(n >= after_kill[name] + 2 for name, n in runs_per_check(monitor.db).items()),
                           "every check running again")
        assert monitor.healthz() == (200, {"status": "ok"})
        assert other in workers_of(monitor)
        counted = monitor.metric("synthetic_check_runs_total")
        monitor.wait_until(lambda: monitor.metric("synthetic_store_pending_writes") == 0, "the writer idle")
        assert monitor.stop() == 0
    assert stored_runs(monitor.db) >= counted  # every run the metrics counted was stored
    assert "Traceback" not in monitor.log()


def test_three_shards_run_every_check_in_exactly_one_of_them(tmp_path, target):
    monitors = []
    for k in (1, 2, 3):
        folder = tmp_path / f"shard-{k}"
        folder.mkdir()
        monitors.append(MonitorProcess(service_config(folder, target.url, passing=30, extra=f'shard = "{k}/3"')))
    try:
        for monitor in monitors:
            monitor.start()
        for monitor in monitors:
            monitor.wait_until(lambda m=monitor: stored_runs(m.db) > 0 and
                               min(runs_per_check(m.db).values(), default=0) >= 3, "three runs of its checks")
        seen = [set(runs_per_check(m.db)) for m in monitors]
        names = [f"ok-{i}" for i in range(30)]
        assert [sorted(s) for s in seen] == [sorted(select(names, Share(k, 3))) for k in (1, 2, 3)]
        assert set().union(*seen) == set(names) and sum(len(s) for s in seen) == 30
        for monitor in monitors:
            assert monitor.stop() == 0
    finally:
        for monitor in monitors:
            monitor.__exit__(None, None, None)
