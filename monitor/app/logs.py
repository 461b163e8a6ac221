"""Logging set-up: human lines or JSON lines (`--log-format json`).

Every record passes through `redact` with the config's secrets before it is
written, so a token that leaks into an exception message stays out of logs.
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


def setup_logging(fmt: str = "text", level: int = logging.INFO,
                  secrets: frozenset[str] = frozenset(), stream: TextIO | None = None) -> None:
    handler: logging.StreamHandler[TextIO] = logging.StreamHandler(stream) if stream else _CurrentStderr()
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler logs every job start at INFO; one line per run is ours to write.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
