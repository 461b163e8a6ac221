"""The runner: the monitor's own failures are never blamed on the target, and storing never holds a probe."""

from __future__ import annotations

import asyncio
import sqlite3

import sqlite_utils

from monitor.app.config import parse_config
from monitor.app.runner import Runner
from monitor.core.store import Store
from monitor.core.store_writer import StoreWriter
from tests.polling import eventually
from tests.servers import TargetServer, respond


class Recorder:
    def __init__(self):
        self.results = []

    def on_result(self, check, result):
        self.results.append(result)


class Exploding:
    def on_result(self, check, result):
        raise RuntimeError("listener bug")


async def test_a_database_that_refuses_writes_is_counted_not_reported_as_the_target_down(tmp_path):
    Store.open(tmp_path / "monitor.db").close()
    read_only = Store(sqlite_utils.Database(sqlite3.connect(f"file:{tmp_path / 'monitor.db'}?mode=ro", uri=True,
                                                            check_same_thread=False)))
    errors, lost, heard, stored = [], [], Recorder(), Recorder()
    writer = StoreWriter(read_only, on_error=errors.append, on_lost=lost.append, patience=0.3)
    with TargetServer({"/": respond(200, "ok")}) as server:
        config = parse_config(f'[[checks]]\nname = "a"\nurl = "{server.url}/"\n')
        runner = Runner(config, writer, listeners=[Exploding(), heard], stored_listeners=[stored])
        try:
            result = await runner.run_check(config.check("a"), wait_stored=True)
        finally:
            await runner.close()
    writer.close()
    assert result.ok and result.run_id is None
    assert errors and all(isinstance(e, sqlite3.OperationalError) for e in errors)
    assert lost == [1]  # given up after its patience, and said so
    assert heard.results == [result]  # a broken listener did not stop the others
    assert stored.results == []  # alerts only ever count stored runs


async def test_a_crashing_probe_becomes_a_failed_run(tmp_path):
    class Broken:
        async def run(self, check):
            raise ValueError("bug in probe")

        async def close(self):
            pass

    config = parse_config('[[checks]]\nname = "a"\nurl = "http://127.0.0.1:9/"\n')
    writer = StoreWriter(Store.open(tmp_path / "monitor.db"))
    result = await Runner(config, writer, probes={"http": Broken()}).run_check(config.check("a"), wait_stored=True)
    writer.close()
    assert not result.ok and result.failure == "monitor error: ValueError: bug in probe"
    assert Store.open(tmp_path / "monitor.db").history("a")[0]["failure"] == result.failure


async def test_probes_go_on_while_the_database_is_locked_and_every_run_lands_after(tmp_path):
    """The loop never waits on the disk: ten runs finish during a lock, then all are stored, in order."""
    config = parse_config('[[checks]]\nname = "a"\nurl = "http://127.0.0.1:9/"\n')
    path = tmp_path / "monitor.db"
    writer = StoreWriter(Store.open(path))
    stored = Recorder()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("begin immediate")

    class Instant:
        async def run(self, check):
            from monitor.core.results import Result, utcnow
            return Result(check="a", type="http", location="here", target=check.target, started_at=utcnow(),
                          duration_ms=1.0, ok=True)

        async def close(self):
            pass

    try:
        async with asyncio.timeout(3):  # far below one busy timeout
            runner = Runner(config, writer, probes={"http": Instant()}, stored_listeners=[stored])
            results = [await runner.run_check(config.check("a")) for _ in range(10)]
        assert stored.results == [] and writer.pending() == 10
        assert "database is locked" in await eventually(writer.health, "the writer to report the lock")
    finally:
        other.execute("rollback")
    assert writer.flush(timeout=15)
    writer.close()
    assert [r.run_id for r in stored.results] == [r.run_id for r in results] == list(range(1, 11))


class Flaky:
    """Fails with the missing-table error `failures` times, then answers 200."""

    def __init__(self, failures: int):
        self.left = failures
        self.requests = 0

    def __call__(self, handler) -> None:
        self.requests += 1
        if self.left > 0:
            self.left -= 1
            respond(500, {"error": 'relation "threads" does not exist'})(handler)
        else:
            respond(200, "[]")(handler)


async def run_once(tmp_path, route: Flaky, retries: int):
    heard = Recorder()
    writer = StoreWriter(Store.open(tmp_path / "monitor.db"))
    with TargetServer({"/api": route}) as server:
        config = parse_config(f'[[checks]]\nname = "a"\nurl = "{server.url}/api"\nretries = {retries}\n')
        runner = Runner(config, writer, listeners=[heard])
        try:
            result = await runner.run_check(config.check("a"), wait_stored=True)
        finally:
            await runner.close()
    writer.close()
    return result, heard.results, Store.open(tmp_path / "monitor.db").history("a")


async def test_a_run_that_passes_on_a_retry_counts_once_as_passed_and_keeps_the_first_failure(tmp_path):
    route = Flaky(failures=1)
    result, heard, stored = await run_once(tmp_path, route, retries=2)
    assert route.requests == 2 and result.ok and heard == [result]
    [row] = stored
    assert row["ok"] and row["details"]["retried"][0]["error_text"] == 'relation "threads" does not exist'
    assert row["details"]["retried"][0]["status_code"] == 500


async def test_a_run_failing_every_try_is_one_failed_run_with_its_earlier_tries(tmp_path):
    route = Flaky(failures=10)
    result, heard, stored = await run_once(tmp_path, route, retries=2)
    assert route.requests == 3 and not result.ok and len(heard) == 1
    [row] = stored
    assert len(row["details"]["retried"]) == 2 and row["error_text"] == 'relation "threads" does not exist'


async def test_without_retries_a_failure_is_not_tried_again(tmp_path):
    route = Flaky(failures=1)
    result, _, stored = await run_once(tmp_path, route, retries=0)
    assert route.requests == 1 and not result.ok and "retried" not in stored[0]["details"]
