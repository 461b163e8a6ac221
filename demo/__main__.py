"""`python -m demo`: serve the demo chat app, or migrate / break its database.

    python -m demo serve [--host 127.0.0.1] [--port 8000] [--db demo.db] [--broken]
    python -m demo migrate [--db demo.db]
    python -m demo break [--db demo.db]

The database is the SQLite file `--db` (default `demo.db` in the current
directory) unless DATABASE_URL holds a postgres:// or postgresql:// URL.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from demo.app import make_server
from demo.db import BackendUnavailable, DatabaseError, open_database


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="A chat app that reproduces a skipped-migration incident, for synthetic-monitor to catch.",
        epilog="DATABASE_URL=postgresql://... uses PostgreSQL (needs psycopg) instead of the --db file.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db_help = "SQLite file (default: demo.db in the current directory); DATABASE_URL overrides"

    serve = commands.add_parser("serve", help="serve the app until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default: 8000)")
    serve.add_argument("--db", default="demo.db", help=db_help)
    serve.add_argument(
        "--broken", action="store_true", help="start without the threads table, as the bad deploy did (drops it)"
    )

    migrate = commands.add_parser("migrate", help="create the threads table (idempotent): the fix")
    migrate.add_argument("--db", default="demo.db", help=db_help)

    break_ = commands.add_parser("break", help="drop the threads table: the incident")
    break_.add_argument("--db", default="demo.db", help=db_help)
    return parser


def table_state(database) -> str:
    return "present" if database.has_threads_table() else "missing"


def serve(args, database_url: str | None) -> int:
    server = make_server(
        args.host, args.port, args.db, database_url=database_url, broken=args.broken, log_requests=True
    )
    print(
        f"demo chat app on {server.base_url} "
        f"(database: {server.database.describe()}, threads table: {table_state(server.database)})",
        flush=True,
    )
    # SIGTERM (kill, docker stop) ends the server as cleanly as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    return 0


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def change_table(args, database_url: str | None) -> int:
    database = open_database(args.db, database_url)
    if args.command == "migrate":
        database.migrate()
    else:
        database.drop()
    print(f"threads table: {table_state(database)} (database: {database.describe()})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL") or None
    try:
        if args.command == "serve":
            return serve(args, database_url)
        return change_table(args, database_url)
    except BackendUnavailable as exc:
        parser.exit(2, f"python -m demo: {exc}\n")
    except (DatabaseError, OSError) as exc:
        parser.exit(1, f"python -m demo {args.command}: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
