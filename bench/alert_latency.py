"""Benchmark: from the result that crosses the failure threshold to Slack's request.

Each incident is one check failing twice (threshold 2); the clock starts when
the second failed result is handed to the store writer, as the runner does,
and stops when the loopback Slack stand-in receives the `chat.postMessage`.
The path measured is the real one: the run's row, the state machine and the
SQLite transaction that writes the incident and its outbox row on the
writer's thread, the outbox worker waking on the loop, the Block Kit
builder, and the real slack-sdk over HTTP.
Incidents are fired one after another, so the figure is latency, not a queue.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from alerts.part import Alerts
from alerts.state_store import AlertStore
from bench.report import Row, percentile
from monitor.app.config import parse_config
from monitor.app.database import open_store
from monitor.core.results import Result, utcnow
from monitor.core.store_writer import StoreWriter
from tests.slack_server import TOKEN, SlackServer


def _config(folder, slack: SlackServer, checks: int):
    text = (f'[monitor]\ndatabase = "alerts.db"\n[alerts]\nfailure_threshold = 2\nreminder_interval = "off"\n'
            f'[alerts.slack]\ntoken = "{TOKEN}"\nchannel = "#oncall"\napi_url = "{slack.api_url}"\n'
            + "".join(f'[[checks]]\nname = "c{i}"\nurl = "http://127.0.0.1:9/c{i}"\n' for i in range(checks)))
    return parse_config(text, path=folder / "alerts.toml")


def _failure(check: str) -> Result:
    # A distinct error text per check: no grouping, so each incident is a new message.
    return Result(check=check, type="http", location="bench", target=f"http://127.0.0.1:9/{check}",
                  started_at=utcnow(), duration_ms=3.0, ok=False, status_code=500, method="GET",
                  failure="expected status 200, got 500", error_text=f"relation \"{check}\" does not exist")


def _steps(writer: StoreWriter, alerts: Alerts, check, result: Result) -> tuple:
    """The writer's steps for one run, as the runner gives them: store the run, then fold it into alerts."""
    return lambda: writer.store.record(result), lambda: alerts.on_result(check, result)


async def _measure(config, slack: SlackServer) -> list[float]:
    store = open_store(config.monitor.database)
    writer = StoreWriter(open_store(config.monitor.database))
    alerts = Alerts(config, store=AlertStore(store.db), writer=writer)
    service = SimpleNamespace(health={}, every=lambda *a, **k: None)
    await alerts.start(service)
    latencies = []
    try:
        for check in config.checks:
            await asyncio.wrap_future(writer.submit(*_steps(writer, alerts, check, _failure(check.name))))
            crossing = _failure(check.name)
            before = len(slack.messages)
            started = time.monotonic()
            writer.submit(*_steps(writer, alerts, check, crossing))
            deadline = started + 10
            while len(slack.messages) == before and time.monotonic() < deadline:
                await asyncio.sleep(0.0005)
            if len(slack.messages) == before:
                raise RuntimeError(f"no Slack message for {check.name} within 10 s")
            latencies.append((slack.messages[-1].received_at - started) * 1000)
    finally:
        await alerts.stop()
        writer.close()
        store.close()
    return latencies


def run(ctx) -> list[Row]:
    incidents = ctx.size(20, 300)
    with SlackServer() as slack:
        latencies = asyncio.run(_measure(_config(ctx.workdir, slack, incidents), slack))
    p99 = percentile(latencies, 99)
    return [Row("alert latency", "result to Slack stand-in p99", p99, "ms", goal="< 200 ms", met=p99 < 200,
                note=f"{incidents} incidents one after another; p50 {percentile(latencies, 50):.1f} ms, "
                     f"max {max(latencies):.1f} ms")]
