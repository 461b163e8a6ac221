"""Durations as people write them in config files: "500ms", "30s", "1m", "1h"."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_HINT = 'a duration such as "500ms", "30s", "1m", "1h" or "1h30m"'


def parse_duration(text: str) -> float:
    """Return the number of seconds `text` stands for.

    Raise ValueError (with the accepted forms) for anything else, including
    bare numbers: "30" is ambiguous between seconds and milliseconds.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected {DURATION_HINT}, got {text!r}")
    compact = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not compact or pos != len(compact):
        raise ValueError(f"expected {DURATION_HINT}, got {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """Return a short human form: "850ms", "12s", "3m", "1h 5m"."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"
