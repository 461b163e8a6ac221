"""Logging set-up: human lines or JSON lines (`--log-format json`), at `--log-level` (default info).

Every record passes through `redact` with the config's secrets before it is
written, so a token that leaks into an exception message stays out of logs.

The log is the monitor's own: what the libraries it stands on say below
ERROR (APScheduler's "skipped: maximum number of running instances reached",
slack-sdk's "A retry handler found", Playwright's and httpx's chatter) is
DEBUG, shown only at `--log-level debug`. What of it matters the monitor
says in its own words: "skipped a run of X: its previous run is still going",
"alert delivery failed (try 1), retrying in 1.0s".
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from monitor.core.redact import redact
from monitor.core.terminal import safe


class _Redacting(logging.Formatter):
    def __init__(self, secrets: frozenset[str], fmt: str | None = None):
        super().__init__(fmt)
        self.secrets = secrets

    def message(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return redact(text, self.secrets)


class TextFormatter(_Redacting):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        return f"{moment} {record.levelname:<7} {safe(self.message(record))}"


class JsonFormatter(_Redacting):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": self.message(record),
        }
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = redact(value, self.secrets) if isinstance(value, str) else value
        return json.dumps(entry, ensure_ascii=False)


class _CurrentStderr(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the time (tests swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


# Libraries, and the level from which what they log stays as it is (below it, DEBUG). slack-sdk logs an ERROR
# for every call that fails, then raises it to the outbox, which says what failed and what it does about it.
LIBRARIES = {"apscheduler": logging.ERROR, "slack_sdk": logging.CRITICAL + 1, "httpx": logging.ERROR,
             "httpcore": logging.ERROR, "urllib3": logging.ERROR, "playwright": logging.ERROR,
             "asyncio": logging.ERROR}
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class _LibraryChatterIsDebug(logging.Filter):
    """Relabels a library's chatter (below its level in `LIBRARIES`) as DEBUG; it is only made at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        kept_from = LIBRARIES.get(record.name.split(".", 1)[0])
        if kept_from is not None and record.levelno < kept_from:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def setup_logging(fmt: str = "text", level: int = logging.INFO,
                  secrets: frozenset[str] = frozenset(), stream: TextIO | None = None) -> None:
    handler: logging.StreamHandler[TextIO] = logging.StreamHandler(stream) if stream else _CurrentStderr()
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    handler.addFilter(_LibraryChatterIsDebug())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for library, kept_from in LIBRARIES.items():
        # Above DEBUG their chatter is not even made (APScheduler logs every job start).
        logging.getLogger(library).setLevel(logging.NOTSET if level <= logging.DEBUG else kept_from)
