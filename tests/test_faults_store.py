"""The monitor's own database in trouble: locked by another process, full, or read-only.

Whatever happens to the database is the monitor's problem, never the
target's, and it costs nothing: probing goes on at its pace, the runs
finished meanwhile are held by the store writer and all stored once the
database takes writes again (compared against the runs the metrics
counted), no failed run is recorded, no incident opens, `/healthz` says
what is wrong while it lasts, and `synthetic_store_errors_total` counts
the refused attempts.
"""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest
import sqlite_utils

from monitor.app.config import load_config
from monitor.app.database import open_store
from monitor.app.service import build_service
from tests.config_files import checks_config
from tests.metrics_text import scrape
from tests.polling import wait_until
from tests.servers import TargetServer, respond
from tests.service_thread import ServiceThread
from tests.slack_server import TOKEN, SlackServer

pytestmark = pytest.mark.slow


@pytest.fixture
def running(tmp_path):
    with TargetServer({"/api": respond(200, "ok"), "/web": respond(200, "ok")}) as target:
        config = load_config(checks_config(tmp_path, target.url, names=("api", "web")))
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


def metric(running, name: str) -> float:
    """The sum of a metric's samples (over all labels)."""
    return sum(value for (sample, _), value in scrape(running).items() if sample == name)


def runs_probed(running) -> float:
    return metric(running, "synthetic_check_runs_total")


def database_problem(running) -> str | None:
    response = httpx.get(f"{running.url}/healthz", timeout=2)
    return response.json().get("unhealthy", {}).get("database") if response.status_code == 503 else None


def assert_nothing_lost(running, db) -> None:
    """Every run the metrics counted is stored, none failed, no incident, no write given up, healthy."""
    wait_until(lambda: metric(running, "synthetic_store_pending_writes") == 0 and counts(db)[0] == runs_probed(running),
               "every probed run stored", timeout=20)
    assert counts(db)[1:] == (0, 0)  # the target was never blamed
    assert metric(running, "synthetic_store_writes_lost_total") == 0
    assert metric(running, "synthetic_store_errors_total") >= 1
    assert httpx.get(f"{running.url}/healthz").json() == {"status": "ok"}


def test_a_database_locked_by_another_process_for_10s_loses_no_run(running, tmp_path):
    db = tmp_path / "monitor.db"
    wait_until(lambda: counts(db)[0] >= 4, "the first runs")
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    other.execute("begin exclusive")
    locked_at = time.monotonic()
    try:
        probed_before = runs_probed(running)
        problem = wait_until(lambda: database_problem(running), "/healthz to name the database")
        assert "database is locked" in problem
        # Probing goes on at its pace (two checks every second) while nothing can be stored.
        wait_until(lambda: runs_probed(running) >= probed_before + 8, "runs during the lock")
        assert counts(db)[0] <= probed_before
        time.sleep(max(0.0, 10 - (time.monotonic() - locked_at)))  # the fault lasts 10 s, by definition
        held = metric(running, "synthetic_store_pending_writes")
    finally:
        other.execute("rollback")
        other.close()
    assert held >= 16
    assert_nothing_lost(running, db)


def test_a_monitor_started_while_its_database_is_locked_probes_at_once_and_stores_every_run_after(tmp_path):
    with TargetServer({"/api": respond(200, "ok"), "/web": respond(200, "ok")}) as target:
        config = load_config(checks_config(tmp_path, target.url, names=("api", "web")))
        db = tmp_path / "monitor.db"
        open_store(db).close()  # there from an earlier run
        other = sqlite3.connect(db, timeout=0, isolation_level=None)
        other.execute("begin exclusive")
        try:
            with ServiceThread(build_service(config)) as running:
                wait_until(lambda: runs_probed(running) >= 4, "runs while the database is locked")
                assert "database is locked" in wait_until(lambda: database_problem(running), "/healthz")
                other.execute("rollback")
                assert_nothing_lost(running, db)
        finally:
            other.close()


def test_a_target_failing_while_the_database_is_locked_pages_once_with_its_words_when_the_lock_goes(tmp_path):
    """Incidents are written after the runs they count, so a lock delays the page; it never loses it."""
    relation = 'relation "threads" does not exist'
    with SlackServer() as slack, TargetServer({"/api": respond(200, "ok")}) as target:
        path = tmp_path / "config.toml"
        path.write_text(
            '[monitor]\ndatabase = "monitor.db"\nartifacts_dir = "artifacts"\nlisten = "127.0.0.1:0"\n'
            '[alerts]\nfailure_threshold = 2\nreminder_interval = "off"\nretry_backoff = "50ms"\n'
            f'[alerts.slack]\ntoken = "{TOKEN}"\nchannel = "#oncall"\napi_url = "{slack.api_url}"\n'
            f'[[checks]]\nname = "api"\nurl = "{target.url}/api"\ninterval = "1s"\ntimeout = "2s"\n')
        db = tmp_path / "monitor.db"
        with ServiceThread(build_service(load_config(path))) as running:
            wait_until(lambda: counts(db)[0] >= 2, "the first runs")
            other = sqlite3.connect(db, timeout=0, isolation_level=None)
            other.execute("begin exclusive")
            try:
                target.routes["/api"] = respond(500, {"error": relation})
                wait_until(lambda: runs_probed(running) - counts(db)[0] >= 3,
                           "three failed runs probed during the lock")
                assert slack.messages == []  # nothing is paged from runs that are not stored yet
            finally:
                other.execute("rollback")
                other.close()
            [firing] = wait_until(slack.top_level, "the page once the lock goes", timeout=15)
            assert firing.text.startswith("FIRING api") and relation in firing.all_text
            wait_until(lambda: metric(running, "synthetic_store_pending_writes") == 0
                       and counts(db)[0] == runs_probed(running), "every probed run stored")
            assert counts(db)[2] == 1 and len(slack.top_level()) == 1  # one incident, paged once


def fill_the_disk(running):
    """SQLite's answer when the file may not grow: SQLITE_FULL, "database or disk is full", what a full
    disk gives too (root ignores quotas and modes, so we cap the file instead). Returns the undo."""
    writer = running.service.writer
    pages = writer.submit(lambda: writer.db.execute("pragma page_count").fetchone()[0]).result(10)
    writer.submit(lambda: writer.db.execute(f"pragma max_page_count = {pages}")).result(10)
    # The writer is retrying by now, so a job would wait behind it: undo on the connection directly.
    return lambda: writer.db.execute("pragma max_page_count = 1073741823")


def open_read_only(path) -> sqlite_utils.Database:
    """A connection where every write fails.

    chmod 0400 would not do: CI runs as root, and root ignores file modes.
    SQLite's own `mode=ro` flag is enforced for root too.
    """
    return sqlite_utils.Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False,
                                                 isolation_level=None))


def mount_read_only(running):
    """What a process gets on a read-only mount: a connection where every write fails."""
    store = running.service.writer.store
    writable, store.db = store.db, open_read_only(running.service.store.path)
    return lambda: setattr(store, "db", writable)


@pytest.mark.parametrize("refuse, answer", [(fill_the_disk, "database or disk is full"),
                                            (mount_read_only, "readonly database")])
def test_a_full_or_read_only_database_turns_healthz_503_alerts_nobody_and_loses_no_run(running, tmp_path,
                                                                                       refuse, answer):
    db = tmp_path / "monitor.db"
    wait_until(lambda: counts(db)[0] >= 4, "the first runs")
    undo = refuse(running)
    try:
        # A capped file still takes rows until its last pages are full.
        problem = wait_until(lambda: database_problem(running), "/healthz to name the database", timeout=30)
        assert answer in problem and "held" in problem
        probed = runs_probed(running)
        wait_until(lambda: runs_probed(running) >= probed + 4, "runs while writes are refused")
    finally:
        undo()
    assert_nothing_lost(running, db)
