"""The commands about alerts: `monitor silence`, `unsilence`, `alert-test`, and incidents in `monitor status`.

Each command is one call into `AlertStore` or a channel; mistakes raise
`UsageError` (exit 2). monitor/app/cli.py lists them with their arguments.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from alerts.channels import build_channels
from alerts.channels.base import DeliveryError, Notice
from alerts.state_store import ALL_CHANNELS, AlertStore, parse_ts
from monitor.app import cli_support as cli
from monitor.app.database import open_store
from monitor.core.config import Config, suggest
from monitor.core.durations import DURATION_HINT, format_duration, parse_duration
from monitor.core.results import utcnow
from monitor.core.store import Store
from monitor.core.terminal import one_line


def silence_until(args: argparse.Namespace, now: datetime) -> datetime:
    """When the silence `--for`/`--until` asks for ends; UsageError when it makes no sense."""
    if args.duration is not None:
        try:
            seconds = parse_duration(args.duration)
        except ValueError:
            raise cli.UsageError(f"--for expects {DURATION_HINT}, got {args.duration!r}") from None
        until = now + timedelta(seconds=seconds)
    else:
        try:
            until = datetime.fromisoformat(args.until)
        except ValueError:
            raise cli.UsageError(f"--until expects an ISO time such as 2026-05-01T18:00, got {args.until!r}") from None
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
    if until <= now:
        raise cli.UsageError(f"the silence would end at {until:%Y-%m-%d %H:%M} UTC, which is not in the future")
    return until


def cmd_silence(args: argparse.Namespace) -> int:
    config = cli.config_from(args)
    cli.select_checks(config, [args.name])
    channel = _destination(config, args.channel)
    now = utcnow()
    until = silence_until(args, now)
    store = open_store(config.monitor.database)
    try:
        AlertStore(store.db).silence(args.name, until, now, channel or ALL_CHANNELS)
    finally:
        store.close()
    held = f"its notices to {channel} are dropped" if channel else "notifications are held"
    undo = f"monitor unsilence {args.name}" + (f" --channel {channel}" if channel else "")
    print(f"silenced {args.name}{' on ' + channel if channel else ''} until {until.astimezone(UTC):%Y-%m-%d %H:%M:%S} "
          f"UTC ({format_duration((until - now).total_seconds())}); it keeps running and recording, {held}. "
          f"Undo: {undo}")
    return cli.EXIT_OK


def cmd_unsilence(args: argparse.Namespace) -> int:
    config = cli.config_from(args)
    cli.select_checks(config, [args.name])
    channel = _destination(config, args.channel)
    store = open_store(config.monitor.database)
    try:
        lifted = AlertStore(store.db).unsilence(args.name, channel)
    finally:
        store.close()
    where = f" on {channel}" if channel else ""
    print(f"{args.name}: notifications{where} are on again" if lifted else f"{args.name} was not silenced{where}")
    return cli.EXIT_OK


def _destination(config: Config, name: str | None) -> str | None:
    """`name` when it is a configured destination (or None); else a usage error listing them."""
    if name is not None and name not in config.alerts.destinations:
        raise cli.UsageError(f"no destination {name!r} in {config.path}{suggest(name, config.alerts.destinations)}")
    return name


def cmd_alert_test(args: argparse.Namespace) -> int:
    config = cli.config_from(args)
    for name in args.destinations:
        _destination(config, name)
    channels = [c for c in build_channels(config) if not args.destinations or c.name in args.destinations]
    if not channels:
        raise cli.UsageError("no alert channel is configured: add [alerts.slack] (see the README's Alerts "
                             "section) or [alerts.console] enabled = true")
    notice = Notice(kind="test", check="alert-test", at=utcnow())
    failed = 0
    for channel in channels:
        try:
            where = channel.test(notice)
        except DeliveryError as exc:
            failed += 1
            print(f"{channel.name}: FAILED: {one_line(exc.message, 500)}", file=sys.stderr)
            continue
        print(f"{channel.name}: test message sent {where}")
    return cli.EXIT_FAILED if failed else cli.EXIT_OK


def status_states(config: Config, store: Store) -> dict[str, str]:
    """Check -> state text for `monitor status`: open incidents, silences, undelivered alerts."""
    alerts = AlertStore(store.db)
    now = utcnow()
    latest = store.latest_runs()
    policies = {c.name: c.alerts for c in config.checks}
    states: dict[str, str] = {}
    for incident in alerts.open_incidents():
        since = incident.first_failure_at
        facts = f"incident since {since:%H:%M:%S} UTC, {incident.runs_failed} failed runs"
        run = latest.get(incident.check)
        if run is not None and run["ok"] and incident.check in policies:
            # Passing again: `monitor run` closes it after success_threshold passing runs in a row
            # (`monitor check` runs do not count towards it).
            needed = policies[incident.check].success_threshold
            states[incident.check] = (f"recovering ({facts}; it closes after {needed} passing run"
                                      f"{'s' if needed != 1 else ''} in a row under `monitor run`)")
        else:
            states[incident.check] = f"failing ({facts})"
    for check, until in alerts.silences(now).items():
        note = f"silenced until {until:%Y-%m-%d %H:%M} UTC"
        states[check] = f"{states[check]}, {note}" if check in states else note
    for (check, channel), until in alerts.channel_silences(now).items():
        note = f"silenced on {channel} until {until:%Y-%m-%d %H:%M} UTC"
        states[check] = f"{states[check]}, {note}" if check in states else note
    for failure in alerts.permanent_failures():
        failed_at = parse_ts(failure["failed_at"])
        if failed_at is None or now - failed_at > timedelta(days=1):
            continue
        check = failure["check_name"]
        if "NOT delivered" in states.get(check, ""):
            continue
        note = (f"{failure['kind']} alert NOT delivered via {failure['channel']}: "
                f"{one_line(failure['last_error'], 160)}")
        states[check] = f"{states[check]}; {note}" if check in states else note
    return states

