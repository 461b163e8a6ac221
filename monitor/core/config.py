"""config.toml -> plain dataclasses, validated once at start-up.

`parse_config(text, kinds, ...)` takes text so tests feed inline TOML;
`load_config` reads the file. Both raise `ConfigError` holding every problem
found, each naming the file, the key path (`checks["threads-api"].expect.status`,
a check by its name) and what is allowed; a key that lands in the wrong table
(below a `[checks.expect]` header, say) is explained as such. Paths in the file are relative to the file's own folder.

This module reads only what every monitor has: `[monitor]`, the alert
policy in `[alerts]`, and the common keys of each `[[checks]]` table (name,
type, schedule, timeout, `[checks.alerts]`). Everything else belongs to a
kind and is read by it, through the readers in `ConfigKinds` that the
application hands in (monitor/app/config.py assembles them from
probes/ and alerts/channels/): a check type reads the rest of its check's
table, a kind may own a top-level table (`[browser]`), and each alert
channel reads its `[alerts.NAME]` table. Readers add the secrets they hold
to the `ReadContext`, so that everything the config knows as secret is
redacted from every output.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from monitor.core.config_schema import NAME_PATTERN, ConfigError, ConfigIssue, Issues, Table, check_paths, join, suggest
from monitor.core.interpolate import interpolate
from monitor.core.sharding import Share, owner, select

DEFAULT_CONFIG = "config.toml"
MAX_RETRIES = 5
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Labels the monitor sets on its series and alerts; a check's own labels cannot take them over.
RESERVED_LABELS = frozenset({"alertname", "check", "type", "location", "target", "job", "instance", "le",
                             "quantile", "result", "step", "phase", "channel", "kind"})


@dataclass(frozen=True)
class AlertPolicy:
    """When a check's runs turn into notifications."""

    failure_threshold: int = 2
    success_threshold: int = 1
    reminder_interval: float | None = 3600.0
    send_resolved: bool = True
    # The destinations ([alerts.NAME]) its notices go to; None: every configured destination.
    channels: tuple[str, ...] | None = None
    # Page through Alertmanager only when at least this many locations fail the check (a shipped Prometheus
    # rule compares it with probe_success across locations; Alertmanager inhibits below it).
    min_failing_locations: int = 1


class CheckSettings(Protocol):
    """What every check type's settings say: the thing it probes, for results, metric labels and messages."""

    @property
    def target(self) -> str: ...


@dataclass(frozen=True)
class Check:
    name: str
    type: str
    timeout: float
    # The type's own settings, as its reader returned them (probes/<type>/settings.py).
    settings: Any
    interval: float | None = None
    cron: str | None = None
    alerts: AlertPolicy = field(default_factory=AlertPolicy)
    # Who owns it, how bad it is (team = "chat", severity = "page"): on every notice, alert and the metrics' info.
    labels: Mapping[str, str] = field(default_factory=dict)
    # A failed run is tried again at once, up to this many times, before it counts as a failure.
    retries: int = 0

    @property
    def target(self) -> str:
        """What the check probes (a URL, host:port...), as the config wrote it: redact before showing."""
        return str(self.settings.target)

    @property
    def schedule(self) -> str:
        return f"cron {self.cron}" if self.cron else f"every {self.interval:g}s"


@dataclass(frozen=True)
class Destination:
    """One place notices go: the `[alerts.NAME]` table, read by the channel kind it names (`kind`, else NAME)."""

    name: str
    kind: str
    settings: Any  # as the kind's reader returned them (alerts/channels/)


@dataclass(frozen=True)
class AlertSettings:
    defaults: AlertPolicy = field(default_factory=AlertPolicy)
    group_window: float = 30.0
    # Destination name -> the destination, in the config's order.
    destinations: Mapping[str, Destination] = field(default_factory=dict)
    # Delivery retries: doubling from retry_backoff up to retry_backoff_max.
    retry_backoff: float = 1.0
    retry_backoff_max: float = 300.0


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
    # The share of the checks this monitor runs ("2/3"); every one by default.
    shard: Share = field(default_factory=Share)
    # Processes that run the checks on this machine (each a share of them), under one supervisor.
    workers: int = 1
    # "auto" (uvloop where installed), "uvloop" or "asyncio": the event loop of monitor run and its workers.
    event_loop: str = "auto"

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Config:
    path: Path
    monitor: MonitorSettings
    alerts: AlertSettings
    checks: tuple[Check, ...]
    # Top-level tables owned by a kind ("browser" -> its settings), read even when absent (defaults).
    sections: Mapping[str, Any] = field(default_factory=dict)
    # Literal secret values (tokens, auth headers) to redact from any output.
    secrets: frozenset[str] = frozenset()
    # Every check of the file, this shard's and the others' (`checks` holds this shard's).
    all_checks: tuple[Check, ...] = ()

    def for_shard(self, shard: Share) -> Config:
        """The config as the monitor running `shard` of the checks sees it (`--shard` overrides the file)."""
        everything = self.all_checks or self.checks
        mine = set(select([c.name for c in everything], shard))
        return replace(self, monitor=replace(self.monitor, shard=shard), all_checks=everything,
                       checks=tuple(c for c in everything if c.name in mine))

    def shard_of(self, name: str) -> Share | None:
        """The shard that runs check `name` (of this config's shard count), or None for a name not in the file."""
        if all(c.name != name for c in self.all_checks or self.checks):
            return None
        return Share(owner(name, self.monitor.shard.count), self.monitor.shard.count)

    def check(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def destinations_of(self, check: Check) -> tuple[str, ...]:
        """The destinations `check`'s notices go to, in the config's order."""
        routed = check.alerts.channels
        return tuple(name for name in self.alerts.destinations if routed is None or name in routed)


@dataclass
class ReadContext:
    """What a kind's reader may need besides its table."""

    base: Path  # the config file's folder: relative paths resolve against it
    secrets: set[str] = field(default_factory=set)

    def secret(self, value: str | None) -> None:
        """Declare `value` secret: it is redacted from everything the monitor stores, prints or sends."""
        if value:
            self.secrets.add(value)


# A check type reads the rest of its check's table; a section reader its own top-level table (given an empty
# one when absent); a channel reader its [alerts.NAME] table, returning None when the table turns it off.
CheckReader = Callable[[Table, ReadContext], CheckSettings]
SectionReader = Callable[[Table, ReadContext], Any]
ChannelReader = Callable[[Table, ReadContext], Any]


@dataclass(frozen=True)
class ConfigKinds:
    """The readers of every kind this monitor knows (monitor/app/config.py builds the real one)."""

    checks: Mapping[str, CheckReader]
    sections: Mapping[str, SectionReader] = field(default_factory=dict)
    channels: Mapping[str, ChannelReader] = field(default_factory=dict)
    # Channels read with an empty table when [alerts] configures no destination at all (the console).
    fallback_channels: tuple[str, ...] = ()


def load_config(path: str | os.PathLike[str], kinds: ConfigKinds, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [ConfigIssue("", "file not found; pass -c PATH or set MONITOR_CONFIG")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [ConfigIssue("", f"cannot read the file: {exc}")]) from None
    return parse_config(text, kinds, path=path, env=os.environ if env is None else env)


def parse_config(text: str, kinds: ConfigKinds, *, path: str | os.PathLike[str] = DEFAULT_CONFIG,
                 env: Mapping[str, str] | None = None) -> Config:
    """Parse and validate config text; relative paths resolve against `path`'s folder."""
    path = Path(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [ConfigIssue("", f"not valid TOML: {exc}")]) from None
    issues = Issues()
    ctx = ReadContext(path.resolve().parent)
    raw = interpolate(raw, env or {}, issues, ctx.secrets)
    root = Table(raw, "", issues)
    monitor = _read_monitor(root.table("monitor"), ctx)
    sections = {name: read(root.table(name), ctx) for name, read in kinds.sections.items()}
    alerts = _read_alerts(root.table("alerts"), kinds, ctx)
    checks = _read_checks(root, alerts, kinds, ctx)
    root.reject_unknown()
    issues.explain_table_scope(text)
    if issues.items:
        raise ConfigError(str(path), issues.items)
    ctx.secret(monitor.auth_token)
    config = Config(path, monitor, alerts, tuple(checks), sections, frozenset(ctx.secrets), tuple(checks))
    return config.for_shard(monitor.shard)


def _read_monitor(t: Table, ctx: ReadContext) -> MonitorSettings:
    d = MonitorSettings()
    listen = t.string("listen", d.listen) or d.listen
    if not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]*):\d{1,5}", listen):
        t.error("listen", f'must be "HOST:PORT" such as "127.0.0.1:9108", got {listen!r}')
        listen = d.listen
    settings = MonitorSettings(
        database=ctx.base / (t.string("database", str(d.database)) or str(d.database)),
        artifacts_dir=ctx.base / (t.string("artifacts_dir", str(d.artifacts_dir)) or str(d.artifacts_dir)),
        listen=listen,
        location=t.string("location", d.location) or d.location,
        retention_days=t.integer("retention_days", d.retention_days, minimum=1) or d.retention_days,
        max_concurrency=t.integer("max_concurrency", d.max_concurrency, minimum=1) or d.max_concurrency,
        public_url=(t.string("public_url") or "").rstrip("/") or None,
        auth_token=t.string("auth_token") or None,
        protect_metrics=t.boolean("protect_metrics", d.protect_metrics),
        shard=_read_shard(t),
        workers=_read_workers(t),
        event_loop=_read_event_loop(t),
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


def _read_shard(t: Table) -> Share:
    text = t.string("shard", "1/1")
    try:
        return Share.parse(text)
    except ValueError as exc:
        t.error("shard", f"{exc}: this monitor runs share K of N monitors that split the checks")
        return Share()


def _read_event_loop(t: Table) -> str:
    choice = t.choice("event_loop", "auto", ("auto", "uvloop", "asyncio"))
    if choice == "uvloop" and importlib.util.find_spec("uvloop") is None:
        t.error("event_loop", 'is "uvloop", which is not installed here: pip install uvloop, '
                              'or set "auto" (uvloop where installed) or "asyncio"')
    return choice


def _read_workers(t: Table) -> int:
    if t.raw.get("workers") == "auto":
        t.known.add("workers")
        return os.cpu_count() or 1
    return t.integer("workers", 1, minimum=1, maximum=64)


def _read_policy(t: Table, defaults: AlertPolicy) -> AlertPolicy:
    reminder = defaults.reminder_interval
    if "reminder_interval" in t.raw and t.raw["reminder_interval"] in ("", "off", "0"):
        t.known.add("reminder_interval")
        reminder = None
    else:
        reminder = t.duration("reminder_interval", reminder)
    channels = defaults.channels
    if "channels" in t.raw:
        names = t.get("channels", [], kind=list, allowed='an array of destination names, e.g. ["slack"]')
        if all(isinstance(n, str) for n in names):
            channels = tuple(names)
        else:
            t.error("channels", 'must be an array of destination names, e.g. ["slack"]')
    return AlertPolicy(
        failure_threshold=t.integer("failure_threshold", defaults.failure_threshold, minimum=1)
        or defaults.failure_threshold,
        success_threshold=t.integer("success_threshold", defaults.success_threshold, minimum=1)
        or defaults.success_threshold,
        reminder_interval=reminder,
        send_resolved=t.boolean("send_resolved", defaults.send_resolved),
        channels=channels,
        min_failing_locations=t.integer("min_failing_locations", defaults.min_failing_locations, minimum=1),
    )


def _read_alerts(t: Table, kinds: ConfigKinds, ctx: ReadContext) -> AlertSettings:
    policy = _read_policy(t, AlertPolicy())
    destinations = _read_destinations(t, kinds, ctx)
    _check_routes(t, policy.channels, destinations)
    settings = AlertSettings(defaults=policy, group_window=t.duration("group_window", 30.0, positive=False) or 0.0,
                             destinations=destinations,
                             retry_backoff=t.duration("retry_backoff", 1.0) or 1.0,
                             retry_backoff_max=t.duration("retry_backoff_max", 300.0) or 300.0)
    t.reject_unknown()
    return settings


def _read_destinations(t: Table, kinds: ConfigKinds, ctx: ReadContext) -> dict[str, Destination]:
    """Every sub-table of [alerts] is a destination; with none, the fallback channels (the console)."""
    names = [key for key, value in t.raw.items() if isinstance(value, dict)]
    fallback = not names
    destinations = {}
    for name in names or kinds.fallback_channels:
        table = t.table(name)
        kind = table.string("kind", name) or name
        if kind not in kinds.channels:
            known = ", ".join(kinds.channels)
            if "kind" in table.raw:
                table.error("kind", f"unknown channel kind {kind!r}; the kinds are {known}")
            else:
                t.error(name, f"is not a channel kind ({known}): for a destination of your own name, say which "
                              f'kind it is, e.g. kind = "{next(iter(kinds.channels), "slack")}"')
            continue
        settings = kinds.channels[kind](table, ctx)
        if settings is not None:
            destinations[name] = Destination(name, kind, settings)
    if fallback:  # read from empty tables: mark them known, so [alerts] stays strict about the rest
        t.known.update(kinds.fallback_channels)
    return destinations


def _check_routes(t: Table, routes: tuple[str, ...] | None, destinations: Mapping[str, Destination]) -> None:
    """Every destination a route names is configured (a typo would silently page nobody)."""
    for index, name in enumerate(routes or ()):
        if name not in destinations:
            t.issues.add(join(t.at("channels"), index),
                         f"no destination {name!r}; configured: {', '.join(destinations) or 'none'} "
                         f"(each [alerts.NAME] table is one)")


def _read_checks(root: Table, alerts: AlertSettings, kinds: ConfigKinds, ctx: ReadContext) -> list[Check]:
    raw_checks = root.get("checks", [], kind=list, allowed="an array of tables: [[checks]]")
    checks: list[Check] = []
    seen: dict[str, str] = {}
    for raw, path in zip(raw_checks, check_paths(raw_checks), strict=True):
        t = Table(raw, path, root.issues)
        check = _read_check(t, alerts, kinds, ctx)
        if check is None:
            continue
        if check.name in seen:
            t.error("name", f"duplicate check name {check.name!r} (also {seen[check.name]}); names must be unique")
            continue
        seen[check.name] = t.path
        checks.append(check)
    return checks


def _read_check(t: Table, alerts: AlertSettings, kinds: ConfigKinds, ctx: ReadContext) -> Check | None:
    errors_before = len(t.issues.items)
    name = t.string("name", required=True, allowed='a name such as "threads-api"')
    if name is not None and not NAME_PATTERN.match(name):
        t.error("name", f"{name!r} is not allowed: use 1-64 of a-z, 0-9, _ and -")
    kind = t.choice("type", "http", tuple(kinds.checks))
    timeout = t.duration("timeout", 10.0) or 10.0
    interval = t.duration("interval", None)
    cron = t.string("cron")
    if cron is not None:
        _validate_cron(t, cron)
        if interval is not None:
            t.error("cron", "set either interval or cron, not both")
    elif interval is None and "interval" not in t.raw:
        interval = 60.0
    alerts_table = t.table("alerts")
    policy = _read_policy(alerts_table, alerts.defaults)
    if "channels" in alerts_table.raw:
        _check_routes(alerts_table, policy.channels, alerts.destinations)
    alerts_table.reject_unknown()
    labels = _read_labels(t)
    retries = t.integer("retries", 0, minimum=0, maximum=MAX_RETRIES) or 0
    settings = kinds.checks[kind](t, ctx) if kind in kinds.checks else None
    t.reject_unknown()
    if len(t.issues.items) > errors_before or name is None or settings is None:
        return None
    return Check(name=name, type=kind, timeout=timeout, settings=settings, interval=interval, cron=cron,
                 alerts=policy, labels=labels, retries=retries)


def _read_labels(t: Table) -> dict[str, str]:
    """`labels = { team = "chat" }`: Prometheus label names (not ours), string values."""
    labels = {}
    for key, value in t.get("labels", {}, kind=dict, allowed='a table such as { team = "chat" }').items():
        where = join(t.at("labels"), key)
        if not LABEL_NAME.fullmatch(key) or key.startswith("__"):
            t.issues.add(where, "is not a valid label name: use letters, digits and _, not starting with a digit "
                                "or __")
        elif key in RESERVED_LABELS:
            t.issues.add(where, f"is set by the monitor itself; reserved: {', '.join(sorted(RESERVED_LABELS))}")
        elif not isinstance(value, str):
            t.issues.add(where, f'must be a string, e.g. {key} = "{value}"')
        else:
            labels[key] = value
    return labels


def _validate_cron(t: Table, cron: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(cron)
    except ValueError as exc:
        t.error("cron", f'must be a 5-field crontab such as "*/5 * * * *": {exc}')


__all__ = ["AlertPolicy", "AlertSettings", "Check", "CheckSettings", "Config", "ConfigError", "ConfigKinds",
           "Destination",
           "MonitorSettings", "ReadContext", "load_config", "parse_config", "suggest"]
