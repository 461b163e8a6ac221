"""The `monitor` command: every subcommand, its arguments and its handler, listed here; errors turned into exit codes.

Exit codes: 0 all good, 1 a check failed, 2 a config or usage error (the
pre-deploy gate in CI relies on these). Every subcommand takes
`-c/--config PATH` (default `./config.toml`, or `$MONITOR_CONFIG`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from monitor import __version__
from monitor.app import alert_commands, commands, replay
from monitor.app.cli_support import EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from monitor.app.logs import LEVELS
from monitor.core.config import DEFAULT_CONFIG, ConfigError
from monitor.core.terminal import safe

Handler = Callable[[argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as exc:
        print(safe(str(exc)), file=sys.stderr)
        print(f"{len(exc.issues)} problem(s) in {exc.file}; see the README's config reference.",
              file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"monitor: {safe(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # `monitor check` says more, itself
        print("monitor: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="checks to run (default: all)")
    p.add_argument("--json", action="store_true", help="print a JSON array of results")
    p.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML to FILE")


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


def _silence_args(p: argparse.ArgumentParser) -> None:
    _unsilence_args(p)
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--for", dest="duration", metavar="DURATION", help='how long, e.g. "2h" or "30m"')
    when.add_argument("--until", metavar="TIME", help="until an ISO time, e.g. 2026-05-01T18:00 (UTC unless "
                                                     "it names an offset)")


def _unsilence_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--channel", metavar="DEST", help="only this destination ([alerts.DEST]); default: all of them")


def _destinations_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("destinations", nargs="*", metavar="DEST", help="destinations to test (default: all)")


def _replay_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="a check of any kind")
    p.add_argument("--headed", action="store_true", help="journeys: show the browser window (needs a display)")
    p.add_argument("--slow-mo", type=float, default=None, metavar="MS",
                   help="journeys: wait MS milliseconds before each browser action")
    p.add_argument("--run", type=int, default=None, metavar="ID",
                   help="show what stored run ID recorded (see `monitor history NAME`); a journey's trace opens "
                        "in the viewer")


def _file_arg(help: str) -> Arguments:
    def arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("file", metavar="FILE", help=help)

    return arguments


def _shard_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shard", metavar="K/N", help="run share K of N of the checks (overrides [monitor] shard)")


# Every command, in the order `monitor --help` shows them: name, handler, what it does, its arguments.
COMMANDS: tuple[tuple[str, Handler, str, Arguments | None], ...] = (
    ("run", commands.cmd_run, "run the checks on their schedules until stopped (SIGHUP reloads the config)",
     _shard_arg),
    ("check", commands.cmd_check, "run checks once, now; exit 1 if any fails (a post-deploy gate)", _check_args),
    ("validate", commands.cmd_validate, "check the config file and print every problem; exit 2 if any; with "
                                        "--shard, list the checks of that shard", _shard_arg),
    ("history", commands.cmd_history, "show the latest stored runs of a check", _history_args),
    ("status", commands.cmd_status, "one line per check: state, last run, last error text", _json_arg),
    ("replay", replay.cmd_replay, "run a check now and watch it: a journey step by step (keeping its trace), an "
                                  "HTTP request and response like curl -v; or show a stored run (--run ID)",
     _replay_args),
    ("silence", alert_commands.cmd_silence, "hold a check's notifications for a while (it keeps running)",
     _silence_args),
    ("unsilence", alert_commands.cmd_unsilence, "send a check's notifications again", _unsilence_args),
    ("alert-test", alert_commands.cmd_alert_test, "send a test message through every configured alert channel",
     _destinations_arg),
    ("backup", commands.cmd_backup, "copy the database to a new FILE, safely while `monitor run` writes",
     _file_arg("the backup to create (never overwritten)")),
    ("restore", commands.cmd_restore, "replace the database with the backup FILE (`monitor run` must be stopped)",
     _file_arg("a backup made by `monitor backup` or sqlite3's .backup")),
)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS, metavar="PATH",
                        help=f"config file (default: $MONITOR_CONFIG or ./{DEFAULT_CONFIG})")
    common.add_argument("--log-format", choices=("text", "json"), default=argparse.SUPPRESS,
                        help="log lines as text (default) or JSON")
    common.add_argument("--log-level", choices=tuple(LEVELS), default=argparse.SUPPRESS,
                        help="info (default); debug adds what the libraries underneath say")
    parser = argparse.ArgumentParser(prog="monitor", parents=[common],
                                     description="Synthetic monitoring that pages with the server's own words.")
    parser.add_argument("--version", action="version", version=f"synthetic-monitor {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, handler, help, arguments in COMMANDS:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(handler=handler)
        if arguments is not None:
            arguments(p)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
