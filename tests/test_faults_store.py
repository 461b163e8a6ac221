"""The monitor's own database in trouble: locked by another process, or full.

Whatever happens to the database is the monitor's problem, never the
target's: no failed run is recorded, no incident opens, the refused writes
are counted in `synthetic_store_errors_total`, and probing goes on.
"""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest

from monitor.config import load_config
from monitor.service import build_service
from tests.servers import TargetServer, respond
from tests.service_thread import ServiceThread, wait_until
from tests.test_server import scrape, write_config


@pytest.fixture
def running(tmp_path):
    with TargetServer({"/api": respond(200, "ok"), "/web": respond(200, "ok")}) as target:
        config = load_config(write_config(tmp_path, target.url, names=("api", "web")))
        with ServiceThread(build_service(config)) as running:
            yield running


def counts(db_path) -> tuple[int, int, int]:
    """(runs, failed runs, incidents) as another reader sees them."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return (conn.execute("select count(*) from runs").fetchone()[0],
                conn.execute("select count(*) from runs where not ok").fetchone()[0],
                conn.execute("select count(*) from incidents").fetchone()[0])
    finally:
        conn.close()


def store_errors(running) -> float:
    return scrape(running).get(("synthetic_store_errors_total", frozenset()), 0.0)


def test_a_database_locked_by_another_process_for_10s_costs_runs_but_never_blames_the_target(running, tmp_path):
    db = tmp_path / "monitor.db"
    wait_until(lambda: counts(db)[0] >= 4, "the first runs")
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    other.execute("begin exclusive")
    locked_at = time.monotonic()
    try:
        # The writes wait out the 5 s busy timeout, then give up and are counted.
        wait_until(lambda: store_errors(running) >= 1, "a store error", timeout=15)
        time.sleep(max(0.0, 10 - (time.monotonic() - locked_at)))  # the fault lasts 10 s, by definition
    finally:
        other.execute("rollback")
        other.close()
    runs_after_lock = counts(db)[0]
    wait_until(lambda: counts(db)[0] >= runs_after_lock + 4, "runs stored again after the lock", timeout=15)
    runs, failed, incidents = counts(db)
    assert failed == 0 and incidents == 0  # the target was never blamed
    assert store_errors(running) >= 1
    assert httpx.get(f"{running.url}/healthz").status_code == 200


def test_a_full_disk_counts_store_errors_turns_healthz_503_and_alerts_nobody(running, tmp_path):
    db = tmp_path / "monitor.db"
    wait_until(lambda: counts(db)[0] >= 4, "the first runs")
    conn = running.service.store.db.conn
    # SQLite's answer when the file may not grow: SQLITE_FULL, "database or disk is full",
    # what a full disk gives too (root ignores quotas and modes, so we cap the file instead).
    running.call(lambda: conn.execute(
        f"pragma max_page_count = {conn.execute('pragma page_count').fetchone()[0]}"))
    try:
        wait_until(lambda: store_errors(running) >= 1, "a store error", timeout=15)
        response = httpx.get(f"{running.url}/healthz")
        assert response.status_code == 503, response.text
        assert "database" in response.json()["unhealthy"]
    finally:
        running.call(lambda: conn.execute("pragma max_page_count = 1073741823"))
    runs = counts(db)[0]
    wait_until(lambda: counts(db)[0] >= runs + 2, "runs stored again once there is room")
    assert counts(db)[1:] == (0, 0)
    assert httpx.get(f"{running.url}/healthz").status_code == 200
