"""Admission control on a real event loop: runs start at once while it keeps up, wait while it is behind."""

from __future__ import annotations

import asyncio
import time

import pytest

from monitor.app.admission import AdmissionGate
from tests.polling import eventually


async def hog_the_loop(seconds: float, chunk: float = 0.02) -> None:
    """Keep the loop busy, as a flood of CPU-bound callbacks would: blocking chunks with a yield between them."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(chunk)  # blocks the loop on purpose: this is the load
        await asyncio.sleep(0)


async def test_an_idle_loop_admits_at_once_and_reports_zero():
    waits: list[float] = []
    gate = AdmissionGate(on_wait=waits.append)
    try:
        assert [await gate.admit() for _ in range(3)] == [0.0, 0.0, 0.0]
        assert waits == [0.0, 0.0, 0.0]
    finally:
        gate.close()


async def test_runs_arriving_while_the_loop_is_behind_wait_and_all_start_once_it_recovers():
    waits: list[float] = []
    gate = AdmissionGate(max_lag=0.005, max_wait=10.0, on_wait=waits.append)
    try:
        await gate.admit()  # starts the ticker
        hog = asyncio.create_task(hog_the_loop(0.4))
        await eventually(lambda: gate.lag > 0.005, "the ticker sees the loop late", timeout=2)
        started = await asyncio.wait_for(asyncio.gather(*(gate.admit() for _ in range(20))), timeout=5)
        assert hog.done(), "runs started while the loop was still behind"
        assert all(w > 0 for w in started)
        assert len(waits) == 21
        assert await gate.admit() == 0.0  # on time again: no wait
    finally:
        gate.close()


@pytest.mark.parametrize("gate_wait, run_wait", [(0.2, None), (30.0, 0.2)], ids=["the gate's", "the run's own"])
async def test_no_run_waits_past_max_wait_however_late_the_loop_is(gate_wait, run_wait):
    gate = AdmissionGate(max_lag=0.005, max_wait=gate_wait)
    try:
        await gate.admit()
        hog = asyncio.create_task(hog_the_loop(3.0))
        await eventually(lambda: gate.lag > 0.005, "the ticker sees the loop late", timeout=2)
        t0 = time.monotonic()
        waited = await asyncio.wait_for(gate.admit(max_wait=run_wait), timeout=2)
        assert 0.1 < waited < 1.5 and time.monotonic() - t0 < 1.5
        assert not hog.done()
        hog.cancel()
    finally:
        gate.close()


async def test_a_run_cancelled_while_waiting_leaves_the_queue_and_close_lets_the_rest_start():
    gate = AdmissionGate(max_lag=0.005, max_wait=30.0)
    await gate.admit()
    hog = asyncio.create_task(hog_the_loop(5.0))
    await eventually(lambda: gate.lag > 0.005, "the ticker sees the loop late", timeout=2)
    cancelled = asyncio.create_task(gate.admit())
    kept = asyncio.create_task(gate.admit())
    await eventually(lambda: len(gate._waiting) == 2, "both runs queued", timeout=2)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert len(gate._waiting) == 1
    gate.close()
    assert await asyncio.wait_for(kept, timeout=2) >= 0
    hog.cancel()


async def test_every_run_of_the_prober_passes_the_gate_and_reports_its_wait(tmp_path):
    from bench.noop_probe import NoopProbe
    from monitor.app.config import parse_config
    from monitor.app.runner import Prober
    from monitor.core.telemetry import Telemetry

    class Waits(Telemetry):
        def __init__(self) -> None:
            self.seen: list[float] = []

        def admission_wait(self, seconds: float) -> None:
            self.seen.append(seconds)

    config = parse_config('[[checks]]\nname = "a"\nurl = "http://127.0.0.1:9/"\n', path=tmp_path / "c.toml", env={})
    telemetry = Waits()
    prober = Prober(config, probes={"http": NoopProbe()}, telemetry=telemetry)
    try:
        for _ in range(3):
            assert (await prober.probe(config.checks[0])).ok
    finally:
        await prober.close()
    # One report per run: 0.0 on an idle loop, more if this machine's own load made the loop late.
    assert len(telemetry.seen) == 3 and all(w >= 0 for w in telemetry.seen)
