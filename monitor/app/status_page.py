"""The status page: every check at a glance, server-rendered HTML, no build step.

`load_status(store, checks, now)` reads what the page shows (read-only
queries); `render_status_page(...)` is a pure function of it. Everything a
monitored server sent (error text, failure sentences quoting it, targets) is
untrusted and goes through `html.escape`; the server also sends a CSP that
allows no script at all, as a second wall.

Incidents and silences come from the alerts package's tables (`incidents`,
`silences`), read through its `AlertStore`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from alerts.state_store import AlertStore
from monitor.core.config import Check
from monitor.core.store import Store

STATES = ("failing", "silenced", "passing", "never run")


@dataclass
class CheckStatus:
    name: str
    type: str
    state: str
    last_run: dict[str, Any] | None = None  # as `Store.latest_runs` gives it
    incident_since: datetime | None = None
    silenced_until: datetime | None = None
    # Files of the newest run that kept any (usually the latest failure).
    artifacts: list[str] = field(default_factory=list)


def load_status(store: Store, checks: Iterable[Check], now: datetime) -> list[CheckStatus]:
    """The state of every configured check, failing ones first, then config order."""
    latest = store.latest_runs()
    artifacts = _latest_artifacts(store.db)
    alert_store = AlertStore(store.db)
    incidents = {i.check: i.opened_at for i in alert_store.open_incidents()}
    silences = alert_store.silences(now)
    statuses = []
    for check in checks:
        run = latest.get(check.name)
        status = CheckStatus(check.name, check.type, _state(run, check.name in incidents, check.name in silences),
                             run, incidents.get(check.name), silences.get(check.name),
                             artifacts.get(check.name, []))
        statuses.append(status)
    return sorted(statuses, key=lambda s: STATES.index(s.state))


def _state(run: Mapping[str, Any] | None, incident_open: bool, silenced: bool) -> str:
    if silenced:
        return "silenced"
    if incident_open or (run is not None and not run["ok"]):
        return "failing"
    return "never run" if run is None else "passing"


def _latest_artifacts(db: sqlite_utils.Database) -> dict[str, list[str]]:
    rows = db.execute(
        "select r.check_name, a.path from run_artifacts a join runs r on r.id = a.run_id "
        "where a.run_id in (select max(a2.run_id) from run_artifacts a2 join runs r2 on r2.id = a2.run_id "
        "group by r2.check_name) order by a.path").fetchall()
    found: dict[str, list[str]] = {}
    for check, path in rows:
        found.setdefault(check, []).append(path)
    return found


def _parse_time(text: object) -> datetime | None:
    """The time a stored ISO timestamp names (UTC unless it says otherwise); None for anything else."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- rendering ----------------------------------------------------------------------------

Links = Callable[[str], list[tuple[str, str]]]

_STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d1d1f;background:#fafafa}
h1{font-size:1.3rem;margin:0 0 .3rem}.summary{color:#555;margin:0 0 1rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e3e3e3;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;color:#666}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:.7rem;font-weight:600;font-size:.85rem}
.badge.failing{background:#fde2e1;color:#a50e0e}.badge.passing{background:#e2f5e6;color:#17612b}
.badge.silenced{background:#eceff3;color:#44505e}.badge.never-run{background:#f3f0e0;color:#6b5900}
.target,.note{color:#666;font-size:.8rem;word-break:break-all}
.said{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;padding:.3rem .4rem;margin:.3rem 0 0;
font:13px ui-monospace,monospace}
a{color:#0b57d0}.num{white-space:nowrap}
"""


def render_status_page(statuses: list[CheckStatus], *, now: datetime, location: str,
                       links: Links = lambda path: []) -> str:
    """The whole page. `links(artifact_path)` gives (label, href) pairs for one artifact."""
    counts = {state: sum(s.state == state for s in statuses) for state in STATES}
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "no checks configured"
    title = f"{counts['failing']} failing" if counts["failing"] else "all good"
    rows = "".join(_row(s, now, links) for s in statuses)
    e = html.escape
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta http-equiv="refresh" content="30">'
        f"<title>synthetic-monitor: {e(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>synthetic-monitor · {e(location)}</h1>"
        f'<p class="summary">{len(statuses)} checks: {e(summary)} · '
        f'updated <time datetime="{now.isoformat(timespec="seconds")}">{now:%Y-%m-%d %H:%M:%S} UTC</time></p>'
        "<table><thead><tr><th>Check</th><th>State</th><th>Last run</th><th>Status</th><th>Time</th>"
        "<th>Failure / server said</th><th>Artifacts</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></body></html>"
    )


def _row(s: CheckStatus, now: datetime, links: Links) -> str:
    e = html.escape
    run = s.last_run or {}
    notes = []
    if s.incident_since:
        notes.append(f"incident open since {_ago(s.incident_since, now)}")
    if s.silenced_until:
        notes.append(f"silenced until {s.silenced_until:%Y-%m-%d %H:%M} UTC")
    note = "".join(f'<div class="note">{e(n)}</div>' for n in notes)
    last = "-"
    if run:
        started = _parse_time(run["started_at"])
        last = f'<time datetime="{e(run["started_at"])}" title="{e(run["started_at"])}">{e(_ago(started, now))}</time>'
    status = e(str(run["status_code"])) if run.get("status_code") is not None else "-"
    duration = f'{run["duration_ms"]:.0f} ms' if run.get("duration_ms") is not None else "-"
    failure = ""
    if run and not run["ok"]:
        step = f' (step “{e(run["failing_step"])}”)' if run.get("failing_step") else ""
        failure = f'<div class="failure">{e(run.get("failure") or "failed")}{step}</div>'
        if run.get("error_text"):
            failure += f'<pre class="said">{e(run["error_text"])}</pre>'
        if run.get("browser_said"):
            failure += f'<div class="note">browser said: {e(run["browser_said"])}</div>'
    files = " ".join(f'<a href="{e(href)}">{e(label)}</a>' for path in s.artifacts for label, href in links(path))
    css = s.state.replace(" ", "-")
    target = f'<div class="target">{e(run["target"])}</div>' if run.get("target") else ""
    return (f'<tr class="{css}" data-check="{e(s.name)}"><td>{e(s.name)}{target}</td>'
            f'<td><span class="badge {css}">{e(s.state)}</span>{note}</td><td class="num">{last}</td>'
            f'<td class="num">{status}</td><td class="num">{duration}</td><td>{failure}</td><td>{files}</td></tr>')


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"
