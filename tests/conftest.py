"""Test-wide settings and the fixtures many test modules share.

Fixtures here:
    slack      a loopback Slack (tests/slack_server.py) the real slack-sdk talks to, one per test
    harness    a BrowserHarness (tests/browser_harness.py): one real headless Chromium per test module

Async tests are plain `async def test_...` (pytest-asyncio, `asyncio_mode = "auto"`): each runs on an event
loop of its own, so a test awaits what it drives and needs no `asyncio.run` of its own.

Helper modules, imported by the tests that need them (no test module imports another):
    tests/polling.py          wait_until (sync) and eventually (async): poll until true, fail naming what
                              was awaited; the one polling loop, which every other wait delegates to
    tests/servers.py          TargetServer: loopback HTTP targets whose routes misbehave on purpose
    tests/slack_server.py     SlackServer: the loopback Slack behind the `slack` fixture
    tests/alerts_harness.py   Harness and make_config: one `monitor run`'s alerts part over a real database
    tests/notices.py          notice(): the Notice a channel is handed; RELATION, the incident's words
    tests/config_files.py     config.toml writers several modules share (http checks every second; the
                              incident's threads-api and health checks)
    tests/metrics_text.py     metric_samples and scrape: a monitor's /metrics as {(name, labels): value}
    tests/service_thread.py   ServiceThread: `monitor run`'s service on a thread, for synchronous tests
    tests/monitor_process.py  MonitorProcess: `monitor run` as a real process; its many-checks config
    tests/browser_harness.py  BrowserHarness and journey(): browser checks against a real Chromium
    tests/prometheus.py       PrometheusServer: Debian's Prometheus on a loopback port
    tests/certs.py            server_context: TLS certificates made on the fly (self-signed, expired, ...)
    tests/crash_workload.py   a program, not a helper: the workload test_crash_consistency.py kills
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.slack_server import SlackServer

# Property tests check what holds, not how fast: a loaded CI machine must not
# turn a slow example into a failure.
settings.register_profile("default", deadline=None)
settings.load_profile("default")


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    """A loopback Slack (Web API and webhooks) the real slack-sdk talks to."""
    with SlackServer() as server:
        yield server


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    """One BrowserHarness (its own event loop and Chromium) for the browser tests of a module."""
    from tests.browser_harness import BrowserHarness  # Playwright is loaded only where a module uses it

    h = BrowserHarness(tmp_path_factory.mktemp("artifacts"))
    yield h
    h.close()
