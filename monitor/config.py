"""config.toml -> plain dataclasses, validated once at start-up.

`parse_config(text, ...)` takes text so tests feed inline TOML; `load_config`
reads the file. Both raise `ConfigError` holding every problem found, each
naming the file, the key path (`checks[2].expect.status`) and what is allowed.
Paths in the file are relative to the file's own folder.

A probe kind adds its own keys through `CHECK_KINDS`: one reader per kind
that consumes the kind's keys from the check's table and returns its options.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from monitor.config_schema import NAME_PATTERN, ConfigError, ConfigIssue, Issues, Table, join, suggest
from monitor.interpolate import interpolate
from monitor.journey_config import read_browser_check
from monitor.redact import is_secret_name

DEFAULT_CONFIG = "config.toml"


@dataclass(frozen=True)
class Expect:
    """What a passing HTTP response looks like."""

    # Inclusive (low, high) ranges; the default accepts 200-399.
    status: tuple[tuple[int, int], ...] = ((200, 399),)
    body_contains: str | None = None
    body_not_contains: str | None = None
    body_regex: str | None = None
    # Dotted path ("data.items.0.id") -> expected value.
    json: Mapping[str, Any] = field(default_factory=dict)
    max_duration: float | None = None
    cert_min_days: int | None = None

    def status_ok(self, code: int) -> bool:
        return any(low <= code <= high for low, high in self.status)

    def describe_status(self) -> str:
        parts = []
        for low, high in self.status:
            if low == high:
                parts.append(str(low))
            elif low % 100 == 0 and high == low + 99:
                parts.append(f"{low // 100}xx")
            else:
                parts.append(f"{low}-{high}")
        return " or ".join(parts)


@dataclass(frozen=True)
class AlertPolicy:
    """When a check's runs turn into notifications."""

    failure_threshold: int = 2
    success_threshold: int = 1
    reminder_interval: float | None = 3600.0
    send_resolved: bool = True


@dataclass(frozen=True)
class HttpOptions:
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect: Expect = field(default_factory=Expect)
    follow_redirects: bool = True
    verify_tls: bool = True
    max_body_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class Check:
    name: str
    type: str
    url: str
    timeout: float
    interval: float | None = None
    cron: str | None = None
    alerts: AlertPolicy = field(default_factory=AlertPolicy)
    # Kind-specific: HttpOptions for "http", the journey for "browser".
    options: Any = None

    @property
    def schedule(self) -> str:
        return f"cron {self.cron}" if self.cron else f"every {self.interval:g}s"


@dataclass(frozen=True)
class SlackSettings:
    channel: str | None = None
    token: str | None = None
    webhook_url: str | None = None
    api_url: str | None = None


@dataclass(frozen=True)
class AlertSettings:
    defaults: AlertPolicy = field(default_factory=AlertPolicy)
    group_window: float = 30.0
    console: bool = False
    slack: SlackSettings | None = None
    # Delivery retries: doubling from retry_backoff up to retry_backoff_max.
    retry_backoff: float = 1.0
    retry_backoff_max: float = 300.0


@dataclass(frozen=True)
class BrowserSettings:
    executable_path: str | None = None
    max_concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    headless: bool = True
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonitorSettings:
    database: Path = Path("monitor.db")
    artifacts_dir: Path = Path("artifacts")
    listen: str = "127.0.0.1:9108"
    location: str = "local"
    retention_days: int = 30
    max_concurrency: int = 100
    public_url: str | None = None
    auth_token: str | None = None
    protect_metrics: bool = False

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Config:
    path: Path
    monitor: MonitorSettings
    browser: BrowserSettings
    alerts: AlertSettings
    checks: tuple[Check, ...]
    # Literal secret values (tokens, auth headers) to redact from any output.
    secrets: frozenset[str] = frozenset()

    def check(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)


def load_config(path: str | os.PathLike, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [ConfigIssue("", "file not found; pass -c PATH or set MONITOR_CONFIG")])
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [ConfigIssue("", f"cannot read the file: {exc}")])
    return parse_config(text, path=path, env=os.environ if env is None else env)


def parse_config(text: str, *, path: str | os.PathLike = DEFAULT_CONFIG,
                 env: Mapping[str, str] | None = None) -> Config:
    """Parse and validate config text; relative paths resolve against `path`'s folder."""
    path = Path(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [ConfigIssue("", f"not valid TOML: {exc}")])
    issues = Issues()
    secrets: set[str] = set()
    raw = interpolate(raw, env or {}, issues, secrets)
    root = Table(raw, "", issues)
    base = path.resolve().parent
    monitor = _read_monitor(root.table("monitor"), base)
    browser = _read_browser(root.table("browser"), base)
    alerts = _read_alerts(root.table("alerts"))
    checks = _read_checks(root, alerts.defaults, base, secrets)
    root.reject_unknown()
    if issues.items:
        raise ConfigError(str(path), issues.items)
    for value in (monitor.auth_token, alerts.slack and alerts.slack.token,
                  alerts.slack and alerts.slack.webhook_url):
        if value:
            secrets.add(value)
    return Config(path, monitor, browser, alerts, tuple(checks), frozenset(secrets))


def _read_monitor(t: Table, base: Path) -> MonitorSettings:
    d = MonitorSettings()
    listen = t.string("listen", d.listen)
    if not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]*):\d{1,5}", listen or ""):
        t.error("listen", f'must be "HOST:PORT" such as "127.0.0.1:9108", got {listen!r}')
        listen = d.listen
    settings = MonitorSettings(
        database=base / t.string("database", str(d.database)),
        artifacts_dir=base / t.string("artifacts_dir", str(d.artifacts_dir)),
        listen=listen,
        location=t.string("location", d.location),
        retention_days=t.integer("retention_days", d.retention_days, minimum=1),
        max_concurrency=t.integer("max_concurrency", d.max_concurrency, minimum=1),
        public_url=(t.string("public_url") or "").rstrip("/") or None,
        auth_token=t.string("auth_token") or None,
        protect_metrics=t.boolean("protect_metrics", d.protect_metrics),
    )
    if settings.database.resolve().is_relative_to(settings.artifacts_dir.resolve()):
        # The status server serves every file under artifacts_dir: it would publish the database, and
        # opening a file the process has open in SQLite drops SQLite's locks on it.
        t.error("database", f"{str(settings.database)!r} is inside artifacts_dir {str(settings.artifacts_dir)!r}, "
                            "which the status server serves: put the database outside it")
    host = settings.listen_host_port[0]
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.auth_token:
        t.error("listen", f"{listen!r} is reachable from other machines, and journey traces can hold "
                          "cookies: set [monitor] auth_token, or listen on 127.0.0.1")
    t.reject_unknown()
    return settings


def _read_browser(t: Table, base: Path) -> BrowserSettings:
    d = BrowserSettings()
    executable = t.string("executable_path")
    args = t.get("args", [], kind=list)
    if not all(isinstance(a, str) for a in args):
        t.error("args", "must be an array of strings")
        args = []
    settings = BrowserSettings(
        executable_path=str(base / executable) if executable else None,
        max_concurrency=t.integer("max_concurrency", d.max_concurrency, minimum=1),
        headless=t.boolean("headless", d.headless),
        args=tuple(args),
    )
    t.reject_unknown()
    return settings


def _read_policy(t: Table, defaults: AlertPolicy) -> AlertPolicy:
    reminder = defaults.reminder_interval
    if "reminder_interval" in t.raw and t.raw["reminder_interval"] in ("", "off", "0"):
        t.known.add("reminder_interval")
        reminder = None
    else:
        reminder = t.duration("reminder_interval", reminder)
    return AlertPolicy(
        failure_threshold=t.integer("failure_threshold", defaults.failure_threshold, minimum=1),
        success_threshold=t.integer("success_threshold", defaults.success_threshold, minimum=1),
        reminder_interval=reminder,
        send_resolved=t.boolean("send_resolved", defaults.send_resolved),
    )


def _read_alerts(t: Table) -> AlertSettings:
    policy = _read_policy(t, AlertPolicy())
    slack = None
    if "slack" in t.raw:
        st = t.table("slack")
        slack = SlackSettings(
            channel=st.string("channel"), token=st.string("token") or None,
            webhook_url=st.string("webhook_url") or None, api_url=st.string("api_url") or None,
        )
        if slack.token and not slack.channel:
            st.error("channel", 'is required with a token, e.g. channel = "#oncall"')
        if not slack.token and not slack.webhook_url:
            st.error("token", 'set token = "${SLACK_BOT_TOKEN}" (threads, updates) or '
                              'webhook_url = "${SLACK_WEBHOOK_URL}"')
        st.reject_unknown()
    console = t.table("console")
    console_on = console.boolean("enabled", slack is None)
    console.reject_unknown()
    settings = AlertSettings(defaults=policy, group_window=t.duration("group_window", 30.0, positive=False),
                             console=console_on, slack=slack,
                             retry_backoff=t.duration("retry_backoff", 1.0),
                             retry_backoff_max=t.duration("retry_backoff_max", 300.0))
    t.reject_unknown()
    return settings


def _read_checks(root: Table, defaults: AlertPolicy, base: Path, secrets: set[str]) -> list[Check]:
    raw_checks = root.get("checks", [], kind=list, allowed="an array of tables: [[checks]]")
    checks, seen = [], {}
    for index, raw in enumerate(raw_checks):
        t = Table(raw, join("checks", index), root.issues)
        check = _read_check(t, defaults, base, secrets)
        if check is None:
            continue
        if check.name in seen:
            t.error("name", f"duplicate check name {check.name!r} (also checks[{seen[check.name]}]); "
                            "names must be unique")
            continue
        seen[check.name] = index
        checks.append(check)
    return checks


def _read_check(t: Table, defaults: AlertPolicy, base: Path, secrets: set[str]) -> Check | None:
    errors_before = len(t.issues.items)
    name = t.string("name", required=True, allowed='a name such as "threads-api"')
    if name is not None and not NAME_PATTERN.match(name):
        t.error("name", f"{name!r} is not allowed: use 1-64 of a-z, 0-9, _ and -")
    kind = t.choice("type", "http", tuple(CHECK_KINDS))
    url = t.string("url", required=True, allowed='a URL such as "https://example.com/api/health"')
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        t.error("url", f"must be an http:// or https:// URL, got {url!r}")
    timeout = t.duration("timeout", 10.0)
    interval = t.duration("interval", None)
    cron = t.string("cron")
    if cron is not None:
        _validate_cron(t, cron)
        if interval is not None:
            t.error("cron", "set either interval or cron, not both")
    elif interval is None and "interval" not in t.raw:
        interval = 60.0
    alerts_table = t.table("alerts")
    policy = _read_policy(alerts_table, defaults)
    alerts_table.reject_unknown()
    options = CHECK_KINDS[kind](t, base, secrets)
    t.reject_unknown()
    if len(t.issues.items) > errors_before:
        return None
    return Check(name=name, type=kind, url=url, timeout=timeout, interval=interval, cron=cron,
                 alerts=policy, options=options)


def _validate_cron(t: Table, cron: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(cron)
    except ValueError as exc:
        t.error("cron", f'must be a 5-field crontab such as "*/5 * * * *": {exc}')


def _read_http(t: Table, base: Path, secrets: set[str]) -> HttpOptions:
    d = HttpOptions()
    method = (t.string("method", d.method) or d.method).upper()
    if method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        t.error("method", f"must be an HTTP method such as GET or POST, got {method!r}")
    headers = t.mapping("headers")
    for header, value in headers.items():
        if is_secret_name(header) and value:
            secrets.add(value)
            # "Bearer abc": the token alone may also show up in responses.
            secrets.update(part for part in value.split() if len(part) >= 8)
    body = t.get("body", None, kind=str)
    json_body = t.get("json", None, kind=(dict, list))
    if body is not None and json_body is not None:
        t.error("json", "set either body or json, not both")
    payload = body.encode() if body is not None else None
    if json_body is not None:
        import json

        payload = json.dumps(json_body).encode()
        headers = {"content-type": "application/json", **headers}
    return HttpOptions(
        method=method, headers=headers, body=payload,
        expect=_read_expect(t.table("expect")),
        follow_redirects=t.boolean("follow_redirects", d.follow_redirects),
        verify_tls=t.boolean("verify_tls", d.verify_tls),
        max_body_bytes=t.integer("max_body_bytes", d.max_body_bytes, minimum=1024),
    )


_STATUS_HINT = 'an array of status codes or classes, e.g. [200, 204] or ["2xx"]'


def _read_expect(t: Table) -> Expect:
    raw_status = t.get("status", None, kind=(list, int, str), allowed=_STATUS_HINT)
    status = Expect.status
    if raw_status is not None:
        ranges = []
        for i, item in enumerate(raw_status if isinstance(raw_status, list) else [raw_status]):
            parsed = _status_range(item)
            if parsed is None:
                t.issues.add(join(t.at("status"), i) if isinstance(raw_status, list) else t.at("status"),
                             f"must be {_STATUS_HINT}, got {item!r}")
            else:
                ranges.append(parsed)
        status = tuple(ranges) or status
    regex = t.string("body_regex")
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            t.error("body_regex", f"is not a valid regular expression: {exc}")
    expect = Expect(
        status=status,
        body_contains=t.string("body_contains"),
        body_not_contains=t.string("body_not_contains"),
        body_regex=regex,
        json=t.get("json", {}, kind=dict),
        max_duration=t.duration("max_duration", None),
        cert_min_days=t.integer("cert_min_days", None, minimum=0),
    )
    t.reject_unknown()
    return expect


def _status_range(item: Any) -> tuple[int, int] | None:
    if isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
        return item, item
    if isinstance(item, str) and re.fullmatch(r"[1-5]xx", item.lower()):
        low = int(item[0]) * 100
        return low, low + 99
    return None


# One reader per probe kind; a new kind is one module plus one line here.
CHECK_KINDS: dict[str, Callable[[Table, Path, set[str]], Any]] = {
    "http": _read_http,
    "browser": read_browser_check,
}


__all__ = ["Config", "ConfigError", "Check", "Expect", "AlertPolicy", "HttpOptions",
           "MonitorSettings", "BrowserSettings", "AlertSettings", "SlackSettings",
           "load_config", "parse_config", "CHECK_KINDS", "suggest"]
