"""`python -m bench [--quick] [--only NAME ...] [--json] [--markdown]`: run the benchmarks, print the table."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from bench import machine
from bench.context import BenchContext
from bench.registry import BENCHMARKS, run_one, select
from bench.report import as_dict, markdown_table, text_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke mode: seconds, small sizes (CI)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help=f"run only these: {', '.join(b.key for b in BENCHMARKS)}")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown (for the README)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    try:
        chosen = select(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    # APScheduler's own warnings (late or cancelled jobs) would bury the progress lines; the figures count them.
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)
    info = machine.describe()
    log = (lambda m: None) if args.quiet else (lambda m: print(f"[bench {time.strftime('%H:%M:%S')}] {m}",
                                                                file=sys.stderr, flush=True))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        ctx = BenchContext(quick=args.quick, workdir=Path(tmp), log=log)
        for bench in chosen:
            rows += run_one(bench, ctx)
    if args.json:
        print(json.dumps({"machine": info, "quick": args.quick, "rows": [as_dict(r) for r in rows]}, indent=2))
    else:
        mode = "quick smoke mode: sizes too small for the goals" if args.quick else "full run"
        print(machine.summary(info) + f"\nmode: {mode}\n")
        print(markdown_table(rows) if args.markdown else text_table(rows))
    crashed = any(r.metric == "benchmark crashed" for r in rows)
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
