"""The monitor side of the fault matrix: the monitor itself is killed or starved."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.app.database import open_store
from tests.polling import WaitTimeout, wait_until
from tests.servers import TargetServer, respond

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def busy_config(folder: Path, url: str, checks: int = 20, interval: str = "100ms") -> Path:
    path = folder / "config.toml"
    path.write_text('[monitor]\ndatabase = "monitor.db"\nlisten = "127.0.0.1:0"\n' + "".join(
        f'[[checks]]\nname = "c{i}"\nurl = "{url}/"\ninterval = "{interval}"\ntimeout = "2s"\n'
        for i in range(checks)))
    return path


def start_monitor(config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(config)], cwd=config.parent,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("select count(*) from runs").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def wait_for_runs(db: Path, at_least: int, proc: subprocess.Popen, timeout: float = 20.0) -> int:
    """The runs stored once there are `at_least`, or the monitor exited, or `timeout` passed: the caller
    asserts the count, with the monitor's stderr."""
    with contextlib.suppress(WaitTimeout):
        wait_until(lambda: run_count(db) >= at_least or proc.poll() is not None, f"{at_least} stored runs", timeout)
    return run_count(db)


def test_sigkill_during_writes_leaves_a_whole_database_and_the_restart_goes_on(tmp_path):
    with TargetServer({"/": respond(200, "ok")}) as server:
        config = busy_config(tmp_path, server.url)
        db = tmp_path / "monitor.db"
        proc = start_monitor(config)
        try:
            before = wait_for_runs(db, 100, proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert before >= 100, proc.stderr.read()

        store = open_store(db)
        assert store.db.execute("pragma integrity_check").fetchone()[0] == "ok"
        half_written = store.db.execute(
            "select count(*) from runs where ok is null or duration_ms is null or started_at is null").fetchone()[0]
        orphans = store.db.execute(
            "select count(*) from run_steps where run_id not in (select id from runs)").fetchone()[0]
        after_kill = store.db.execute("select count(*) from runs").fetchone()[0]
        store.close()
        assert half_written == 0 and orphans == 0
        assert after_kill >= before

        restarted = start_monitor(config)
        try:
            grown = wait_for_runs(db, after_kill + 40, restarted)
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(timeout=15)
        finally:
            if restarted.poll() is None:
                restarted.kill()
    assert grown >= after_kill + 40
    assert restarted.returncode == 0


def read_stderr_until(proc: subprocess.Popen, needle: str, timeout: float = 15.0) -> str:
    """Read the monitor's log lines until one contains `needle` (or the deadline passes)."""
    import selectors

    seen = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if needle in line:
                break
    return "".join(seen)


def test_sighup_with_a_broken_config_keeps_the_old_one_running(tmp_path):
    with TargetServer({"/": respond(200, "ok")}) as server:
        config = busy_config(tmp_path, server.url, checks=2, interval="200ms")
        db = tmp_path / "monitor.db"
        proc = start_monitor(config)
        try:
            read_stderr_until(proc, "monitoring 2 checks")
            config.write_text(config.read_text() + '[[checks]]\nname = "bad"\nurl = "nope"\n')
            proc.send_signal(signal.SIGHUP)
            refused = read_stderr_until(proc, "checks[\"bad\"].url")
            count = run_count(db)
            kept_going = wait_for_runs(db, count + 10, proc)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "reload refused, still running the previous config" in refused
    assert "checks[\"bad\"].url: must be an http:// or https:// URL" in refused
    assert kept_going >= count + 10
    assert proc.returncode == 0
