"""bench/metrics_scrape.py still runs (small), so the benchmark does not rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_metrics_scrape_benchmark_runs_small():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "metrics_scrape.py"), "--checks", "20",
                           "--scrapes", "3", "--limit-ms", "5000"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    # 20 checks x (6 probe gauges + 2 counters + 17 histogram lines + 3 check gauges) and the monitor's own.
    lines = int(re.search(r"^20 checks, (\d+) lines, .* median [\d.]+ ms", done.stdout).group(1))
    assert 20 * 28 < lines < 20 * 28 + 200, done.stdout
