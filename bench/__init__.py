"""Benchmarks: the monitor's cost and timing, side by side with its peers.

`python -m bench` runs every benchmark in `bench.registry.BENCHMARKS` and prints
one table; `--quick` is the seconds-long smoke mode CI runs. Everything runs on
127.0.0.1 and every benchmark stops by itself.
"""
