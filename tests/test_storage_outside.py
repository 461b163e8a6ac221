"""What users bring beside a running `monitor run` cannot break its database: readers, a second service, backups.

Real processes on real files: the service probes 50+ checks every second
against a loopback target and pages a loopback Slack, while the `sqlite3`
shell, `sqlite-utils`, Python's sqlite3 and the one-off `monitor` commands
open and close the database beside it. Before the fix, the first of them
to close deleted the service's -wal under it (monitor/core/store.py explains
why): history froze for everyone else and a SIGKILL lost what was written
since.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.monitor_process import (
    ENV,
    MonitorProcess,
    failing_said,
    integrity,
    monitor_command,
    query,
    service_config,
    stored_runs,
)
from tests.servers import TargetServer, send
from tests.slack_server import SlackServer

pytestmark = pytest.mark.slow

FAILING = 3
SQLITE_UTILS = str(Path(sys.executable).parent / "sqlite-utils")


class Target:
    """/ok answers 200; /broken/N answers 500 with its own missing-table error until N is fixed."""

    def __init__(self):
        self.fixed: set[int] = set()
        self.server = TargetServer({"/ok": lambda h: send(h, 200, b'{"status": "ok"}')}
                                   | {f"/broken/{i}": self._broken(i) for i in range(FAILING)})

    def _broken(self, i: int):
        def route(handler) -> None:
            if i in self.fixed:
                send(handler, 200, b"[]")
            else:
                send(handler, 500, json.dumps({"error": failing_said(i)}).encode())
        return route


@pytest.fixture
def target():
    t = Target()
    with t.server:
        yield t


@pytest.fixture
def config(tmp_path, target, slack) -> Path:
    return service_config(tmp_path, target.server.url, passing=50, failing=FAILING, slack=slack)


def firing_checks(slack: SlackServer) -> list[str]:
    return sorted(m.text.split(":")[0].removeprefix("FIRING ") for m in slack.top_level())


def undelivered(db: Path) -> int:
    return query(db, "select count(*) from outbox where delivered_at is null")[0][0]


def outside_readers(config: Path, db: Path) -> list[tuple[str, list[str]]]:
    """Each outside party users bring, as (what it is, the command that opens and closes the database)."""
    python_rw = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                 "print(c.execute('select count(*) from runs').fetchone()[0]); c.close()")
    monitor = [sys.executable, "-m", "monitor"]
    return [
        ("python sqlite3, read-write", [sys.executable, "-c", python_rw, str(db)]),
        ("the sqlite3 shell", ["sqlite3", str(db), "select count(*) from runs"]),
        ("sqlite-utils query", [SQLITE_UTILS, "query", str(db), "select count(*) as n from runs"]),
        ("monitor status", monitor + ["status", "-c", str(config)]),
        ("monitor history", monitor + ["history", "ok-1", "-c", str(config)]),
        ("monitor silence", monitor + ["silence", "ok-2", "--for", "1h", "-c", str(config)]),
        ("monitor check", monitor + ["check", "ok-3", "-c", str(config)]),
    ]


def test_outside_readers_leave_the_wal_attached_and_a_sigkill_loses_no_counted_run(config, target, slack):
    with MonitorProcess(config) as monitor:
        monitor.wait_until(lambda: firing_checks(slack) == [f"broken-{i}" for i in range(FAILING)],
                           "every failing check paged", timeout=30)
        monitor.wait_until(lambda: undelivered(monitor.db) == 0, "the pages recorded as delivered")
        for round in range(3):
            seen_before = stored_runs(monitor.db)
            for what, command in outside_readers(config, monitor.db):
                done = subprocess.run(command, cwd=config.parent, env=ENV, capture_output=True, text=True, timeout=60)
                assert done.returncode == 0, f"{what}: {done.stderr}"
                assert monitor.deleted_database_files() == [], f"round {round}: {what} detached the service's WAL"
            # What the service writes keeps reaching the file that everyone else opens.
            monitor.wait_until(lambda seen=seen_before: stored_runs(monitor.db) > seen + 50,
                               f"round {round}: runs seen grow")
        assert monitor.healthz() == (200, {"status": "ok"})
        assert monitor.metric("synthetic_store_healthy") == 1

        counted = {name: monitor.metric("synthetic_check_runs_total", check=name)
                   for name in ("ok-0", "ok-49", "broken-0")}
        monitor.wait_until(lambda: monitor.metric("synthetic_store_pending_writes") == 0, "the writer idle")
        monitor.kill()

    assert integrity(monitor.db) == ["ok"]
    for name, runs in counted.items():
        assert stored_runs(monitor.db, name) >= runs, f"{name}: /metrics counted {runs}, the database kept fewer"

    # The restart goes on where the killed one stopped: no second page, and a fix resolves once.
    fired = len(slack.top_level())
    with MonitorProcess(config).start() as restarted:
        restarted.wait_until(lambda: restarted.healthz() == (200, {"status": "ok"}), "the restart healthy")
        failed = stored_runs(restarted.db, "broken-1")
        restarted.wait_until(lambda: stored_runs(restarted.db, "broken-1") >= failed + 3, "three more failed runs")
        target.fixed.add(0)
        firing_0 = next(m for m in slack.top_level() if m.text.startswith("FIRING broken-0"))
        restarted.wait_until(lambda: slack.replies(firing_0.ts), "broken-0 resolved in its thread")
        restarted.wait_until(lambda: undelivered(restarted.db) == 0, "the resolve recorded as delivered")
        assert restarted.stop() == 0
    assert len(slack.top_level()) == fired
    assert [m.text.split(" after")[0] for m in slack.replies(firing_0.ts)] == ["RESOLVED broken-0"]
    open_incidents = query(monitor.db, "select check_name, count(*) from incidents where resolved_at is null "
                                       "group by check_name order by check_name")
    assert open_incidents == [(f"broken-{i}", 1) for i in range(1, FAILING)]
    firings = query(monitor.db, "select check_name, count(*) from outbox where kind = 'firing' "
                                "group by check_name order by check_name")
    assert firings == [(f"broken-{i}", 1) for i in range(FAILING)]
    assert integrity(monitor.db) == ["ok"]


def test_run_status_silence_sigterm_leaves_a_whole_database_that_restarts_every_time(tmp_path, target):
    config = service_config(tmp_path, target.server.url, passing=50)
    for attempt in range(4):
        with MonitorProcess(config) as monitor:
            monitor.wait_until(lambda runs=100 * (attempt + 1): stored_runs(monitor.db) >= runs, "runs stored")
            assert monitor_command(config, "status").returncode == 0
            assert monitor_command(config, "silence", "ok-1", "--for", "1h").returncode == 0
            assert monitor.stop() == 0
        assert integrity(monitor.db) == ["ok"], f"attempt {attempt}"
        assert "Traceback" not in monitor.log()


def test_a_second_service_on_the_same_database_refuses_and_the_first_runs_on(tmp_path, target):
    config = service_config(tmp_path, target.server.url, passing=5)
    with MonitorProcess(config) as first:
        first.wait_until(lambda: stored_runs(first.db) >= 5, "the first service's runs")
        second = monitor_command(config, "run", timeout=30)
        assert second.returncode == 2
        assert f"another `monitor run` is using {first.db} (pid {first.pid} on " in second.stderr
        assert f"kill {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        # The first goes on untouched: still probing, still healthy.
        runs = stored_runs(first.db)
        first.wait_until(lambda: stored_runs(first.db) >= runs + 10, "the first service probing on")
        assert first.healthz() == (200, {"status": "ok"})
        first.kill()
    # A killed holder does not block its successor.
    with MonitorProcess(config).start() as successor:
        successor.wait_until(lambda: successor.healthz() == (200, {"status": "ok"}), "the successor healthy")
        assert successor.stop() == 0


def test_online_backups_while_writing_are_whole_and_restore_into_a_working_service(tmp_path, target):
    config = service_config(tmp_path, target.server.url, passing=50)
    db = tmp_path / "monitor.db"
    backups = {name: tmp_path / f"{name}.db" for name in ("monitor-backup", "shell-backup", "vacuum-into")}
    with MonitorProcess(config) as monitor:
        monitor.wait_until(lambda: stored_runs(db) >= 100, "runs stored")
        made = monitor_command(config, "backup", str(backups["monitor-backup"]))
        assert made.returncode == 0 and "integrity ok" in made.stdout, made.stderr
        assert monitor_command(config, "backup", str(backups["monitor-backup"])).returncode == 2  # never overwrites
        subprocess.run(["sqlite3", str(db), f".backup {backups['shell-backup']}"], check=True)
        subprocess.run(["sqlite3", str(db), f"vacuum into '{backups['vacuum-into']}'"], check=True)
        while_running = monitor_command(config, "restore", str(backups["monitor-backup"]))
        assert while_running.returncode == 2 and "Stop it first" in while_running.stderr
        assert monitor.deleted_database_files() == []
        assert monitor.stop() == 0
    for name, backup in backups.items():
        assert integrity(backup) == ["ok"], name
        assert stored_runs(backup) >= 100, name
    assert stored_runs(db) > stored_runs(backups["monitor-backup"])

    not_a_backup = monitor_command(config, "restore", str(tmp_path / "config.toml"))
    assert not_a_backup.returncode == 2 and "as an SQLite database" in not_a_backup.stderr
    kept = stored_runs(backups["monitor-backup"])
    restored = monitor_command(config, "restore", str(backups["monitor-backup"]))
    assert restored.returncode == 0, restored.stderr
    assert stored_runs(db) == kept and integrity(db) == ["ok"]
    with MonitorProcess(config).start() as monitor:
        monitor.wait_until(lambda: stored_runs(db) > kept + 50, "the restored database taking runs")
        assert monitor.stop() == 0
    assert integrity(db) == ["ok"]
