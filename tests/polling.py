"""Poll until something holds: the one waiting loop of the tests.

    runs = wait_until(lambda: stored_runs(db) >= 3, "three stored runs")             # from sync code
    await eventually(lambda: h.pending() == 0, "the outbox drained", timeout=60)    # from an async test

Both call `predicate` until it returns something truthy and return that
value; after `timeout` seconds they raise `WaitTimeout` (an AssertionError)
naming `what`. `eventually` awaits between polls, so the event loop it runs
on (the test's own) goes on meanwhile. A wrapper that adds context to a
failure (a process's log, say) catches `WaitTimeout` and re-raises.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """What `wait_until` and `eventually` raise when `predicate` never held within `timeout`."""


def _timed_out(what: str, timeout: float) -> WaitTimeout:
    return WaitTimeout(f"timed out after {timeout:g}s waiting for {what}")


def wait_until(predicate: Callable[[], T], what: str, timeout: float = 10.0, every: float = 0.05) -> T:
    """Poll `predicate` every `every` seconds until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        time.sleep(every)


async def eventually(predicate: Callable[[], T], what: str, timeout: float = 10.0, every: float = 0.02) -> T:
    """`wait_until` for async code: awaits `asyncio.sleep(every)` between polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        await asyncio.sleep(every)
