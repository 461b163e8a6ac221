"""The runner: the monitor's own failures are never blamed on the target."""

from __future__ import annotations

import asyncio
import sqlite3

import sqlite_utils

from monitor.config import parse_config
from monitor.runner import Runner
from monitor.store import Store
from tests.servers import TargetServer, respond


class Recorder:
    def __init__(self):
        self.results = []

    def on_result(self, check, result):
        self.results.append(result)


class Exploding:
    def on_result(self, check, result):
        raise RuntimeError("listener bug")


def test_a_database_that_refuses_writes_is_counted_not_reported_as_the_target_down(tmp_path):
    Store.open(tmp_path / "monitor.db").close()
    read_only = Store(sqlite_utils.Database(sqlite3.connect(f"file:{tmp_path / 'monitor.db'}?mode=ro", uri=True)))
    errors, recorder = [], Recorder()
    with TargetServer({"/": respond(200, "ok")}) as server:
        config = parse_config(f'[[checks]]\nname = "a"\nurl = "{server.url}/"\n')

        async def go():
            runner = Runner(config, read_only, listeners=[Exploding(), recorder], on_store_error=errors.append)
            try:
                return await runner.run_check(config.check("a"))
            finally:
                await runner.close()
        result = asyncio.run(go())
    assert result.ok and result.run_id is None
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.Error)
    assert recorder.results == [result]  # a broken listener did not stop the others


def test_a_crashing_probe_becomes_a_failed_run(tmp_path):
    class Broken:
        async def run(self, check):
            raise ValueError("bug in probe")

        async def close(self):
            pass

    config = parse_config('[[checks]]\nname = "a"\nurl = "http://127.0.0.1:9/"\n')
    store = Store.open(tmp_path / "monitor.db")

    async def go():
        return await Runner(config, store, probes={"http": Broken()}).run_check(config.check("a"))
    result = asyncio.run(go())
    assert not result.ok and result.failure == "monitor error: ValueError: bug in probe"
    assert store.history("a")[0]["failure"] == result.failure
