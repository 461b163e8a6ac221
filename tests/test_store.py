"""Run history in a real SQLite file."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import timedelta

import pytest

from monitor.core.results import Result, StepResult, utcnow
from monitor.core.store import Store, migrations
from monitor.core.store_writer import is_transient


def result(check="api", ok=True, started_at=None, **kw) -> Result:
    return Result(check=check, type="http", location="local", target="http://x/", ok=ok,
                  started_at=started_at or utcnow(), duration_ms=12.5, **kw)


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "monitor.db")
    yield s
    s.close()


def test_the_database_is_owner_only_and_in_wal_mode(tmp_path, store):
    mode = stat.S_IMODE(os.stat(tmp_path / "monitor.db").st_mode)
    assert mode == 0o600
    assert store.db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_history_is_newest_first_with_steps_and_artifacts(store):
    now = utcnow()
    store.record(result(started_at=now - timedelta(minutes=1)))
    failed = result(ok=False, started_at=now, failure="expected status 200, got 500", error_text="boom",
                    browser_said="page error: Failed to fetch",
                    status_code=500, steps=[StepResult("open", True, 10.0), StepResult("click", False, 5.0, "500")],
                    artifacts=["api/2/trace.zip"], phases={"connect": 0.001})
    run_id = store.record(failed)
    rows = store.history("api", limit=10)
    assert [r["id"] for r in rows] == [run_id, run_id - 1]
    newest = rows[0]
    assert newest["ok"] is False and newest["error_text"] == "boom" and newest["status_code"] == 500
    assert newest["browser_said"] == "page error: Failed to fetch"
    assert [s["name"] for s in newest["steps"]] == ["open", "click"] and newest["steps"][1]["ok"] is False
    assert newest["artifacts"] == ["api/2/trace.zip"] and newest["phases"] == {"connect": 0.001}
    assert failed.run_id == run_id


def test_latest_runs_has_one_row_per_check(store):
    store.record(result("a", ok=True))
    store.record(result("a", ok=False))
    store.record(result("b", ok=True))
    latest = store.latest_runs()
    assert set(latest) == {"a", "b"} and latest["a"]["ok"] is False


def test_pruning_deletes_old_runs_in_batches_and_returns_their_artifacts(store):
    old = utcnow() - timedelta(days=40)
    for i in range(7):
        store.record(result(started_at=old + timedelta(seconds=i), artifacts=[f"api/{i}/trace.zip"]))
    store.record(result())
    cutoff = utcnow() - timedelta(days=30)
    first = store.prune_batch(cutoff, batch=5)
    second = store.prune_batch(cutoff, batch=5)
    third = store.prune_batch(cutoff, batch=5)
    assert (first[0], second[0], third[0]) == (5, 2, 0)
    assert len(first[1]) == 5
    assert len(store.history("api")) == 1
    assert store.db.execute("select count(*) from run_artifacts").fetchone()[0] == 0


def test_reopening_applies_no_migration_twice(tmp_path, store):
    store.record(result())
    again = Store.open(tmp_path / "monitor.db")
    assert len(again.history("api")) == 1
    again.close()


def test_a_read_only_database_refuses_with_an_error_the_writer_holds_and_retries(tmp_path, store):
    store.record(result())
    reader = sqlite3.connect(f"file:{tmp_path / 'monitor.db'}?mode=ro", uri=True)
    ro = Store(__import__("sqlite_utils").Database(reader))
    with pytest.raises(sqlite3.OperationalError) as refused:
        ro.record(result())
    assert is_transient(refused.value)
    assert len(store.history("api")) == 1  # the refused write left nothing half-done


def _open_and_record(path: str) -> int:
    store = Store.open(path)
    try:
        return store.record(result())
    finally:
        store.close()


def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path):
    import multiprocessing

    path = str(tmp_path / "shared.db")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        run_ids = pool.map(_open_and_record, [path] * 8)
    store = Store.open(path)
    applied, distinct = store.db.execute(
        "select count(*), count(distinct name) from _sqlite_migrations").fetchone()
    pending = migrations.pending(store.db)
    store.close()
    assert sorted(run_ids) == list(range(1, 9))
    assert applied == distinct and pending == []


def test_after_taking_over_checkpoints_commits_leave_the_wal_to_checkpoint(store):
    store.take_over_checkpoints()
    for _ in range(800):  # >= 3 WAL frames each: past SQLite's automatic 1,000-frame checkpoint
        store.record(result())
    _, (frames, done) = store.look_from_outside()
    assert frames > 1000 and done == frames
    assert store.look_from_outside()[1] == (frames, frames)  # nothing new to copy; the WAL is reused from its start


def test_a_new_connection_sees_the_heartbeat_a_commit_stamped(store):
    assert store.look_from_outside()[0] is None
    store.stamp_heartbeat("service-a", 7)
    assert store.look_from_outside()[0] == ("service-a", 7)
