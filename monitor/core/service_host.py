"""What the running service offers the parts built on the core (the alerts part), without them importing it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol


class ServiceHost(Protocol):
    # Part name -> a function that returns None while the part is healthy, else what is wrong (/healthz).
    health: dict[str, Callable[[], str | None]]

    def every(self, job_id: str, func: Callable[[], Awaitable[object]], seconds: float,
              first_in: float = 0.0) -> None:
        """Run the coroutine `func` every `seconds` (first after `first_in`) while the service runs."""
        ...
