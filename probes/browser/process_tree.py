"""The browser's processes (psutil), for crash tests and memory figures.

Chromium forks a zygote, renderers and helpers under its main process.
Playwright does not tell us their ids, so the runtime launches the browser
with a marker switch Chromium ignores (`--synthetic-monitor=<id>`): the main
process is the one whose command line holds it, and the rest descend from it.
A process that ends while we look is simply not counted.
"""

from __future__ import annotations

import psutil


def processes_with_arg(arg: str) -> list[int]:
    """Processes whose command line holds exactly `arg`."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if arg in (process.info["cmdline"] or ()):
            found.append(process.pid)
    return found


def with_descendants(roots: list[int]) -> list[int]:
    """`roots` and every process below them."""
    found: list[int] = []
    for pid in roots:
        try:
            family = [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
        except psutil.Error:  # gone, or not ours to see
            continue
        found.extend(p for p in family if p not in found)
    return found


def rss_bytes(pids: list[int]) -> int:
    """Sum of the resident set sizes of `pids` (processes gone meanwhile count zero)."""
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            continue
    return total
