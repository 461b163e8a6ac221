"""One `monitor run`'s alerts part over a real SQLite file, without the scheduler, for async tests.

    config = make_config(tmp_path, slack)                  # writes config.toml, returns the parsed config
    async with Harness(config) as h:
        h.fail(times=2)                                    # two failed runs, stored then told to the alerts
        await eventually(lambda: h.pending() == 0, "the outbox drained")

Results go to the `Alerts` part directly, as the runner hands them over
after storing them, so a story of incidents and deliveries takes well
under a second of waiting.
"""

from __future__ import annotations

from types import SimpleNamespace

from alerts.part import Alerts
from alerts.state_store import AlertStore
from monitor.app.config import parse_config
from monitor.app.database import open_store
from monitor.core.results import Result, utcnow
from monitor.core.store_writer import StoreWriter
from monitor.core.telemetry import NO_TELEMETRY
from tests.notices import RELATION
from tests.slack_server import TOKEN, SlackServer


def make_config(tmp_path, slack: SlackServer | None, checks=("threads-api",), extra="", reminder="off"):
    """config.toml in `tmp_path`: `checks` on a closed port, failure_threshold 2, reminders `reminder` (off),
    fast retries, and the loopback `slack` as the Slack channel (the console channel without it); `extra`
    goes in [alerts]."""
    slack_table = f'[alerts.slack]\ntoken = "{TOKEN}"\nchannel = "#oncall"\napi_url = "{slack.api_url}"\n' \
        if slack else ""
    text = f"""
[monitor]
database = "monitor.db"
[alerts]
failure_threshold = 2
reminder_interval = "{reminder}"
retry_backoff = "50ms"
retry_backoff_max = "200ms"
{extra}
{slack_table}
""" + "".join(f'[[checks]]\nname = "{c}"\nurl = "http://127.0.0.1:9/{c}"\n' for c in checks)
    (tmp_path / "config.toml").write_text(text)
    return parse_config(text, path=tmp_path / "config.toml")


class Harness:
    """One `monitor run`'s alert part over a real database, without the scheduler."""

    def __init__(self, config, channels=None, clock=utcnow, telemetry=NO_TELEMETRY):
        self.config = config
        self.store = open_store(config.monitor.database)
        self.writer = StoreWriter(open_store(config.monitor.database))
        self.alerts = Alerts(config, store=AlertStore(self.store.db), writer=self.writer, channels=channels,
                             clock=clock, telemetry=telemetry)
        self.jobs = {}
        self.service = SimpleNamespace(health={}, every=self._every)

    def _every(self, job_id, func, seconds, first_in=0.0):
        self.jobs[job_id] = func

    async def __aenter__(self) -> Harness:
        await self.alerts.start(self.service)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.alerts.stop()
        self.writer.close()
        self.store.close()

    def run(self, check: str, ok: bool, error: str | None = RELATION,
            failure: str = "expected status 200, got 500") -> None:
        result = Result(check=check, type="http", location="test", target=f"http://127.0.0.1:9/{check}",
                        started_at=utcnow(), duration_ms=3.0, ok=ok, status_code=200 if ok else 500,
                        method="GET", failure=None if ok else failure, error_text=None if ok else error)
        # As the runner does: stored, then told to the alerts, on the writer's thread.
        self.writer.submit(lambda: self.writer.store.record(result),
                           lambda: self.alerts.on_result(self.config.check(check), result)).result(10)

    def fail(self, check: str = "threads-api", times: int = 1, error: str | None = RELATION,
             failure: str = "expected status 200, got 500") -> None:
        for _ in range(times):
            self.run(check, False, error, failure)

    def pass_(self, check: str = "threads-api") -> None:
        self.run(check, True)

    def pending(self) -> int:
        return AlertStore(self.store.db).pending_count()
