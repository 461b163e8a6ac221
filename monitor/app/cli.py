"""The `monitor` command: a thin layer over config, runner, store and service.

Exit codes: 0 all good, 1 a check failed, 2 a config or usage error (the
pre-deploy gate in CI relies on these). Every subcommand takes
`-c/--config PATH` (default `./config.toml`, or `$MONITOR_CONFIG`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable

from monitor import __version__
from monitor.app.config import load_config
from monitor.core.config import DEFAULT_CONFIG, Config, ConfigError, suggest
from monitor.app.logs import setup_logging
from monitor.app.render import details, history_table, result_dict, result_row, results_header, status_table
from monitor.core.results import utcnow
from monitor.app.database import MIGRATIONS, open_store

from monitor.core.terminal import Style, safe, table

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake on the command line or in the config: exit 2 with this message."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(safe(str(exc)), file=sys.stderr)
        print(f"{len(exc.issues)} problem(s) in {exc.file}; see the README's config reference.",
              file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"monitor: {safe(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS, metavar="PATH",
                        help=f"config file (default: $MONITOR_CONFIG or ./{DEFAULT_CONFIG})")
    common.add_argument("--log-format", choices=("text", "json"), default=argparse.SUPPRESS,
                        help="log lines as text (default) or JSON")
    parser = argparse.ArgumentParser(prog="monitor", parents=[common],
                                     description="Synthetic monitoring that pages with the server's own words.")
    parser.add_argument("--version", action="version", version=f"synthetic-monitor {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    command("run", cmd_run, "run the checks on their schedules until stopped (SIGHUP reloads the config)")
    p = command("check", cmd_check, "run checks once, now; exit 1 if any fails (a post-deploy gate)")
    p.add_argument("names", nargs="*", metavar="NAME", help="checks to run (default: all)")
    p.add_argument("--json", action="store_true", help="print a JSON array of results")
    p.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML to FILE")
    command("validate", cmd_validate, "check the config file and print every problem; exit 2 if any")
    p = command("history", cmd_history, "show the latest stored runs of a check")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command("status", cmd_status, "one line per check: state, last run, last error text")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command("backup", cmd_backup, "copy the database to a new FILE, safely while `monitor run` writes")
    p.add_argument("file", metavar="FILE", help="the backup to create (never overwritten)")
    p = command("restore", cmd_restore, "replace the database with the backup FILE (`monitor run` must be stopped)")
    p.add_argument("file", metavar="FILE", help="a backup made by `monitor backup` or sqlite3's .backup")
    for extend in EXTRA_COMMANDS:
        extend(command)
    return parser


# Later modules add their subcommands here: f(command) -> None.
EXTRA_COMMANDS: list[Callable] = []


def config_from(args) -> Config:
    path = getattr(args, "config", None) or os.environ.get("MONITOR_CONFIG") or DEFAULT_CONFIG
    config = load_config(path)
    setup_logging(getattr(args, "log_format", "text"), secrets=config.secrets)
    return config


def style_for(stream) -> Style:
    return Style(stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb")


def select_checks(config: Config, names: list[str]):
    if not names:
        return list(config.checks)
    known = [c.name for c in config.checks]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"no check named {unknown[0]!r} in {config.path}{suggest(unknown[0], known)}")
    return [config.check(n) for n in names]


def cmd_validate(args) -> int:
    config = config_from(args)
    kinds = {}
    for check in config.checks:
        kinds[check.type] = kinds.get(check.type, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no checks"
    print(f"{config.path}: OK ({summary})")
    return EXIT_OK


def cmd_check(args) -> int:
    config = config_from(args)
    checks = select_checks(config, args.names)
    if not checks:
        raise UsageError(f"{config.path} defines no checks; add a [[checks]] table")
    results = asyncio.run(_check_once(config, checks, args))
    if args.json:
        print(json.dumps([result_dict(r) for r in results], indent=2, ensure_ascii=False))
    if args.junit:
        from monitor.app.junit import junit_xml

        with open(args.junit, "wb") as out:
            out.write(junit_xml(results))
    failed = [r for r in results if not r.ok]
    return EXIT_FAILED if failed else EXIT_OK


async def _check_once(config: Config, checks, args):
    from monitor.app.runner import Runner
    from monitor.app.database import command_writer

    style = style_for(sys.stdout)
    # The table says what each run did; one log line per run would repeat it.
    run_log = logging.getLogger("monitor.runs")
    previous_level = run_log.level
    run_log.setLevel(logging.ERROR)
    writer = command_writer(config.monitor.database)
    runner = Runner(config, writer)
    live = not args.json
    # Rows are printed as checks finish, so fix the column widths up front.
    widths = [max(len(c.name) for c in checks), 6, 6, 6, 0]
    if live:
        print(style.dim(f"running {len(checks)} check(s)…"), flush=True)
        print(table(results_header(), [], widths), flush=True)

    def on_done(result) -> None:
        if live:
            row = result_dict(result)
            print(table(results_header(), [result_row(row, style)], widths).split("\n", 1)[1], flush=True)
            extra = details(row, style)
            if extra:
                print(extra, flush=True)

    try:
        results = await runner.run_many(checks, on_done=on_done, wait_stored=True)
    finally:
        await runner.close()
        writer.close()
        run_log.setLevel(previous_level)
    if live:
        failed = sum(not r.ok for r in results)
        verdict = style.red(f"{failed} of {len(results)} failed") if failed else \
            style.green(f"all {len(results)} passed")
        print(verdict)
    return results


def cmd_history(args) -> int:
    config = config_from(args)
    select_checks(config, [args.name])
    store = open_store(config.monitor.database)
    try:
        rows = store.history(args.name, args.limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print(f"no runs of {args.name} yet; run `monitor check {args.name}`")
        return EXIT_OK
    style = style_for(sys.stdout)
    print(history_table(rows, style))
    latest_failed = next((r for r in rows if not r["ok"]), None)
    if latest_failed and (latest_failed.get("steps") or latest_failed.get("artifacts")):
        print(f"\nlatest failed run {latest_failed['id']}:")
        print(details(latest_failed, style))
    return EXIT_OK


def cmd_status(args) -> int:
    config = config_from(args)
    store = open_store(config.monitor.database)
    try:
        latest = store.latest_runs()
        states = {}
        for extend in STATUS_EXTENSIONS:
            states.update(extend(config, store))
    finally:
        store.close()
    if args.json:
        print(json.dumps([{"check": c.name, "state": states.get(c.name) or (
            "never run" if c.name not in latest else "passing" if latest[c.name]["ok"] else "failing"),
            "last_run": latest.get(c.name)} for c in config.checks], indent=2, ensure_ascii=False))
        return EXIT_OK
    print(status_table(config.checks, latest, style_for(sys.stdout), utcnow(), states))
    return EXIT_OK


def cmd_backup(args) -> int:
    from monitor.core.backup import BackupError, backup_database

    config = config_from(args)
    try:
        copied = backup_database(config.monitor.database, Path(args.file))
    except BackupError as exc:
        raise UsageError(str(exc)) from None
    print(f"backed up {config.monitor.database} to {copied.path}: {copied.runs} runs, {_mib(copied.size)}, "
          f"integrity ok. Restore it with: monitor restore {copied.path}")
    return EXIT_OK


def cmd_restore(args) -> int:
    from monitor.core.backup import BackupError, restore_database
    from monitor.core.service_lock import DatabaseInUse, hold_database

    config = config_from(args)
    try:
        with hold_database(config.monitor.database):  # and no service can start meanwhile
            copied = restore_database(Path(args.file), config.monitor.database, MIGRATIONS)
    except DatabaseInUse as exc:
        raise UsageError(f"{exc}. Stop it first (kill {exc.pid or '<pid>'}): a restore replaces the database "
                         f"under it.") from None
    except BackupError as exc:
        raise UsageError(str(exc)) from None
    print(f"restored {config.monitor.database} from {args.file}: {copied.runs} runs")
    return EXIT_OK


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


# f(config, store) -> {check name: state text}; alerts adds incidents and silences.
STATUS_EXTENSIONS: list[Callable] = []


def cmd_run(args) -> int:
    from monitor.app.service import build_service
    from monitor.core.service_lock import DatabaseInUse, hold_database

    config = config_from(args)

    async def serve() -> None:
        await build_service(config).serve()

    try:
        # Before anything is opened: a second service must not touch the first one's database.
        with hold_database(config.monitor.database):
            logging.getLogger("monitor").info("synthetic-monitor %s starting", __version__)
            asyncio.run(serve())
    except DatabaseInUse as exc:
        raise UsageError(f"{exc}. Two services on one database would probe and alert twice: stop that one first "
                         f"(kill {exc.pid or '<pid>'}), or give this one its own [monitor] database. One-off "
                         f"commands (check, status, history, silence, replay) work beside it.") from None
    return EXIT_OK


# Modules that add commands through EXTRA_COMMANDS and STATUS_EXTENSIONS
# (imported last: they import this module).
import monitor.app.cli_alerts  # noqa: E402,F401  silence, unsilence, alert-test; incidents in status
from monitor.app import replay  # noqa: E402,F401  replay

if __name__ == "__main__":
    raise SystemExit(main())
