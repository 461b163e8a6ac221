"""`Capture.settle`: how long a step waits for the requests around it, driven through the event handlers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from probes.browser.capture import Capture


@dataclass(eq=False)  # hashed by identity, like Playwright's Request
class FakeRequest:
    url: str
    method: str = "POST"
    resource_type: str = "fetch"


def request(url: str = "http://127.0.0.1/api/threads") -> FakeRequest:
    return FakeRequest(url)


async def test_an_idle_page_settles_after_the_quiet_window_and_an_assertion_does_not_wait_at_all():
    capture = Capture()
    t0 = time.monotonic()
    await capture.settle(5.0, quiet=0.05)
    waited = time.monotonic() - t0
    assert 0.04 <= waited < 2.0  # the quiet window, not the 5 s limit

    t0 = time.monotonic()
    await capture.settle(5.0, quiet=0.0)
    assert time.monotonic() - t0 < 0.04


async def test_settle_waits_for_the_request_in_flight_and_returns_once_it_finished():
    capture = Capture()
    sent = request()
    capture._on_request(sent)
    asyncio.get_running_loop().call_later(0.1, capture._on_finished, sent)
    await capture.settle(5.0, quiet=0.0)
    assert capture.entries[0].duration_ms is not None  # finished before settle returned
    assert not capture._inflight


async def test_a_request_announced_during_the_quiet_window_is_waited_for():
    capture = Capture()
    late = request()
    loop = asyncio.get_running_loop()
    loop.call_later(0.02, capture._on_request, late)  # the action's request, reported a little late
    loop.call_later(0.2, capture._on_finished, late)
    await capture.settle(5.0, quiet=0.1)
    assert capture.entries and capture.entries[0].duration_ms is not None


async def test_a_request_that_never_ends_gives_up_at_the_limit():
    capture = Capture()
    capture._on_request(request("http://127.0.0.1/events"))
    t0 = time.monotonic()
    await capture.settle(0.2, quiet=0.05)
    assert 0.15 <= time.monotonic() - t0 < 2.0
    assert capture._inflight  # still open: the step goes on without it
