"""The commands about checks, results and the database: run, check, validate, history, status, backup, restore.

Each is one call into the library below it; mistakes raise `UsageError`
(exit 2). monitor/app/cli.py lists every command with its arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from monitor import __version__
from monitor.app.alert_commands import status_states
from monitor.app.cli_support import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    UsageError,
    config_from,
    select_checks,
    style_for,
)
from monitor.app.database import MIGRATIONS, open_store
from monitor.app.render import (
    details,
    history_table,
    interrupted_summary,
    result_dict,
    result_row,
    results_header,
    status_table,
)
from monitor.core.config import Check, Config, ConfigError
from monitor.core.config_schema import ConfigIssue
from monitor.core.results import Result, utcnow
from monitor.core.terminal import safe, table


def cmd_validate(args: argparse.Namespace) -> int:
    config = config_from(args)
    if logging.getLogger().level == logging.INFO:  # the problems are the output, not the browser starting
        logging.getLogger().setLevel(logging.WARNING)
    issues, unchecked = asyncio.run(look_deeper(config))
    for note in unchecked:
        print(f"monitor: {safe(note)}", file=sys.stderr)
    if issues:
        raise ConfigError(str(config.path), issues)
    kinds: dict[str, int] = {}
    for check in config.all_checks:
        kinds[check.type] = kinds.get(check.type, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no checks"
    print(f"{config.path}: OK ({summary})")
    if not config.monitor.shard.whole:
        names = ", ".join(c.name for c in config.checks) or "none"
        print(f"shard {config.monitor.shard} runs {len(config.checks)} of {len(config.all_checks)}: {safe(names)}")
    return EXIT_OK


async def look_deeper(config: Config) -> tuple[list[ConfigIssue], list[str]]:
    """What each probe kind finds wrong with its checks beyond the config's shape (journeys: every selector,
    parsed by Playwright), and what could not be looked at (no browser here, say)."""
    from monitor.app.runner import probe_context
    from probes import PROBE_KINDS

    issues: list[ConfigIssue] = []
    unchecked = []
    ctx = probe_context(config)
    for name, kind in PROBE_KINDS.items():
        checks = [c for c in config.checks if c.type == name]
        if kind.validate is None or not checks:
            continue
        try:
            issues += await kind.validate(checks, ctx)
        except Exception as exc:  # the kind's machinery is missing or broken here: say what was not checked
            unchecked.append(f"the {name} checks were not looked at beyond the config: {str(exc).splitlines()[0]}")
    return issues, unchecked


class Terminated(Exception):
    """`monitor check` got SIGTERM (a CI job's timeout, say): it stops as after Ctrl-C."""


def cmd_check(args: argparse.Namespace) -> int:
    config = config_from(args)
    checks = select_checks(config, args.names)
    if not checks:
        raise UsageError(f"{config.path} defines no checks; add a [[checks]] table")
    finished: list[Result] = []  # every run that ended, stored or not: what an interruption reports
    stopped_by = None
    try:
        results = asyncio.run(_check_once(config, checks, args, finished))
    except KeyboardInterrupt:
        results, stopped_by = finished, "Ctrl-C"
    except Terminated:
        results, stopped_by = finished, "SIGTERM"
    if args.json:
        print(json.dumps([result_dict(r) for r in results], indent=2, ensure_ascii=False))
    if args.junit:
        from monitor.app.junit import junit_xml

        with open(args.junit, "wb") as out:
            out.write(junit_xml(results))
    if stopped_by is not None:
        print(interrupted_summary(stopped_by, checks, finished), file=sys.stderr)
        return EXIT_TERMINATED if stopped_by == "SIGTERM" else EXIT_INTERRUPTED
    failed = [r for r in results if not r.ok]
    return EXIT_FAILED if failed else EXIT_OK


async def _check_once(config: Config, checks: list[Check], args: argparse.Namespace,
                      finished: list[Result]) -> list[Result]:
    """Run `checks` once, printing each as it ends; `finished` gets every run that ended, as it ends.

    SIGTERM cancels it as Ctrl-C does (it then raises `Terminated`); either
    way the runs that ended are stored (the writer finishes its queue) before
    it returns or raises.
    """
    from monitor.app.database import command_writer
    from monitor.app.runner import Runner, runs_printed_here

    class Finished:
        def on_result(self, check: Check, result: Result) -> None:
            finished.append(result)

    style = style_for(sys.stdout)
    writer = command_writer(config.monitor.database)
    runner = Runner(config, writer, listeners=[Finished()])
    live = not args.json
    # Rows are printed as checks finish, so fix the column widths up front.
    widths = [max(len(c.name) for c in checks), 6, 6, 6, 0]
    if live:
        print(style.dim(f"running {len(checks)} check(s)…"), flush=True)
        print(table(results_header(), [], widths), flush=True)

    def on_done(result: Result) -> None:
        if live:
            row = result_dict(result)
            print(table(results_header(), [result_row(row, style)], widths).split("\n", 1)[1], flush=True)
            extra = details(row, style)
            if extra:
                print(extra, flush=True)

    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    terminated: list[bool] = []

    def on_sigterm() -> None:
        terminated.append(True)
        if task is not None:
            task.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        with runs_printed_here():  # the table says what each run did
            results = await runner.run_many(checks, on_done=on_done, wait_stored=True)
    except asyncio.CancelledError:
        if terminated:
            raise Terminated from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await runner.close()
        writer.close()
    if live:
        failed = sum(not r.ok for r in results)
        verdict = style.red(f"{failed} of {len(results)} failed") if failed else \
            style.green(f"all {len(results)} passed")
        print(verdict)
    return results


def cmd_history(args: argparse.Namespace) -> int:
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


def cmd_status(args: argparse.Namespace) -> int:
    config = config_from(args)
    store = open_store(config.monitor.database)
    try:
        latest = store.latest_runs()
        states = status_states(config, store)
    finally:
        store.close()
    if args.json:
        print(json.dumps([{"check": c.name, "state": states.get(c.name) or (
            "never run" if c.name not in latest else "passing" if latest[c.name]["ok"] else "failing"),
            "last_run": latest.get(c.name)} for c in config.checks], indent=2, ensure_ascii=False))
        return EXIT_OK
    print(status_table(config.checks, latest, style_for(sys.stdout), utcnow(), states))
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from monitor.core.backup import BackupError, backup_database

    config = config_from(args)
    try:
        copied = backup_database(config.monitor.database, Path(args.file))
    except BackupError as exc:
        raise UsageError(str(exc)) from None
    print(f"backed up {config.monitor.database} to {copied.path}: {copied.runs} runs, {_mib(copied.size)}, "
          f"integrity ok. Restore it with: monitor restore {copied.path}")
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
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


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.app import event_loop
    from monitor.app.service import build_service
    from monitor.core.service_lock import DatabaseInUse, hold_database

    config = config_from(args)

    async def serve() -> None:
        await build_service(config, getattr(args, "log_format", "text")).serve()

    try:
        # Before anything is opened: a second service must not touch the first one's database.
        with hold_database(config.monitor.database):
            logging.getLogger("monitor").info("synthetic-monitor %s starting", __version__)
            event_loop.run(serve(), config.monitor.event_loop)
    except DatabaseInUse as exc:
        raise UsageError(f"{exc}. Two services on one database would probe and alert twice: stop that one first "
                         f"(kill {exc.pid or '<pid>'}), or give this one its own [monitor] database. One-off "
                         f"commands (check, status, history, silence, replay) work beside it.") from None
    return EXIT_OK
