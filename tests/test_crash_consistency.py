"""SIGKILL at 30+ random moments while the service writes everything it writes: never a half-written database.

The workload (tests/crash_workload.py) is the real service with flapping
checks every 100 ms, so incidents open and resolve and the Slack outbox
fills and drains, while retention stores and prunes old journey runs flat
out. After each kill the database must pass `pragma integrity_check` and
every invariant that the monitor's transactions promise; the next start is
the restart, which must go on without a traceback. At the end a real
`monitor run` delivers whatever the kills left in the outbox: no notice
written is lost.
"""

from __future__ import annotations

import itertools
import json
import random
import time

import pytest
import sqlite_utils

from monitor.app.database import MIGRATIONS
from monitor.core.store import migrations
from tests.monitor_process import MonitorProcess, integrity, query, service_config
from tests.servers import TargetServer, send
from tests.slack_server import SlackServer

pytestmark = pytest.mark.slow

KILLS = 32
FLAPPING = 6

# Each names a promise of one transaction, and counts the rows that would break it.
INVARIANTS = {
    "a journey step without its run":
        "select count(*) from run_steps where run_id not in (select id from runs)",
    "an artifact without its run":
        "select count(*) from run_artifacts where run_id not in (select id from runs)",
    "a notice without its incident":
        "select count(*) from outbox where incident_id is not null and incident_id not in (select id from incidents)",
    "an incident opened without its firing notice":
        "select count(*) from incidents i where not exists "
        "(select 1 from outbox o where o.incident_id = i.id and o.kind = 'firing')",
    "an incident resolved without its resolved notice":
        "select count(*) from incidents i where resolved_at is not null and closed_reason is null and not exists "
        "(select 1 from outbox o where o.incident_id = i.id and o.kind = 'resolved')",
    "a check with two open incidents":
        "select count(*) from (select check_name from incidents where resolved_at is null "
        "group by check_name having count(*) > 1)",
    "a delivered notice also marked failed":
        "select count(*) from outbox where delivered_at is not null and failed_at is not null",
}


def flapping_target() -> TargetServer:
    """/flap/N fails twice (a missing table), then passes once, round and round: an incident every 3 runs."""
    counters = [itertools.count() for _ in range(FLAPPING)]

    def route(i: int):
        def answer(handler) -> None:
            if next(counters[i]) % 3 == 2:
                send(handler, 200, b"[]")
            else:
                send(handler, 500, json.dumps({"error": f'relation "threads_{i}" does not exist'}).encode())
        return answer

    return TargetServer({"/ok": lambda h: send(h, 200, b"ok")} | {f"/flap/{i}": route(i) for i in range(FLAPPING)})


def broken_promises(db) -> dict[str, int]:
    tables = {name for (name,) in query(db, "select name from sqlite_master where type = 'table'")}
    if not tables:  # killed before the migrations committed: they all apply at the next start
        return {}
    database = sqlite_utils.Database(db)
    try:
        pending = [m.name for migration_set in (migrations, *MIGRATIONS) for m in migration_set.pending(database)]
    finally:
        database.close()
    if pending:
        return {f"migrations half applied, pending: {pending}": 1}
    found = {what: query(db, sql)[0][0] for what, sql in INVARIANTS.items()}
    return {what: count for what, count in found.items() if count}


def newest_run(db) -> int:
    try:
        return query(db, "select coalesce(max(id), 0) from runs")[0][0]
    except Exception:  # not created yet
        return 0


def test_sigkill_at_random_moments_never_leaves_a_half_written_database(tmp_path):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    with flapping_target() as target, SlackServer() as slack:
        config = service_config(tmp_path, target.url, passing=4, flapping=FLAPPING, interval="100ms", slack=slack,
                                extra='retention_days = 1')
        db = tmp_path / "monitor.db"
        workload = MonitorProcess(config, module="tests.crash_workload")
        for kill in range(KILLS):
            written = newest_run(db)
            workload.start()
            if kill % 4 == 0:  # now and then at start-up: migrations, loading incidents, the first writes
                time.sleep(rng.uniform(0, 1.0))
            else:  # else a random moment once it writes
                workload.wait_until(lambda written=written: newest_run(db) > written,
                                    f"kill {kill}: the workload writing")
                time.sleep(rng.uniform(0, 1.5))  # the random moment itself, not a wait for anything
            workload.kill()
            where = f"kill {kill} (seed {seed})"
            assert integrity(db) == ["ok"], where
            assert broken_promises(db) == {}, where
            assert "Traceback" not in workload.log(workload.starts), f"{where}:\n{workload.log(workload.starts)}"
        assert query(db, "select count(*) from outbox")[0][0] > 0, "the kills never met an incident"

        # A real `monitor run` on what the kills left: it starts, and every notice written goes out.
        written = query(db, "select coalesce(max(id), 0) from outbox")[0][0]
        with MonitorProcess(config).start() as monitor:
            monitor.wait_until(lambda: monitor.healthz() == (200, {"status": "ok"}), "the restart healthy")
            monitor.wait_until(lambda: query(db, "select count(*) from outbox where id <= ? and delivered_at is null",
                                             (written,))[0][0] == 0,
                               "every notice the kills left delivered", timeout=30)
            assert monitor.stop() == 0
        assert query(db, "select count(*) from outbox where failed_at is not null")[0][0] == 0
        delivered = query(db, "select count(*) from outbox where delivered_at is not null")[0][0]
        assert slack.count("chat.postMessage", 200) >= delivered  # each delivered notice reached Slack
        assert integrity(db) == ["ok"] and broken_promises(db) == {}
