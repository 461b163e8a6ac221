"""The store watch on real files: healthy while a new connection sees the service's writes, loud when it does not.

The detached WAL is made the way it happened in the field: this process
opens and closes a bare descriptor of the database beside its SQLite
connections (which drops their POSIX locks), then the `sqlite3` shell, a
separate process, reads and closes, believes it is the last user, and
deletes the -wal and -shm files the writer still writes into.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess

import httpx
import pytest

from monitor.app.config import load_config
from monitor.app.service import build_service
from monitor.core.store import Store
from monitor.core.store_watch import StoreWatch
from monitor.core.store_writer import StoreWriter
from tests.config_files import checks_config
from tests.metrics_text import scrape
from tests.polling import wait_until
from tests.servers import TargetServer, respond
from tests.service_thread import ServiceThread


@pytest.fixture
def watch(tmp_path):
    writer = StoreWriter(Store.open(tmp_path / "monitor.db"))
    yield StoreWatch(writer)
    writer.close(timeout=1)


async def rounds(watch: StoreWatch, count: int) -> None:
    for _ in range(count):
        await watch.tick()
        await asyncio.to_thread(watch.writer.flush, 5)


def detach_the_wal(db_path) -> None:
    """Drop this process's SQLite locks on `db_path`, then let another process close it as its 'last' user."""
    os.close(os.open(db_path, os.O_RDONLY))
    subprocess.run(["sqlite3", str(db_path), "select count(*) from runs"], check=True, capture_output=True)
    assert not os.path.exists(f"{db_path}-wal"), "the sqlite3 shell did not delete the WAL: no detachment to see"


def heartbeat(db_path) -> tuple[str, int] | None:
    return Store.open(db_path).look_from_outside()[0]


async def test_rounds_that_see_their_own_beats_are_healthy(watch, tmp_path):
    await rounds(watch, 3)
    assert watch.problem() is None
    assert heartbeat(tmp_path / "monitor.db") == (watch.instance, 3)


async def test_a_round_that_meets_a_lock_gives_no_verdict(watch, tmp_path):
    await rounds(watch, 1)
    other = sqlite3.connect(tmp_path / "monitor.db", isolation_level=None, timeout=0)
    other.execute("begin exclusive")
    try:
        await watch.tick()
        assert watch.problem() is None
    finally:
        other.rollback()
        other.close()


@pytest.mark.slow
async def test_writes_into_a_deleted_wal_are_reported(watch, tmp_path):
    await rounds(watch, 2)
    detach_the_wal(tmp_path / "monitor.db")
    await rounds(watch, 2)
    problem = watch.problem()
    assert problem is not None and ("new connection" in problem), problem


@pytest.mark.slow
def test_healthz_and_the_metric_go_unhealthy_when_the_wal_is_detached(tmp_path, monkeypatch):
    monkeypatch.setattr("monitor.core.store_watch.EVERY", 0.2)
    monkeypatch.setattr("monitor.app.service.WATCH_EVERY", 0.2)
    with TargetServer({"/api": respond(200, "ok")}) as target:
        config = load_config(checks_config(tmp_path, target.url))
        with ServiceThread(build_service(config)) as running:
            healthy = lambda: scrape(running)[("synthetic_store_healthy", frozenset())]  # noqa: E731
            watch = running.service.store_watch
            wait_until(lambda: (heartbeat(tmp_path / "monitor.db") or ("", 0))[1] >= 2 and healthy() == 1,
                       "two clean rounds")
            assert watch.problem() is None
            detach_the_wal(tmp_path / "monitor.db")
            wait_until(lambda: healthy() == 0, "synthetic_store_healthy 0", timeout=10)
            response = httpx.get(f"{running.url}/healthz", timeout=5)
            assert response.status_code == 503
            assert "new connection" in response.json()["unhealthy"]["database"]
