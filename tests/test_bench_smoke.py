"""bench/browser_journeys.py still runs (quick mode); its figures are not asserted beyond sanity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent


def test_the_browser_benchmark_runs_in_quick_mode():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "browser_journeys.py"), "--quick", "--json"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout)
    assert figures["journeys"] == 8 and figures["failed"] == 0
    assert figures["journeys_per_minute"] > 0
    assert figures["rss_mib_after_3"] > 0 and figures["rss_mib_after_8"] > 0
    assert figures["browser_processes"] >= 2  # the main process and at least one renderer or helper
