"""The event loop `monitor run` (and each of its workers) runs on: uvloop where it is installed, else asyncio's.

uvloop is a maintained drop-in for asyncio's loop (libuv underneath); the
HTTP stacks benchmark measured it taking CPU off every probe (bench/http_stacks.py,
README "What profiling changed"). `[monitor] event_loop = "asyncio"` keeps the
standard loop, for a platform uvloop does not support or to rule it out
while debugging; `"uvloop"` insists on it.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def chosen_loop(setting: str) -> str:
    """"uvloop" or "asyncio", for the `[monitor] event_loop` setting (validated by the config reader)."""
    if setting == "auto":
        return "uvloop" if uvloop_available() else "asyncio"
    return setting


def run(main: Coroutine[Any, Any, T], setting: str = "auto") -> T:
    """Run `main` to completion on the loop `setting` chooses, like `asyncio.run`."""
    if chosen_loop(setting) == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
