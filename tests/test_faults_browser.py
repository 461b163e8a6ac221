"""The browser side of the fault matrix: pages that never stop working against us.

A page that spins JavaScript forever, and one that opens endless popups and
downloads. Each journey ends within its own timeout with a clear sentence,
the monitor's event loop keeps running meanwhile (so the scheduler keeps
starting other checks), and the next journey on the same browser works.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.browser_harness import journey
from tests.polling import wait_until
from tests.servers import TargetServer, respond

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GOOD = "<!doctype html><title>ok</title><p>hi</p>"
SPIN_LATER = ("<!doctype html><title>spin</title><p>hi</p>"
              "<script>setTimeout(() => { for (;;) {} }, 50)</script>")
FLOOD = """<!doctype html><title>flood</title><p>hi</p>
<script>
let n = 0;
setInterval(() => {
  window.open("/popup?" + (n++), "_blank");
  const a = document.createElement("a");
  a.href = "/file?" + n; a.download = "f" + n + ".bin"; document.body.appendChild(a); a.click();
}, 20);
</script>"""


@pytest.fixture(scope="module")
def server():
    with TargetServer({"/": respond(200, GOOD, "text/html"), "/spin-later": respond(200, SPIN_LATER, "text/html"),
                       "/flood": respond(200, FLOOD, "text/html"),
                       "/popup": respond(200, "<p>popup</p>", "text/html"),
                       "/file": respond(200, b"x" * 4096, "application/octet-stream")}) as s:
        yield s


def run_while_ticking(harness, check):
    """Run `check` on the harness loop while a ticker counts how often the loop was free."""
    ticks = []

    async def ticker():
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.1)

    async def both():
        tick = asyncio.ensure_future(ticker())
        try:
            return await harness.probe().run(check)
        finally:
            tick.cancel()

    t0 = time.monotonic()
    result = harness.loop.run_until_complete(both())
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    return result, time.monotonic() - t0, max(gaps, default=0.0)


def test_a_page_spinning_javascript_fails_at_its_timeout_and_the_loop_stays_free(harness, server):
    # The page loads, then its main thread spins: every later action hangs.
    # (A page that spins before its load event is the "never loads" case of
    # tests/test_browser_probe.py.)
    result, elapsed, worst_gap = run_while_ticking(
        harness, journey(server.url + "/spin-later", '{ click = "p", timeout = "5s" }', timeout="2s"))
    assert not result.ok
    assert "timed out after 2s" in result.failure, result.failure
    assert elapsed < 15  # keeping the evidence of a dead page is bounded too
    assert worst_gap < 1.0  # the event loop (and with it the scheduler) never stalled
    after = harness.run(journey(server.url + "/", '{ expect_text = "hi" }'))
    assert after.ok, after.failure


def test_a_page_opening_endless_popups_and_downloads_passes_clearly_and_the_browser_stays_healthy(harness, server):
    before = len(harness.runtime.pids())
    result, elapsed, worst_gap = run_while_ticking(
        harness, journey(server.url + "/flood", '{ wait = "2s" },\n{ expect_text = "hi" }', timeout="10s"))
    assert result.ok, result.failure  # popups and downloads are not the journey's failure
    assert elapsed < 15 and worst_gap < 1.0
    assert harness.runtime.is_connected()
    after = harness.run(journey(server.url + "/", '{ expect_text = "hi" }'))
    assert after.ok, after.failure
    # The journey's context took its popups with it: no renderer piles up (Chromium reaps a closed
    # context's renderers a moment later, longer on a loaded machine).
    wait_until(lambda: len(harness.runtime.pids()) <= before + 2, "the popups' renderers to exit")
