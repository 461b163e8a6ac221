"""`monitor run`: scheduled runs, reload, clean stop, retention."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.app.config import load_config
from monitor.app.service import Service
from monitor.core.results import Result, utcnow
from monitor.core.store import Store
from tests.config_files import checks_config
from tests.polling import eventually
from tests.servers import TargetServer, respond

ROOT = Path(__file__).resolve().parent.parent


def config_file(folder: Path, url: str, names=("a", "b")) -> Path:
    """Checks every second, runs kept for a day."""
    return checks_config(folder, url, names=names, monitor="retention_days = 1")


def count_runs(store: Store, check: str) -> int:
    return store.db.execute("select count(*) from runs where check_name = ?", [check]).fetchone()[0]


def runs_so_far(path: Path, check: str) -> int:
    """Stored runs of `check`, read-only: 0 until the monitor has created its tables.

    A poller must not open the database as a Store: that would race the
    monitor's own migrations while it creates the file ("database is locked").
    """
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        try:
            return conn.execute("select count(*) from runs where check_name = ?", [check]).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
async def test_checks_run_on_their_interval_and_stop_cleanly(tmp_path):
    with TargetServer({"/a": respond(200, "ok"), "/b": respond(500, {"error": "down"})}) as server:
        config = load_config(config_file(tmp_path, server.url))
        service = Service(config)
        task = asyncio.create_task(service.serve(install_signals=False))
        reached = await eventually(lambda: count_runs(service.store, "a") >= 3 and count_runs(service.store, "b") >= 3,
                                   "three runs of each check")
        assert service.unhealthy() == {}
        # Checkpoints happen in a housekeeping thread, never inside a probe's commit.
        writer = service.writer
        assert await writer.call(lambda: writer.db.execute("pragma wal_autocheckpoint").fetchone()[0]) == 0
        assert service.scheduler.scheduler.get_job("housekeeping:store-watch") is not None
        service.stop()
        await task
        assert reached
    store = Store.open(tmp_path / "monitor.db")
    b_runs = store.history("b", limit=50)
    assert all(not r["ok"] and r["error_text"] == "down" for r in b_runs)
    starts = sorted(r["started_at"] for r in store.history("a", limit=50))
    assert len(starts) >= 3
    store.close()


async def test_reload_applies_a_good_config_and_refuses_a_broken_one(tmp_path):
    with TargetServer({"/a": respond(200, "ok"), "/b": respond(200, "ok"), "/c": respond(200, "ok")}) as server:
        path = config_file(tmp_path, server.url, names=("a", "b"))
        config = load_config(path)
        service = Service(config)
        task = asyncio.create_task(service.serve(install_signals=False))
        await eventually(lambda: service.scheduler.scheduler.running, "the scheduler running")
        path.write_text(path.read_text() + "[[checks]]\nname = \"broken\"\nintervall = \"1s\"\n")
        refused = service.reload()
        still = [j.id for j in service.scheduler.scheduler.get_jobs() if j.id.startswith("check:")]
        config_file(tmp_path, server.url, names=("a", "c"))
        applied = service.reload()
        ran_c = await eventually(lambda: count_runs(service.store, "c") >= 1, "a run of c")
        jobs = sorted(j.id for j in service.scheduler.scheduler.get_jobs() if j.id.startswith("check:"))
        service.stop()
        await task
    assert refused is False and sorted(still) == ["check:a", "check:b"]
    assert applied is True and ran_c and jobs == ["check:a", "check:c"]


async def test_prune_removes_runs_older_than_retention(tmp_path):
    config = load_config(config_file(tmp_path, "http://127.0.0.1:9"))
    old = Result(check="a", type="http", location="local", target="x", ok=True, duration_ms=1,
                 started_at=utcnow() - timedelta(days=3))
    service = Service(config)
    for _ in range(12):
        service.store.record(old)
    service.store.record(Result(check="a", type="http", location="local", target="x", ok=True,
                                duration_ms=1, started_at=utcnow()))
    deleted = await service.prune()
    left = count_runs(service.store, "a")
    service.store.close()
    assert (deleted, left) == (12, 1)


@pytest.mark.slow
def test_sigterm_stops_monitor_run_and_leaves_the_database_whole(tmp_path):
    with TargetServer({"/a": respond(200, "ok"), "/b": respond(200, "ok")}) as server:
        path = config_file(tmp_path, server.url)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(path)], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 15
            ran = False
            while time.monotonic() < deadline and not ran and proc.poll() is None:
                ran = runs_so_far(tmp_path / "monitor.db", "a") >= 2
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert ran, err
    assert proc.returncode == 0, err
    assert "stopped" in err
    store = Store.open(tmp_path / "monitor.db")
    assert store.db.execute("pragma integrity_check").fetchone()[0] == "ok"
    store.close()
