"""One real headless Chromium shared by a test module, and journeys built from config text.

    harness = BrowserHarness(tmp_path)          # one event loop + one BrowserRuntime
    result = harness.run(journey(url, steps='{ click = "#go" }'))
    harness.close()

Tests use it from the module-scoped `harness` fixture (tests/conftest.py),
so a module launches Chromium once. It drives an event loop of its own,
which outlives each test: the module's browser is started on it once.
Nothing of Playwright is mocked.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from monitor.app.config import parse_config
from monitor.core.config import Check
from monitor.core.telemetry import Telemetry
from probes.base import ProbeContext
from probes.browser.probe import BrowserProbe
from probes.browser.runtime import BrowserRuntime
from probes.browser.settings import BrowserSettings


class CountingTelemetry(Telemetry):
    def __init__(self):
        self.restarts = 0

    def browser_restarted(self) -> None:
        self.restarts += 1


def journey(url: str, steps: str = "", *, name: str = "journey", timeout: str = "10s", extra: str = "",
            secrets_env: dict | None = None, folder: Path | None = None) -> Check:
    """A browser check from config text, as a user would write it."""
    steps_line = f"steps = [\n{textwrap.dedent(steps)}\n]" if steps else ""
    text = (f'[[checks]]\nname = "{name}"\ntype = "browser"\nurl = "{url}"\ntimeout = "{timeout}"\n'
            f'{steps_line}\n{textwrap.dedent(extra)}\n')
    config = parse_config(text, path=(folder or Path("/tmp")) / "config.toml", env=secrets_env or {})
    return config.checks[0]


class BrowserHarness:
    def __init__(self, artifacts_dir: Path, max_concurrency: int = 2):
        self.loop = asyncio.new_event_loop()
        self.telemetry = CountingTelemetry()
        self.runtime = BrowserRuntime(BrowserSettings(max_concurrency=max_concurrency), self.telemetry)
        self.artifacts_dir = artifacts_dir

    def probe(self, secrets=frozenset(), keep: str = "failure", on_event=None) -> BrowserProbe:
        ctx = ProbeContext(secrets=frozenset(secrets), artifacts_dir=self.artifacts_dir,
                           telemetry=self.telemetry)
        return BrowserProbe(ctx, self.runtime, keep=keep, on_event=on_event)

    def run(self, check: Check, **probe_options):
        return self.loop.run_until_complete(self.probe(**probe_options).run(check))

    def gather(self, *coroutines):
        async def all_of():
            return await asyncio.gather(*coroutines)
        return self.loop.run_until_complete(all_of())

    def close(self) -> None:
        self.loop.run_until_complete(self.runtime.close())
        self.loop.close()
