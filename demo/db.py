"""The demo's two database backends behind one small interface.

`open_database(db_path, database_url)` picks the backend: PostgreSQL when
`database_url` is a postgres:// or postgresql:// URL (psycopg v3, imported only
then), otherwise a SQLite file at `db_path`. Both offer:

    describe() -> str                 where the data lives, without credentials
    has_threads_table() -> bool
    migrate()                         CREATE TABLE IF NOT EXISTS threads
    drop()                            DROP TABLE IF EXISTS threads (the "bad deploy")
    list_threads() -> list[dict]      [{"id", "title", "created_at"}], oldest first
    create_thread(title) -> dict
    get_thread(id) -> dict | None
    delete_thread(id) -> bool         whether there was such a thread

Every call opens and closes its own connection, so the threaded HTTP server
needs no locking and a migration run from another process is seen at once.

Exceptions:

    Exception
     ├── DatabaseError        the database refused a query; str() is its own text
     └── BackendUnavailable   the backend cannot be used (bad URL, no psycopg)
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

POSTGRES_SCHEMES = ("postgres://", "postgresql://")


class DatabaseError(Exception):
    """The database refused a query; the message is the database's own words.

    That text ("no such table: threads", `relation "threads" does not exist`)
    is exactly what the demo's API puts in `{"error": ...}`.
    """


class BackendUnavailable(Exception):
    """The requested backend cannot be used; the message says how to fix it."""


def is_postgres_url(url: str | None) -> bool:
    """Return True when `url` names a PostgreSQL database."""
    return bool(url) and url.startswith(POSTGRES_SCHEMES)


def open_database(db_path: str | Path, database_url: str | None = None):
    """Return the backend for `database_url` if it is a PostgreSQL URL, else SQLite at `db_path`.

    Raises BackendUnavailable when `database_url` is set but is not a
    PostgreSQL URL, or when psycopg is not installed.
    """
    if not database_url:
        return SQLiteDatabase(db_path)
    if is_postgres_url(database_url):
        return PostgresDatabase(database_url)
    scheme = database_url.split(":", 1)[0]
    raise BackendUnavailable(
        f"DATABASE_URL has scheme {scheme!r}; the demo only understands postgres:// "
        "and postgresql:// URLs. Unset DATABASE_URL to use the SQLite file given by --db."
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SQLiteDatabase:
    """The default backend: one SQLite file, created on first use."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def describe(self) -> str:
        return f"SQLite {self.path.resolve()}"

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            with closing(sqlite3.connect(self.path, timeout=5)) as conn, conn:
                return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise DatabaseError(str(exc)) from exc

    def has_threads_table(self) -> bool:
        rows = self._run("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'threads'")
        return bool(rows)

    def migrate(self) -> None:
        self._run(
            "CREATE TABLE IF NOT EXISTS threads ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " title TEXT NOT NULL,"
            " created_at TEXT NOT NULL)"
        )

    def drop(self) -> None:
        self._run("DROP TABLE IF EXISTS threads")

    def list_threads(self) -> list[dict]:
        rows = self._run("SELECT id, title, created_at FROM threads ORDER BY id")
        return [{"id": id_, "title": title, "created_at": created} for id_, title, created in rows]

    def create_thread(self, title: str) -> dict:
        rows = self._run(
            "INSERT INTO threads (title, created_at) VALUES (?, ?) RETURNING id, title, created_at",
            (title, _now()),
        )
        id_, title, created = rows[0]
        return {"id": id_, "title": title, "created_at": created}

    def get_thread(self, thread_id: int) -> dict | None:
        rows = self._run("SELECT id, title, created_at FROM threads WHERE id = ?", (thread_id,))
        return {"id": rows[0][0], "title": rows[0][1], "created_at": rows[0][2]} if rows else None

    def delete_thread(self, thread_id: int) -> bool:
        return bool(self._run("DELETE FROM threads WHERE id = ? RETURNING id", (thread_id,)))


class PostgresDatabase:
    """PostgreSQL through psycopg v3; the backend of the original incident."""

    def __init__(self, url: str):
        try:
            import psycopg  # only needed, and only imported, for PostgreSQL URLs
        except ImportError as exc:
            raise BackendUnavailable(
                "DATABASE_URL points at PostgreSQL but psycopg is not installed: "
                "pip install 'synthetic-monitor[postgres]' (or 'psycopg[binary]')"
            ) from exc
        self._psycopg = psycopg
        self.url = url

    def describe(self) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"PostgreSQL {host}{port}{parts.path}"  # never the password

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            with self._psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                cursor = conn.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        except self._psycopg.Error as exc:
            # str(exc) adds "LINE 1: ..." context; the primary message is the
            # one-line text the incident saw: relation "threads" does not exist
            diag = getattr(exc, "diag", None)
            primary = getattr(diag, "message_primary", None)
            raise DatabaseError(primary or str(exc).strip()) from exc

    def has_threads_table(self) -> bool:
        rows = self._run("SELECT to_regclass('threads') IS NOT NULL")
        return bool(rows and rows[0][0])

    def migrate(self) -> None:
        self._run(
            "CREATE TABLE IF NOT EXISTS threads ("
            " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
            " title VARCHAR(255) NOT NULL,"
            " created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )

    def drop(self) -> None:
        self._run("DROP TABLE IF EXISTS threads")

    def list_threads(self) -> list[dict]:
        rows = self._run("SELECT id, title, created_at FROM threads ORDER BY id")
        return [{"id": id_, "title": title, "created_at": created.isoformat()} for id_, title, created in rows]

    def create_thread(self, title: str) -> dict:
        rows = self._run("INSERT INTO threads (title) VALUES (%s) RETURNING id, title, created_at", (title,))
        id_, title, created = rows[0]
        return {"id": id_, "title": title, "created_at": created.isoformat()}

    def get_thread(self, thread_id: int) -> dict | None:
        rows = self._run("SELECT id, title, created_at FROM threads WHERE id = %s", (thread_id,))
        return {"id": rows[0][0], "title": rows[0][1], "created_at": rows[0][2].isoformat()} if rows else None

    def delete_thread(self, thread_id: int) -> bool:
        return bool(self._run("DELETE FROM threads WHERE id = %s RETURNING id", (thread_id,)))
