"""The benchmarks still work: `python -m bench --quick` runs them all and fills the table.

No timing asserts: the figures depend on the machine. What must hold is
that every registered benchmark produced its rows, with numbers where its
module is in this build and "not available in this build" where it is not.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.registry import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run():
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_the_quick_run_describes_the_machine(quick_run):
    machine = quick_run["machine"]
    assert int(machine["cores"]) >= 1
    assert machine["cpu"] and machine["python"].startswith("3.")
    assert quick_run["quick"] is True


@pytest.mark.slow
@pytest.mark.parametrize("bench", BENCHMARKS, ids=lambda b: b.key)
def test_every_benchmark_has_its_rows(quick_run, bench):
    rows = [r for r in quick_run["rows"] if r["benchmark"] == bench.name]
    assert rows, f"no rows for {bench.name}"
    assert not [r for r in rows if r["metric"] == "benchmark crashed"], rows
    for row in rows:
        assert isinstance(row["figure"], (int, float)) and math.isfinite(row["figure"]), row
        assert row["figure"] >= 0, row
        if row["peer"] is not None:
            assert row["ratio"] == pytest.approx(row["figure"] / row["peer"])


@pytest.mark.slow
def test_rows_with_an_absolute_goal_say_whether_it_was_met(quick_run):
    judged = [r for r in quick_run["rows"] if r["goal"].startswith((">", "<"))]
    assert judged
    assert all(r["verdict"] in ("met", "MISSED") for r in judged), judged
