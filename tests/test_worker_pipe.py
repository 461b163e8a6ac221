"""A worker's messages to the supervisor: what one turn of its loop says goes as one write, in order."""

from __future__ import annotations

import multiprocessing

from monitor.app.config import parse_config
from monitor.app.workers import Worker
from tests.polling import eventually


async def test_messages_of_one_loop_turn_reach_the_supervisor_in_one_write_in_order():
    supervisor, worker_end = multiprocessing.Pipe()
    config = parse_config('[[checks]]\nname = "a"\nurl = "http://127.0.0.1:9/"\n')
    worker = Worker(worker_end, config, 0, 1)
    try:
        worker.telemetry.scheduler_lag(0.01)
        worker.telemetry.admission_wait(0.0)
        worker._send(("alive",))
        assert not supervisor.poll()  # nothing written yet: the turn is not over
        await eventually(supervisor.poll, "the worker's message")
        assert supervisor.recv() == [("lag", 0.01), ("admission", 0.0), ("alive",)]
        worker._send(("alive",))
        await eventually(supervisor.poll, "the next turn's message")
        assert supervisor.recv() == [("alive",)]
    finally:
        await worker.prober.close()
        worker_end.close()
        supervisor.close()


async def test_a_message_that_cannot_be_pickled_costs_only_itself():
    supervisor, worker_end = multiprocessing.Pipe()
    config = parse_config('[[checks]]\nname = "a"\nurl = "http://127.0.0.1:9/"\n')
    worker = Worker(worker_end, config, 0, 1)
    try:
        worker._send(("lag", 0.5))
        worker._send(("result", "a", lambda: "a closure pickle refuses"))
        worker._send(("alive",))
        await eventually(supervisor.poll, "the first message")
        received = [supervisor.recv()]
        await eventually(supervisor.poll, "the last message")
        received.append(supervisor.recv())
    finally:
        await worker.prober.close()
        worker_end.close()
        supervisor.close()
    assert received == [[("lag", 0.5)], [("alive",)]]
