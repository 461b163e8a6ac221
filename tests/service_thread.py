"""`monitor run`'s service on a background thread, for tests that talk to it synchronously.

    with ServiceThread(build_service(config)) as running:
        httpx.get(running.url + "/healthz")
        running.call(lambda: running.service.reload())   # runs on the service's event loop

The service owns its event loop; `call` hands a function to that loop, which
is the one thread allowed to touch the service's scheduler and `store` (its
writes go through `service.writer`, whose `submit` any thread may call).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

from monitor.app.metrics import Metrics
from monitor.app.server import MonitorServer
from monitor.app.service import Service
from tests.polling import wait_until

T = TypeVar("T")


class ServiceThread:
    def __init__(self, service: Service):
        self.service = service
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="service under test", daemon=True)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self.service.serve(install_signals=False))
        except BaseException as exc:  # surfaced by __enter__ / __exit__
            self.error = exc

    def part(self, kind: type[T]) -> T:
        return next(p for p in self.service.parts if isinstance(p, kind))

    @property
    def server(self) -> MonitorServer:
        return self.part(MonitorServer)

    @property
    def metrics(self) -> Metrics:
        return self.part(Metrics)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> ServiceThread:
        self.thread.start()
        wait_until(self._started, "the service to start", timeout=15, every=0.02)
        return self

    def _started(self) -> bool:
        if self.error is not None:
            raise self.error
        return bool(self.server.url and self.service.scheduler.scheduler.running)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run `fn` on the service's event loop and return its result."""
        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.service.stop)
        self.thread.join(20)
        self.loop.close()
        if self.error is not None and exc[0] is None:
            raise self.error
