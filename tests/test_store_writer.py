"""The store writer on a real SQLite file: in order, held while the database refuses, nothing lost silently."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import contextmanager

import pytest

from monitor.core.store import Store, write_transaction
from monitor.core.store_writer import Batched, StoreWriter, WriteLost, is_transient


def sqlite_error(kind: type, code: int) -> sqlite3.Error:
    exc = kind("test")
    exc.sqlite_errorcode = code
    return exc


@pytest.mark.parametrize("exc, transient", [
    (sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_BUSY), True),
    (sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_BUSY_SNAPSHOT), True),  # extended codes too
    (sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_FULL), True),
    (sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_READONLY), True),
    (sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_IOERR_WRITE), True),
    (sqlite_error(sqlite3.OperationalError, sqlite3.SQLITE_ERROR), False),  # "no such table": a bug
    (sqlite_error(sqlite3.IntegrityError, sqlite3.SQLITE_CONSTRAINT), False),
    (sqlite3.OperationalError("raised without a code"), False),
    (OSError("not SQLite"), False),
])
def test_only_a_database_that_may_take_the_write_later_is_retried(exc, transient):
    assert is_transient(exc) is transient


@pytest.fixture
def path(tmp_path):
    path = tmp_path / "monitor.db"
    store = Store.open(path)
    store.db.execute("create table written (value text)")  # what the test jobs write
    store.close()
    return path


@contextmanager
def writer_on(path, **options):
    lost: list[int] = []
    errors: list[Exception] = []
    writer = StoreWriter(Store.open(path), on_error=errors.append, on_lost=lost.append, **options)
    writer.errors, writer.lost = errors, lost
    try:
        yield writer
    finally:
        writer.close(timeout=0)


@contextmanager
def locked(path):
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("begin immediate")
    try:
        yield
    finally:
        other.execute("rollback")
        other.close()


def insert(writer: StoreWriter, value: str):
    return lambda: writer.db.execute("insert into written (value) values (?)", [value]).lastrowid


def stored(path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [name for (name,) in conn.execute("select value from written order by rowid")]
    finally:
        conn.close()


def test_jobs_run_in_order_and_a_future_gets_the_last_steps_value(path):
    with writer_on(path) as writer:
        futures = [writer.submit(insert(writer, f"c{i}"), lambda i=i: i * 10) for i in range(5)]
        assert [f.result(10) for f in futures] == [0, 10, 20, 30, 40]
        assert writer.flush(10) and writer.pending() == 0 and writer.health() is None
    assert stored(path) == [f"c{i}" for i in range(5)]


@pytest.mark.slow
def test_writes_refused_by_a_lock_are_held_in_order_and_land_when_it_goes(path):
    with writer_on(path) as writer:
        with locked(path):
            futures = [writer.submit(insert(writer, f"c{i}")) for i in range(3)]
            assert not writer.flush(1.5)  # over one busy timeout: the first try was refused
            assert "database is locked" in writer.health() and writer.pending() == 3
        assert writer.flush(10)
        assert all(f.exception() is None for f in futures)
        assert writer.health() is None and writer.lost == []
        assert writer.errors and all(is_transient(e) for e in writer.errors)
    assert stored(path) == ["c0", "c1", "c2"]


def test_a_step_that_fails_for_a_bug_is_skipped_the_rest_goes_on(path, caplog):
    with writer_on(path) as writer:
        broken = writer.submit(lambda: writer.db.execute("insert into no_such_table values (1)"),
                               insert(writer, "after the bug in the same job"))
        fine = writer.submit(insert(writer, "next job"))
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            broken.result(10)
        fine.result(10)
    assert stored(path) == ["after the bug in the same job", "next job"]
    assert "a write failed and was skipped" in caplog.text


def test_past_max_pending_new_writes_are_refused_and_counted(path):
    with writer_on(path, max_pending=2) as writer:
        with locked(path):
            held = [writer.submit(insert(writer, f"c{i}")) for i in range(2)]
            refused = writer.submit(insert(writer, "one too many"))
            with pytest.raises(WriteLost, match="2 writes already wait"):
                refused.result(1)
        assert writer.flush(10) and writer.lost == [1]
        assert all(f.exception() is None for f in held)
    assert stored(path) == ["c0", "c1"]


@pytest.mark.slow
def test_a_write_refused_for_longer_than_its_patience_is_given_up(path):
    with writer_on(path, patience=0.5) as writer:
        with locked(path):
            given_up = writer.submit(insert(writer, "c0"))
            with pytest.raises(WriteLost, match="refused for over 0.5s"):
                given_up.result(10)
        writer.submit(insert(writer, "c1")).result(10)
        assert writer.lost == [1]
    assert stored(path) == ["c1"]


@pytest.mark.slow
def test_closing_while_the_database_refuses_gives_up_what_is_held_and_says_how_much(path, caplog):
    with locked(path):
        with writer_on(path) as writer:
            futures = [writer.submit(insert(writer, f"c{i}")) for i in range(3)]
            writer.close(timeout=0.5)
            assert writer.lost == [3]
            assert all(isinstance(f.exception(0), WriteLost) for f in futures)
            with pytest.raises(WriteLost, match="stopping"):
                writer.submit(insert(writer, "after close")).result(1)
    assert "3 write(s) NOT STORED" in caplog.text
    assert stored(path) == []


async def test_a_caller_that_stops_waiting_skips_its_write_and_the_writer_goes_on(path):
    with writer_on(path) as writer:
        with locked(path):
            first = writer.submit(insert(writer, "held"))
            waiting = asyncio.create_task(writer.call(insert(writer, "cancelled")))
            await asyncio.sleep(0)  # let it start waiting
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        assert writer.submit(insert(writer, "after")).result(10) and first.result(10)
    assert stored(path) == ["held", "after"]


def committed_insert(writer: StoreWriter, value: str):
    """An insert in a transaction of its own (a savepoint within a batch), like the store's writes."""
    def step() -> int:
        with write_transaction(writer.db):
            return insert(writer, value)()
    return step


def batched(writer: StoreWriter, value: str, into: list | None = None) -> Batched:
    """A batched insert whose `then` appends the new rowid to `into` (after the commit)."""
    return Batched(committed_insert(writer, value), then=(into.append if into is not None else lambda rowid: None))


def commits_of(writer: StoreWriter) -> list[str]:
    seen: list[str] = []
    writer.db.conn.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


@pytest.mark.slow
def test_batched_steps_queued_together_share_one_commit_in_order(path):
    with writer_on(path) as writer:
        commits = commits_of(writer)
        rowids: list[int] = []
        with locked(path):  # everything queues behind the first job meanwhile
            futures = [writer.submit(batched(writer, f"c{i}", rowids), committed_insert(writer, f"after c{i}"))
                       for i in range(100)]
            assert not writer.flush(1.5)
        assert writer.flush(10) and all(f.exception() is None for f in futures)
        # 100 runs and 100 unbatched follow-ups: far fewer than 200 commits.
        assert len(commits) <= 110, len(commits)
    names = stored(path)
    assert [n for n in names if not n.startswith("after")] == [f"c{i}" for i in range(100)]
    assert rowids == sorted(rowids) and len(rowids) == 100
    for i in range(100):  # each job's own steps stay in order
        assert names.index(f"c{i}") < names.index(f"after c{i}")


@pytest.mark.slow
def test_a_batched_step_that_fails_for_a_bug_writes_nothing_and_the_batch_commits(path):
    with writer_on(path) as writer:
        with locked(path):
            good = writer.submit(batched(writer, "c0"))
            broken = writer.submit(Batched(lambda: writer.db.execute("insert into no_such_table values (1)")))
            also_good = writer.submit(batched(writer, "c2"))
            assert not writer.flush(1.5)
        assert writer.flush(10)
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            broken.result(1)
        assert good.exception() is None and also_good.exception() is None
    assert stored(path) == ["c0", "c2"]


@pytest.mark.slow
def test_a_refused_batch_is_retried_whole_and_then_runs_once_per_step(path):
    with writer_on(path) as writer:
        rowids: list[int] = []
        with locked(path):
            futures = [writer.submit(batched(writer, f"c{i}", rowids)) for i in range(20)]
            assert not writer.flush(2.5)  # refused at least twice
            assert rowids == []  # nothing committed, so nobody was told
        assert writer.flush(10) and all(f.exception() is None for f in futures)
        assert len(writer.errors) >= 2 and writer.lost == []
    assert stored(path) == [f"c{i}" for i in range(20)]
    assert rowids == list(range(1, 21))


@pytest.mark.slow
def test_a_batch_refused_past_its_patience_is_given_up_whole(path):
    with writer_on(path, patience=0.5) as writer:
        with locked(path):
            futures = [writer.submit(batched(writer, f"c{i}")) for i in range(5)]
            for future in futures:
                with pytest.raises(WriteLost, match="refused for over 0.5s"):
                    future.result(10)
        writer.submit(batched(writer, "after")).result(10)
        assert sum(writer.lost) == 5 and writer.pending() == 0
    assert stored(path) == ["after"]
