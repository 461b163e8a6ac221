"""The benchmarks' pure parts: plans, parsers, percentiles, the registry's fallbacks."""

from __future__ import annotations

import math

import pytest

from bench import registry
from bench.context import BenchContext
from bench.machine import cpu_model
from bench.probe_driver import parse_probe
from bench.procs import cpu_seconds
from bench.report import Row, percentile
from bench.scheduling import plan_misses
from bench.targets import delay_of


@pytest.mark.parametrize("starts, expected", [
    ([0.5, 2.5, 4.5], (0, 0)),          # on plan
    ([0.51, 2.6, 4.55], (0, 0)),        # late, but each in its own slot
    ([0.5, 4.5], (1, 0)),               # the run at 2.5 never happened
    ([0.5, 2.5, 2.6, 4.5], (0, 1)),     # two runs in one slot
    ([], (3, 0)),
])
def test_plan_misses_counts_missed_and_doubled_runs(starts, expected):
    lags, missed, doubled = plan_misses(starts, offset=0.5, interval=2.0, window=5.0)
    assert (missed, doubled) == expected
    assert all(lag >= -0.01 for _, lag in lags)


def test_plan_misses_measures_lag_against_the_planned_start_of_each_slot():
    lags, _, _ = plan_misses([0.58, 2.53], offset=0.5, interval=2.0, window=3.0)
    assert [slot for slot, _ in lags] == [0, 1]
    assert [lag for _, lag in lags] == pytest.approx([0.08, 0.03])


def test_parse_probe_reads_success_and_duration():
    body = "# HELP probe_duration_seconds x\nprobe_duration_seconds 0.0521\nprobe_success 1\nprobe_http_ssl 0\n"
    assert parse_probe(body) == (True, 0.0521)
    assert parse_probe("probe_success 0\n") == (False, None)


@pytest.mark.parametrize("values, q, expected", [
    ([1, 2, 3, 4], 50, 2), ([1, 2, 3, 4], 100, 4), (list(range(1, 101)), 99, 99), ([7], 95, 7)])
def test_percentile_is_nearest_rank(values, q, expected):
    assert percentile(values, q) == expected


def test_percentile_of_nothing_is_nan():
    assert math.isnan(percentile([], 50))


@pytest.mark.parametrize("line, seconds", [
    (b"GET / HTTP/1.1", 0.0), (b"GET /delay/50 HTTP/1.1", 0.05), (b"GET /delay/x HTTP/1.1", 0.0)])
def test_the_target_delays_only_delay_paths(line, seconds):
    assert delay_of(line) == pytest.approx(seconds)


def test_cpu_model_reads_proc_cpuinfo_text():
    assert cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"
    assert cpu_model("") == "unknown"


def test_cpu_seconds_of_this_process_grow_with_work():
    before = cpu_seconds()
    sum(i * i for i in range(3_000_000))
    assert cpu_seconds() > before


def test_a_benchmark_that_cannot_be_imported_becomes_one_failed_row(tmp_path):
    ghost = registry.Benchmark("ghost", "bench.no_such_module", "ghost")
    rows = registry.run_one(ghost, BenchContext(quick=True, workdir=tmp_path))
    assert [(r.metric, r.verdict) for r in rows] == [("benchmark crashed", "MISSED")]
    assert "cannot import bench.no_such_module" in rows[0].note


def test_a_crashing_benchmark_becomes_one_failed_row(tmp_path, monkeypatch):
    import types

    module = types.SimpleNamespace(run=lambda ctx: 1 / 0)
    monkeypatch.setattr(registry, "load", lambda bench: module)
    rows = registry.run_one(registry.BENCHMARKS[0], BenchContext(quick=True, workdir=tmp_path))
    assert len(rows) == 1 and rows[0].metric == "benchmark crashed" and "ZeroDivisionError" in rows[0].note


def test_select_refuses_unknown_names_and_lists_the_known_ones():
    assert [b.key for b in registry.select(["storage"])] == ["storage"]
    with pytest.raises(ValueError, match="choose from http, timing"):
        registry.select(["nope"])


def test_ratio_is_ours_over_the_peer():
    assert Row("b", "m", 3.0, peer=1.5).ratio == 2.0
    assert Row("b", "m", 3.0, peer=float("nan")).ratio is None
