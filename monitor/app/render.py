"""What the CLI prints: pure functions from results and rows to text.

Inputs are plain dicts (a stored run, or `result_dict(result)`), so the same
code prints a fresh `monitor check` and a stored `monitor history`. Every
server-sent string goes through `terminal.one_line`/`safe`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from monitor.core.config import Check
from monitor.core.durations import format_duration
from monitor.core.results import Result
from monitor.core.terminal import Style, one_line, safe, table

# A run as plain data, read by key: a stored run (`Store.history`, `Store.latest_runs`) or `result_dict(result)`.
Row = Mapping[str, Any]


def result_dict(result: Result) -> dict[str, Any]:
    """A run as JSON-ready data: the contract of `monitor check --json`."""
    data = asdict(result)
    data["started_at"] = result.started_at.isoformat(timespec="milliseconds")
    return data


def outcome(row: Row, style: Style) -> str:
    return style.green("ok") if row["ok"] else style.red("FAIL")


def _status(row: Row) -> str:
    return str(row["status_code"]) if row.get("status_code") is not None else "-"


def results_header() -> list[str]:
    return ["CHECK", "RESULT", "STATUS", "TIME", "FAILURE / SERVER SAID"]


def result_row(row: Row, style: Style) -> list[str]:
    return [row["check"], outcome(row, style), _status(row), format_duration(row["duration_ms"] / 1000),
            _explanation(row, style)]


def details(row: Row, style: Style) -> str:
    """Extra lines under a failed run: steps, the server's words, artifacts."""
    lines = []
    for step in row.get("steps") or []:
        mark = style.green("✓") if step["ok"] else style.red("✗")
        err = f"  {one_line(step['error'], 200)}" if step.get("error") else ""
        lines.append(f"    {mark} {one_line(step['name'], 80)}  {format_duration(step['duration_ms'] / 1000)}{err}")
    lines += said_lines(row, style)
    lines += captured_lines(row.get("details") or {}, style)
    lines += retried_lines(row.get("details") or {}, style)
    for path in row.get("artifacts") or []:
        lines.append(f"    artifact: {safe(path)}")
    return "\n".join(lines)


def retried_lines(details: Mapping[str, Any], style: Style, indent: str = "    ") -> list[str]:
    """The tries before the run (`retries` in the config), each with its failure and the server's words."""
    lines = []
    for number, attempt in enumerate(details.get("retried") or [], 1):
        said = f": {one_line(attempt['error_text'], 200)}" if attempt.get("error_text") else ""
        lines.append(f"{indent}{style.yellow('↻')} try {number} failed: {one_line(attempt.get('failure'), 200)}{said}")
    return lines


def verdict_lines(result: Result, style: Style) -> list[str]:
    """How a replayed run ended: passed in how long, or FAILED with the failure and the words said."""
    if result.ok:
        return [style.green(f"passed in {format_duration(result.duration_ms / 1000)}")]
    return [style.red(f"FAILED: {one_line(result.failure, 300)}"), *said_lines(result_dict(result), style, indent="")]


def said_lines(row: Row, style: Style, indent: str = "    ") -> list[str]:
    """The server's words of a failed run, and apart from them what the browser said (never as the server's)."""
    if row["ok"]:
        return []
    lines = []
    if row.get("error_text"):
        lines.append(f"{indent}server said: {style.bold(one_line(row['error_text'], 500))}")
    if row.get("browser_said"):
        lines.append(f"{indent}browser said: {one_line(row['browser_said'], 300)}")
    return lines


def captured_lines(details: Mapping[str, Any], style: Style, indent: str = "    ") -> list[str]:
    """What a browser journey captured: failed requests, console errors, page errors."""
    lines = []
    for e in details.get("network") or []:
        outcome_ = e.get("status") if e.get("status") is not None else e.get("failure")
        said = f": {one_line(e['error_text'], 200)}" if e.get("error_text") else ""
        lines.append(f"{indent}{style.yellow('!')} {one_line(e.get('method'))} {one_line(e.get('url'), 120)} "
                     f"-> {one_line(outcome_)}{said}")
    for kind, label in (("console", "console error"), ("page_errors", "page error")):
        for m in details.get(kind) or []:
            lines.append(f"{indent}{style.yellow('!')} {label}: {one_line(m.get('text'), 200)}")
    return lines


def interrupted_summary(by: str, checks: Iterable[Check], finished: Iterable[Result]) -> str:
    """What `monitor check` stopped by `by` ("Ctrl-C") had done: the runs it stored, and what never finished."""
    done = {r.check: r for r in finished}
    stored = [f"{one_line(r.check, 64)} (run {r.run_id})" for r in done.values() if r.run_id is not None]
    unstored = [one_line(r.check, 64) for r in done.values() if r.run_id is None]
    cut = [one_line(c.name, 64) for c in checks if c.name not in done]
    total = len(done) + len(cut)
    lines = [f"interrupted ({by}): {len(done)} of {total} check(s) finished"]
    if stored:
        lines.append(f"  stored: {', '.join(stored)}")
    if unstored:
        lines.append(f"  finished but not stored (the database did not take them in time): {', '.join(unstored)}")
    if cut:
        lines.append(f"  cut short, nothing stored: {', '.join(cut)}")
    return "\n".join(lines)


def history_table(rows: Iterable[Row], style: Style) -> str:
    headers = ["RUN", "STARTED (UTC)", "RESULT", "STATUS", "TIME", "FAILURE / SERVER SAID"]
    body = [[str(r["id"]), r["started_at"][:19].replace("T", " "), outcome(r, style), _status(r),
             format_duration(r["duration_ms"] / 1000), _explanation(r, style)] for r in rows]
    return table(headers, body)


def status_table(checks: Iterable[Check], latest: Mapping[str, Row], style: Style, now: datetime,
                 states: Mapping[str, str] | None = None) -> str:
    """One line per configured check: state, last run, what the server last said.

    `states` overrides the state shown (e.g. "failing (incident)", "silenced").
    """
    rows = []
    for check in checks:
        run = latest.get(check.name)
        said = (states or {}).get(check.name)
        if run is None:  # a silence can come before the first run
            rows.append([check.name, style.yellow(said) if said else style.dim("never run"), "-", ""])
            continue
        state = said or ("passing" if run["ok"] else "failing")
        coloured = style.green(state) if state == "passing" else style.red(state) \
            if state.startswith("failing") else style.yellow(state)
        rows.append([check.name, coloured, ago(run["started_at"], now), _explanation(run, style)])
    return table(["CHECK", "STATE", "LAST RUN", "LAST FAILURE / SERVER SAID"], rows)


def ago(iso: str, now: datetime) -> str:
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_duration(max(0.0, (now - moment).total_seconds())) + " ago"


def _explanation(row: Row, style: Style) -> str:
    if row["ok"]:
        return ""
    text = one_line(row.get("failure") or "failed", 120)
    if row.get("error_text"):
        text += ": " + style.bold(one_line(row["error_text"], 160))
    return text
