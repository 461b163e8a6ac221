"""Text for a person at a terminal: safe, aligned, coloured only on a tty.

Anything a monitored server sent may hold escape sequences that would
rewrite the screen (or the on-call's clipboard): `safe()` makes every
control character visible as `\\xNN` before it is printed.
"""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(text: object) -> str:
    """Return `text` with control characters (ESC, CR, bidi overrides...) escaped; newlines kept."""
    if text is None:
        return ""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100
                        else f"\\u{ord(m.group(0)):04x}", str(text))


def one_line(text: object, limit: int = 0) -> str:
    """`safe` text on a single line, cut to `limit` characters with "…" (0: no cut)."""
    flat = " ".join(safe(text).split())
    if limit and len(flat) > limit:
        return flat[: limit - 1] + "…"
    return flat


class Style:
    """ANSI colours, or nothing when `enabled` is false (piped output, NO_COLOR)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text

    def red(self, text: str) -> str:
        return self._wrap("31", text)

    def green(self, text: str) -> str:
        return self._wrap("32", text)

    def yellow(self, text: str) -> str:
        return self._wrap("33", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)


def width(text: str) -> int:
    """Columns `text` takes, ignoring colour codes; wide characters count two."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in plain)


def table(headers: list[str], rows: list[list[str]], min_widths: list[int] | None = None) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded.

    `min_widths` keeps columns aligned when a table is printed a row at a time.
    """
    floor = min_widths or [0] * len(headers)
    widths = [max([width(h), floor[i]] + [width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = []
    for row in [headers] + rows:
        cells = [cell + " " * (widths[i] - width(cell)) if i < len(row) - 1 else cell
                 for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
