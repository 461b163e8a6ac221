"""The browser's processes, found through /proc (Linux), for crash tests and memory figures.

Chromium forks a zygote, renderers and helpers under its main process.
Playwright does not tell us their ids, so the runtime launches the browser
with a marker switch Chromium ignores (`--synthetic-monitor=<id>`): the main
process is the one whose command line holds it, and the rest descend from it.
Elsewhere than Linux these return nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def _cmdline(pid: int) -> list[str]:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _parent(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields resume after the last ")".
    return int(stat.rsplit(")", 1)[1].split()[1])


def _pids() -> list[int]:
    try:
        return [int(p) for p in os.listdir(PROC) if p.isdigit()]
    except OSError:
        return []


def processes_with_arg(arg: str) -> list[int]:
    """Processes whose command line holds exactly `arg`."""
    return [pid for pid in _pids() if arg in _cmdline(pid)]


def with_descendants(roots: list[int]) -> list[int]:
    """`roots` and every process below them."""
    children: dict[int, list[int]] = {}
    for pid in _pids():
        parent = _parent(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def rss_bytes(pids: list[int]) -> int:
    """Sum of the resident set sizes of `pids` (processes gone meanwhile count zero)."""
    total = 0
    for pid in pids:
        try:
            for line in (PROC / str(pid) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total
