"""The status page: every check at a glance, server-rendered HTML, no build step.

`load_status(store, checks, now)` reads the current state of each check
(cheap queries, on the service's own connection); `HistoryReader` reads the
uptime over 24 h and 7 d and the latest runs through a read-only connection
of its own, so the server's thread does it and the event loop never waits
(the uptime, the costly part, is reused for a minute). `render_status_page`
is a pure function of both. Everything a monitored server sent (error text,
failure sentences quoting it, targets) is untrusted and goes through
`html.escape`; the server also sends a CSP that allows no script at all, as
a second wall. Words never break; a URL wraps only after its slashes, never
inside its host and port.

Incidents and silences come from the alerts package's tables (`incidents`,
`silences`), read through its `AlertStore`.
"""

from __future__ import annotations

import html
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from alerts.state_store import AlertStore
from monitor.core.config import Check
from monitor.core.store import Store

STATES = ("failing", "recovering", "silenced", "passing", "never run")


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
    if run is not None and not run["ok"]:
        return "failing"
    if incident_open:  # passing again, its incident not closed yet (success_threshold, or a stopped service)
        return "recovering" if run is not None else "failing"
    return "never run" if run is None else "passing"


# Uptime windows, as the page labels them.
WINDOWS = (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)))
STRIP_RUNS = 30  # the latest runs drawn per check
UPTIME_TTL = 60.0  # seconds an uptime figure is shown before it is read again


@dataclass(frozen=True)
class History:
    """A check's record: the share of runs that passed per window (None without a run in it), and its latest
    runs, oldest first (`Store.latest_outcomes` rows)."""

    uptime: Mapping[str, float | None] = field(default_factory=dict)
    recent: list[dict[str, Any]] = field(default_factory=list)


def read_history(store: Store, names: Iterable[str], now: datetime,
                 uptime: Mapping[str, Mapping[str, float | None]] | None = None) -> dict[str, History]:
    """Each check's `History`; `uptime` (as an earlier call computed it) is reused instead of read again."""
    found = {}
    for name in names:
        shares = uptime.get(name) if uptime is not None else None
        if shares is None:
            shares = {}
            for label, span in WINDOWS:
                runs, passed = store.passed_since(name, now - span)
                shares[label] = passed / runs if runs else None
        found[name] = History(shares, store.latest_outcomes(name, STRIP_RUNS))
    return found


class HistoryReader:
    """Reads `read_history` from the database at `path`, from the calling thread, on a connection of its own."""

    def __init__(self, path: str, ttl: float = UPTIME_TTL, clock: Callable[[], float] = time.monotonic):
        self.path = path
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._uptime: dict[str, Mapping[str, float | None]] = {}
        self._read_at = -math.inf

    def read(self, names: list[str], now: datetime) -> dict[str, History]:
        store = Store.reader(self.path)
        try:
            with self._lock:  # one reader at a time: many viewers at once read the uptime once
                fresh = self.clock() - self._read_at < self.ttl and set(names) <= set(self._uptime)
                history = read_history(store, names, now, self._uptime if fresh else None)
                if not fresh:
                    self._uptime = {name: h.uptime for name, h in history.items()}
                    self._read_at = self.clock()
        finally:
            store.close()
        return history


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
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e3e3e3;vertical-align:top;
overflow-wrap:break-word}
th{font-size:.8rem;text-transform:uppercase;color:#666;white-space:nowrap}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:.7rem;font-weight:600;font-size:.85rem;
white-space:nowrap}
.badge.failing{background:#fde2e1;color:#a50e0e}.badge.passing{background:#e2f5e6;color:#17612b}
.badge.silenced{background:#eceff3;color:#44505e}.badge.never-run{background:#f3f0e0;color:#6b5900}
.badge.recovering{background:#fff0d5;color:#7a4a00}
.target,.note,.last{color:#666;font-size:.8rem}
.target .host,.num,.uptime strong{white-space:nowrap}
.said{white-space:pre-wrap;overflow-wrap:break-word;background:#f6f6f6;padding:.3rem .4rem;margin:.3rem 0 0;
font:13px ui-monospace,monospace}
.uptime{font-size:.85rem;white-space:nowrap}.uptime span{color:#666}
.runs{display:flex;gap:2px;height:1.2rem;align-items:stretch}
.runs i{flex:0 0 5px;border-radius:1px;background:#34a853}.runs i.fail{background:#d93025}
a{color:#0b57d0}
"""


def render_status_page(statuses: list[CheckStatus], *, now: datetime, location: str,
                       links: Links = lambda path: [], history: Mapping[str, History] | None = None) -> str:
    """The whole page. `links(artifact_path)` gives (label, href) pairs for one artifact."""
    counts = {state: sum(s.state == state for s in statuses) for state in STATES}
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "no checks configured"
    title = f"{counts['failing']} failing" if counts["failing"] else "all good"
    rows = "".join(_row(s, now, links, (history or {}).get(s.name, History())) for s in statuses)
    e = html.escape
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta http-equiv="refresh" content="30">'
        f"<title>synthetic-monitor: {e(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>synthetic-monitor · {e(location)}</h1>"
        f'<p class="summary">{len(statuses)} checks: {e(summary)} · '
        f'updated <time datetime="{now.isoformat(timespec="seconds")}">{now:%Y-%m-%d %H:%M:%S} UTC</time></p>'
        "<table><thead><tr><th>Check</th><th>State</th><th>Uptime</th><th>Recent runs</th>"
        "<th>Failure / server said</th><th>Artifacts</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></body></html>"
    )


def _row(s: CheckStatus, now: datetime, links: Links, history: History) -> str:
    e = html.escape
    run = s.last_run or {}
    notes = []
    if s.incident_since:
        notes.append(f"incident open since {_ago(s.incident_since, now)}")
    if s.silenced_until:
        notes.append(f"silenced until {s.silenced_until:%Y-%m-%d %H:%M} UTC")
    note = "".join(f'<div class="note">{e(n)}</div>' for n in notes)
    failure = ""
    if run and not run["ok"]:
        text = run.get("failure") or "failed"
        # A journey's failure names its step already ("step 'open New chat': ..."): said once is enough.
        step = run.get("failing_step")
        named = f" (step “{e(step)}”)" if step and f"step '{step}'" not in text else ""
        failure = f'<div class="failure">{e(text)}{named}</div>'
        if run.get("error_text"):
            failure += f'<pre class="said">{e(run["error_text"])}</pre>'
        if run.get("browser_said"):
            failure += f'<div class="note">browser said: {e(run["browser_said"])}</div>'
    files = "".join(f'<div><a href="{e(href)}">{e(label)}</a></div>'
                    for path in s.artifacts for label, href in links(path))
    css = s.state.replace(" ", "-")
    target = f'<div class="target">{_breakable_url(run["target"])}</div>' if run.get("target") else ""
    return (f'<tr id="check-{e(s.name)}" class="{css}" data-check="{e(s.name)}"><td>{e(s.name)}{target}</td>'
            f'<td><span class="badge {css}">{e(s.state)}</span>{note}</td>'
            f"<td>{_uptime(history)}</td><td>{_strip(history, run, now)}</td>"
            f"<td>{failure}</td><td>{files}</td></tr>")


def _uptime(history: History) -> str:
    lines = []
    for label, _ in WINDOWS:
        share = history.uptime.get(label)
        lines.append(f'<div class="uptime"><strong>{_percent(share)}</strong> <span>{label}</span></div>')
    return "".join(lines)


def _percent(share: float | None) -> str:
    """99.93%: cut, never rounded up (99.996% is not 100%); "-" without runs."""
    if share is None:
        return "-"
    if share >= 1:
        return "100%"
    return f"{math.floor(share * 10000) / 100:.2f}%"


def _strip(history: History, run: Mapping[str, Any], now: datetime) -> str:
    """The latest runs as marks (each with its time, outcome, status and duration as a tooltip), and the last one."""
    e = html.escape
    marks = []
    for r in history.recent:
        started = _parse_time(r["started_at"])
        when = f"{started:%Y-%m-%d %H:%M:%S} UTC" if started else str(r["started_at"])
        parts = [when, "ok" if r["ok"] else "FAIL"]
        if r.get("status_code") is not None:
            parts.append(str(r["status_code"]))
        if r.get("duration_ms") is not None:
            parts.append(f'{r["duration_ms"]:.0f} ms')
        if not r["ok"]:
            said = ": ".join(str(t) for t in (r.get("failure"), r.get("error_text")) if t)
            parts.append(said[:300] or "failed")
        marks.append(f'<i class="{"ok" if r["ok"] else "fail"}" title="{e(" · ".join(parts), quote=True)}"></i>')
    strip = f'<div class="runs" aria-label="latest runs, oldest first">{"".join(marks)}</div>' if marks else ""
    if not run:
        return strip or "-"
    started = _parse_time(run["started_at"])
    status = f' · {e(str(run["status_code"]))}' if run.get("status_code") is not None else ""
    duration = f' · {run["duration_ms"]:.0f} ms' if run.get("duration_ms") is not None else ""
    last = (f'<div class="last">last <time datetime="{e(run["started_at"])}" title="{e(run["started_at"])}">'
            f'{e(_ago(started, now))}</time><span class="num">{status}{duration}</span></div>')
    return strip + last


def _breakable_url(url: str) -> str:
    """`url` escaped, with a break opportunity after each slash of its path and none inside scheme://host:port.

    A target that is not a URL (a "host:port") is one address: no break in it at all.
    """
    e = html.escape
    found = re.match(r"^([a-z][a-z0-9+.-]*://[^/]*)(.*)$", url, re.IGNORECASE)
    if found is None:
        return f'<span class="host">{e(url)}</span>'
    origin, rest = found.groups()
    path = "<wbr>".join(e(part) for part in re.split(r"(?<=[/?&])", rest))
    return f'<span class="host">{e(origin)}</span><wbr>{path}'


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"
