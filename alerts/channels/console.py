"""The console channel: alerts as lines on the terminal (the demo, people without Slack).

    FIRING threads-api: expected status 200, got 500: no such table: threads (failing for 2 runs since ...)
    CHANGED threads-api: connection refused (was: no such table: threads) (failing for 5 runs since ...)
    RESOLVED threads-api after 8s (4 failed runs)

Server text goes through `monitor.core.terminal.one_line`, so escape sequences in a
body cannot rewrite the screen.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from alerts.channels.base import Channel, ChannelContext, ChannelKind, Delivery, Notice
from monitor.core.config import ReadContext
from monitor.core.config_schema import Table
from monitor.core.durations import format_duration
from monitor.core.terminal import one_line


@dataclass(frozen=True)
class ConsoleSettings:
    """`[alerts.console]`: on when the table is there (or when no channel is configured), unless `enabled = false`."""


def read_console_settings(t: Table, ctx: ReadContext) -> ConsoleSettings | None:
    enabled = t.boolean("enabled", True)
    t.reject_unknown()
    return ConsoleSettings() if enabled else None


class ConsoleChannel:
    def __init__(self, stream: TextIO | None = None, name: str = "console"):
        self.name = name
        self._stream = stream

    def send(self, notice: Notice) -> Delivery:
        stream = self._stream or sys.stdout
        print(format_notice(notice), file=stream, flush=True)
        return Delivery()

    def test(self, notice: Notice) -> str:
        self.send(notice)
        return "to this terminal"


def format_notice(n: Notice) -> str:
    """One terminal line for a notice. Pure."""
    check = one_line(n.check, 64)
    if n.kind == "test":
        return f"TEST synthetic-monitor alerts reach this terminal ({check})"
    also = ""
    if n.grouped and len(n.group) > 1:
        others = ", ".join(one_line(m.check, 64) for m in n.group if m.check != n.check)
        also = f" [same error as {others}]"
    if n.kind == "resolved":
        until = n.resolved_at or n.at
        lasted = format_duration((until - n.failing_since).total_seconds()) if n.failing_since else "a while"
        ended = f"CLOSED {check}: {one_line(n.reason, 200)}, after" if n.reason else f"RESOLVED {check} after"
        return f"{ended} {lasted} ({n.runs_failed} failed runs){also}"
    state = {"firing": "FIRING", "changed": "CHANGED"}.get(n.kind, "STILL FAILING")
    line = f"{state} {check}: {one_line(n.failure or 'failed', 300)}"
    if n.error_text:
        line += f": {one_line(n.error_text, 500)}"
    if n.facts.browser_said:
        line += f" (browser said: {one_line(n.facts.browser_said, 300)})"
    if n.kind in ("changed", "reminder") and n.previous_error_text:
        line += f" (was: {one_line(n.previous_error_text, 200)})"
    when = f" since {n.failing_since:%H:%M:%S} UTC" if n.failing_since else ""
    runs = "1 run" if n.runs_failed == 1 else f"{n.runs_failed} runs"
    return f"{line} (failing for {runs}{when}){also}"


def _build(settings: ConsoleSettings, ctx: ChannelContext) -> Channel:
    return ConsoleChannel(name=ctx.name)


KIND = ChannelKind(name="console", read=read_console_settings, build=_build)
