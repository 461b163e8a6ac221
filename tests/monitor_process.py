"""`monitor run` and the one-off commands as real processes, for tests of what outside parties do to them.

    config = service_config(tmp_path, target.url, passing=50, failing=5, slack=slack)
    with MonitorProcess(config) as monitor:
        monitor.wait_until(lambda: stored_runs(monitor.db) >= 100, "the first runs")
        monitor_command(config, "status")
        monitor.kill()

Each process's output goes to a file in the config's folder, so a failed
wait shows what the monitor said.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from tests.metrics_text import scrape
from tests.polling import WaitTimeout, wait_until
from tests.servers import closed_port
from tests.slack_server import TOKEN, SlackServer

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": TOKEN, "NO_COLOR": "1"}
T = TypeVar("T")


def failing_said(i: int) -> str:
    """What failing check `i` answers: distinct per check, so no two share a Slack message."""
    return f'relation "threads_{i}" does not exist'


def service_config(folder: Path, target_url: str, *, passing: int = 50, failing: int = 0, flapping: int = 0,
                   interval: str = "1s", slack: SlackServer | None = None, extra: str = "",
                   alerts: str = "") -> Path:
    """A config of `passing` checks of GET {target}/ok, `failing` of GET {target}/broken/N and `flapping`
    of GET {target}/flap/N, each every `interval`; `extra` goes in [monitor], `alerts` in [alerts] (keys first,
    then tables: more destinations)."""
    listen = f"127.0.0.1:{closed_port()}"
    text = f'[monitor]\ndatabase = "monitor.db"\nartifacts_dir = "artifacts"\nlisten = "{listen}"\n{extra}\n'
    text += f'[alerts]\nfailure_threshold = 2\nreminder_interval = "off"\nretry_backoff = "100ms"\n{alerts}\n'
    if slack is not None:
        text += f'[alerts.slack]\ntoken = "${{SLACK_BOT_TOKEN}}"\nchannel = "#oncall"\napi_url = "{slack.api_url}"\n'
    checks = ([(f"ok-{i}", "/ok") for i in range(passing)] + [(f"broken-{i}", f"/broken/{i}") for i in range(failing)]
              + [(f"flap-{i}", f"/flap/{i}") for i in range(flapping)])
    for name, path in checks:
        text += f'[[checks]]\nname = "{name}"\nurl = "{target_url}{path}"\ninterval = "{interval}"\ntimeout = "2s"\n'
    config = folder / "config.toml"
    config.write_text(text)
    return config


def monitor_command(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`monitor ARGS -c config`, run to its end; output captured as text."""
    return subprocess.run([sys.executable, "-m", "monitor", *args, "-c", str(config)], cwd=config.parent, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


class _Exited(Exception):
    """The monitor exited while a test waited on it."""


class MonitorProcess:
    def __init__(self, config: Path, module: str = "monitor"):
        self.config = config
        self.folder = config.parent
        self.db = self.folder / "monitor.db"
        self.url = "http://" + next(line.split('"')[1] for line in config.read_text().splitlines()
                                    if line.startswith("listen = "))
        self.module = module
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, *args: str) -> MonitorProcess:
        self.starts += 1
        with open(self.folder / f"monitor-{self.starts}.log", "w") as log:
            command = [sys.executable, "-m", self.module, *(["run"] if self.module == "monitor" else []), *args,
                       "-c", str(self.config)]
            self.proc = subprocess.Popen(command, cwd=self.folder, env=ENV, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __enter__(self) -> MonitorProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self, start: int | None = None) -> str:
        paths = [self.folder / f"monitor-{start}.log"] if start else sorted(self.folder.glob("monitor-*.log"))
        return "".join(p.read_text() for p in paths if p.exists())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def wait_until(self, predicate: Callable[[], T], what: str, timeout: float = 20.0) -> T:
        """Poll `predicate` until truthy; fail naming `what`, with the monitor's last words, if it never is
        (or the monitor exits first)."""
        def value_while_running() -> T:
            value = predicate()
            if not value and self.proc.poll() is not None:
                raise _Exited
            return value

        try:
            return wait_until(value_while_running, what, timeout)
        except (WaitTimeout, _Exited):
            state = f"exited {self.proc.returncode}" if self.proc.poll() is not None else f"{timeout:g}s passed"
            raise AssertionError(f"waiting for {what}: {state}; the monitor said:\n{self.log()[-3000:]}") from None

    def samples(self) -> dict[tuple[str, frozenset], float]:
        return scrape(self)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples().items() if n == name and wanted <= set(ls))

    def healthz(self) -> tuple[int, dict] | None:
        try:
            response = httpx.get(f"{self.url}/healthz", timeout=5)
        except httpx.TransportError:
            return None  # not listening yet
        return response.status_code, response.json()

    def deleted_database_files(self) -> list[str]:
        """The database files this process holds open that are gone from the folder (a detached -wal or -shm)."""
        fds = Path(f"/proc/{self.pid}/fd")
        targets = []
        for fd in fds.iterdir():
            try:
                targets.append(os.readlink(fd))
            except OSError:  # closed meanwhile
                continue
        return [t for t in targets if str(self.db) in t and t.endswith("(deleted)")]


def query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of `sql` from a connection of the test's own, as any outside reader would open it."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def stored_runs(db: Path, check: str | None = None) -> int:
    if not db.exists():
        return 0
    try:
        if check is None:
            return query(db, "select count(*) from runs")[0][0]
        return query(db, "select count(*) from runs where check_name = ?", (check,))[0][0]
    except sqlite3.OperationalError:  # the tables are not created yet
        return 0


def integrity(db: Path) -> list[str]:
    return [row[0] for row in query(db, "pragma integrity_check")]
