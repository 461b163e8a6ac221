"""Rows of the benchmark table, and the table itself (pure: no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Row:
    """One figure of one benchmark.

    `peer` is the same figure measured for the comparison peer in the same
    run (blackbox_exporter, bare Playwright); `ratio` is ours / peer. `met`
    is None for figures that have no goal (context, not a target).
    """

    benchmark: str
    metric: str
    figure: float | None
    unit: str = ""
    peer: float | None = None
    peer_name: str = ""
    goal: str = ""
    met: bool | None = None
    note: str = ""
    ratio: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.peer is not None and math.isnan(self.peer):
            self.peer = None
        if self.figure is not None and math.isnan(self.figure):
            self.figure = None
        if self.ratio is None and self.figure is not None and self.peer:
            self.ratio = self.figure / self.peer

    @property
    def verdict(self) -> str:
        if self.met is None:
            return ""
        return "met" if self.met else "MISSED"


def failed(benchmark: str, error: str) -> Row:
    return Row(benchmark, "benchmark crashed", None, note=error, met=False)


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) by the nearest-rank method; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


HEADER = ("benchmark", "metric", "ours", "peer", "ratio", "goal", "verdict", "note")


def cells(row: Row) -> tuple[str, ...]:
    ours = f"{fmt(row.figure)} {row.unit}".strip() if row.figure is not None else "-"
    peer = f"{fmt(row.peer)} {row.unit}".strip() if row.peer is not None else "-"
    if row.peer is not None and row.peer_name:
        peer = f"{peer} ({row.peer_name})"
    ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
    return (row.benchmark, row.metric, ours, peer, ratio, row.goal, row.verdict, row.note)


def text_table(rows: Sequence[Row]) -> str:
    """A plain-text table, columns padded to their widest cell."""
    grid = [HEADER] + [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in grid]
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row]) -> str:
    """The same table as GitHub markdown, for the README."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells(row)) + " |")
    return "\n".join(lines)


def as_dict(row: Row) -> dict:
    return {"benchmark": row.benchmark, "metric": row.metric, "figure": row.figure, "unit": row.unit,
            "peer": row.peer, "peer_name": row.peer_name, "ratio": row.ratio, "goal": row.goal,
            "met": row.met, "verdict": row.verdict, "note": row.note}
