"""The clock jumping (an NTP step, a VM resumed, an operator's `date -s`).

The alerts part takes its clock as an argument, so the jump is injected:
the outbox schedules retries in wall-clock time, and a notice must neither
wait out a backward jump nor go out twice after a forward one.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.core.results import utcnow
from tests.alerts_harness import Harness, make_config
from tests.polling import eventually


class JumpingClock:
    def __init__(self):
        self.offset = timedelta(0)

    def __call__(self):
        return utcnow() + self.offset


@pytest.mark.parametrize("jump", [timedelta(hours=-1), timedelta(hours=1)], ids=["backward", "forward"])
async def test_a_clock_jump_while_slack_is_down_neither_delays_nor_doubles_the_alerts(tmp_path, slack, jump):
    clock = JumpingClock()
    slack.down = True
    async with Harness(make_config(tmp_path, slack, checks=("a", "b")), clock=clock) as h:
        h.fail("a", times=2)
        await eventually(lambda: slack.count("chat.postMessage") >= 1, "a first try")  # a retry is now scheduled
        clock.offset = jump
        h.fail("b", times=2, error="another failure")
        slack.down = False
        # Backoff tops out at 200 ms here: anything near a minute means the jump is being waited out.
        await eventually(lambda: h.pending() == 0, "both firings delivered", timeout=10)
    assert [m.text.split()[1].rstrip(":") for m in slack.top_level()] == ["a", "b"]
