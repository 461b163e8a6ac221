"""`monitor replay NAME`: run a check once, now, and watch it; or look at a stored run. Every kind replays.

    monitor replay new-chat                      a journey: each step live, with its duration and captured errors
    monitor replay new-chat --headed --slow-mo 500   a visible browser, slowed down for a person
    monitor replay threads-api                   an HTTP check: its request sent again, shown like `curl -v`
    monitor replay new-chat --run 42             what run 42 recorded (a journey's: and its trace in the viewer)

A replayed run is stored like any other (so `--run` and retention apply to
it); a replayed journey always keeps its trace, passing or not. A kind
without a replay of its own is run once and its result printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from monitor.app.cli_support import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    config_from,
    select_checks,
    style_for,
)
from monitor.app.database import open_store
from monitor.app.render import Row, captured_lines, details, outcome, result_dict, verdict_lines
from monitor.app.replay_http import replay_request, replays_requests
from monitor.core.config import Check, Config
from monitor.core.durations import format_duration
from monitor.core.results import Result, StepResult
from monitor.core.terminal import Style, one_line, safe


def cmd_replay(args: argparse.Namespace) -> int:
    config = config_from(args)
    check = select_checks(config, [args.name])[0]
    style = style_for(sys.stdout)
    if args.run is not None:
        return show_run(config, check, args.run, style)
    if check.type != "browser":
        if args.headed or args.slow_mo is not None:
            raise UsageError(f"--headed and --slow-mo watch a browser; {check.name!r} is a {check.type} check")
        if replays_requests(check):
            return replay_request(config, check, style)
        return _run_once(config, check, style)
    if args.headed and not has_display():
        raise UsageError("--headed needs a display ($DISPLAY or $WAYLAND_DISPLAY): run without --headed "
                         "(the trace shows every step), or under `xvfb-run`")
    if args.slow_mo is not None and args.slow_mo < 0:
        raise UsageError("--slow-mo must be 0 or more milliseconds")
    result = asyncio.run(_replay(config, check, args, style))
    print()
    for line in verdict_lines(result, style):
        print(line)
    for path in result.artifacts:
        print(f"artifact: {safe(config.monitor.artifacts_dir / path)}")
    if result.run_id is not None:
        print(f"stored as run {result.run_id}; open its trace: monitor replay {check.name} --run {result.run_id}")
    return EXIT_OK if result.ok else EXIT_FAILED


async def _replay(config: Config, check: Check, args: argparse.Namespace, style: Style) -> Result:
    from monitor.app.runner import probe_context, run_once_stored
    from probes.browser.probe import BrowserProbe
    from probes.browser.runtime import BrowserRuntime

    runtime = BrowserRuntime(config.sections["browser"], headless=not args.headed, slow_mo_ms=args.slow_mo)
    probe = BrowserProbe(probe_context(config), runtime, keep="always", on_event=LivePrinter(style))
    print(style.dim(f"replaying {check.name}: {safe(check.target)}"), flush=True)
    return await run_once_stored(config, check, {"browser": probe})


def _run_once(config: Config, check: Check, style: Style) -> int:
    """A kind without a replay of its own: run it once through its probe, store it, print what it did."""
    from monitor.app.runner import run_once_stored

    result = asyncio.run(run_once_stored(config, check))
    row = result_dict(result)
    print(f"{check.name}: {outcome(row, style)} in {format_duration(result.duration_ms / 1000)}"
          + (f": {one_line(result.failure, 300)}" if result.failure else ""))
    extra = details(row, style)
    if extra:
        print(extra)
    if result.run_id is not None:
        print(f"stored as run {result.run_id}")
    return EXIT_OK if result.ok else EXIT_FAILED


class LivePrinter:
    """Prints each step as it starts and ends, with the errors captured during it."""

    def __init__(self, style: Style, out: TextIO | None = None):
        self.style = style
        self.out = out

    def __call__(self, kind: str, payload: object) -> None:
        """A journey's event (probes/browser/probe.py): "step-start" with the step's name, "step-end" with a dict."""
        out = self.out or sys.stdout
        if kind == "step-start":
            print(self.style.dim(f"  … {one_line(payload, 100)}"), file=out, flush=True)
        elif kind == "step-end":
            if not isinstance(payload, Mapping):
                raise TypeError(f"a step-end event carries a mapping, got {type(payload).__name__}")
            self._step_end(payload, out)

    def _step_end(self, payload: Mapping[str, Any], out: TextIO) -> None:
        """The finished step (`step`) with the failed requests (`network`) and messages it captured."""
        step: StepResult = payload["step"]
        mark = self.style.green("✓") if step.ok else self.style.red("✗")
        error = f"  {one_line(step.error, 300)}" if step.error else ""
        print(f"  {mark} {one_line(step.name, 100)}  {format_duration(step.duration_ms / 1000)}{error}",
              file=out, flush=True)
        messages = payload["messages"]
        captured = {"network": payload["network"],
                    "console": [m for m in messages if m["kind"] == "console"],
                    "page_errors": [m for m in messages if m["kind"] == "page_error"]}
        for line in captured_lines(captured, self.style, indent="      "):
            print(line, file=out, flush=True)


def show_run(config: Config, check: Check, run_id: int, style: Style) -> int:
    """What stored run `run_id` of `check` recorded; a journey's trace opens in Playwright's viewer."""
    name = check.name
    store = open_store(config.monitor.database)
    try:
        row = store.run(run_id)
    finally:
        store.close()
    if row is None or row["check_name"] != name:
        raise UsageError(f"no run {run_id} of {name!r}; see `monitor history {name}`")
    verdict = style.green("ok") if row["ok"] else style.red("FAIL")
    print(f"run {row['id']} of {name} at {row['started_at'][:19].replace('T', ' ')} UTC: {verdict} "
          f"in {format_duration(row['duration_ms'] / 1000)}")
    if row.get("failure"):
        print(f"  {one_line(row['failure'], 300)}")
    if row["type"] != "browser":
        for line in recorded_lines(row):
            print(line)
        print(details(row, style))
        print(f"send it again now and see the whole exchange: monitor replay {name}")
        return EXIT_OK
    print(details(row, style))
    traces = [config.monitor.artifacts_dir / p for p in row["artifacts"] if p.endswith("trace.zip")]
    if not traces:
        mode = config.sections["browser"].trace
        print(f'no trace kept for this run: passing runs keep none, and [browser] trace = "{mode}" decides which '
              f"failing ones record one. `monitor replay {name}` runs it again with a trace")
        return EXIT_OK
    trace = traces[0]
    if not trace.is_file():
        print(f"the trace {safe(trace)} is gone (deleted after retention_days?)")
        return EXIT_OK
    command = show_trace_command(trace)
    if not has_display():
        print("no display here. Open the trace on a machine with a browser: copy it there and run\n"
              f"  playwright show-trace {safe(trace.name)}\n"
              "or serve the viewer from here and open http://127.0.0.1:9322 "
              "(e.g. through ssh -L 9322:127.0.0.1:9322):\n"
              f"  {' '.join(safe(c) for c in command)}")
        return EXIT_OK
    print(f"opening the trace viewer (Ctrl-C to stop): {' '.join(safe(c) for c in command)}", flush=True)
    try:
        subprocess.call(command)
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def recorded_lines(row: Row) -> list[str]:
    """What a stored run of a check without a trace recorded: the request, the status, the phases. Pure."""
    request = " ".join(one_line(v, 300) for v in (row.get("method"), row.get("target")) if v)
    status = f" -> {row['status_code']}" if row.get("status_code") is not None else " -> no response"
    lines = [f"  {request}{status}"]
    phases = row.get("phases") or {}
    if phases:
        lines.append("  " + ", ".join(f"{name} {format_duration(seconds)}" for name, seconds in phases.items()))
    return lines


def show_trace_command(trace: Path) -> list[str]:
    """Serve Playwright's trace viewer for `trace` and open it in the default browser.

    Served rather than the viewer's own window: that window needs Playwright's
    downloaded Chromium, which machines using the system's Chromium lack.
    """
    cli = Path(sys.executable).parent / "playwright"
    program = [str(cli)] if cli.exists() else [shutil.which("playwright") or "playwright"]
    return [*program, "show-trace", "--host", "127.0.0.1", "--port", "9322", str(trace.resolve())]


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
