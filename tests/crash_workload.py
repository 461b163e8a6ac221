"""`monitor run` with retention working flat out: what test_crash_consistency.py kills at random moments.

    python -m tests.crash_workload -c config.toml

The real service (`build_service`: store writer, incidents and the Slack
outbox, metrics, the server), holding its database like `monitor run`,
probes its checks; alongside, this stores runs older than the retention
period (with journey steps) through the same writer and prunes them in a
loop. So runs, steps, incidents, outbox rows, delivery marks, the heartbeat
and retention deletes are all being written when the kill comes.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from functools import partial

from monitor.app.config import load_config
from monitor.app.service import Service, build_service
from monitor.core.config import Config
from monitor.core.results import Result, StepResult, utcnow
from monitor.core.service_lock import hold_database
from monitor.core.store_writer import Batched

AGED_PER_ROUND = 200


def aged_result(i: int, days: int) -> Result:
    """A journey run from before the retention period, with two steps."""
    return Result(check="ok-0", type="browser", location="local", target="http://127.0.0.1/", ok=i % 3 != 0,
                  started_at=utcnow() - timedelta(days=days + 1, seconds=i), duration_ms=12.0,
                  steps=[StepResult("open", True, 5.0), StepResult("click", i % 3 != 0, 7.0, "boom")])


async def churn_retention(service: Service) -> None:
    while not service.scheduler.scheduler.running:
        await asyncio.sleep(0.01)
    store, days = service.writer.store, service.config.monitor.retention_days
    aged = 0
    while not service.stopping.is_set():
        for i in range(aged, aged + AGED_PER_ROUND):
            service.writer.submit(Batched(partial(store.insert_run, aged_result(i, days))))
        aged += AGED_PER_ROUND
        await service.prune()


async def main(config: Config) -> None:
    service = build_service(config)
    await asyncio.gather(service.serve(), churn_retention(service))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-c", "--config", required=True)
    config = load_config(parser.parse_args().config)
    with hold_database(config.monitor.database):
        asyncio.run(main(config))
