"""Benchmark 2: one event per request (POST /api/v1/events) for a fixed time.

    .venv/bin/python -m bench.ingest_single [--duration 15] [--connections 8] [--jobs inprocess|rq|both]

Prints requests/s and latency p50/p95/p99 (targets: >= 1,000 req/s, p99 < 50 ms), verified by
counting the stored rows.
"""

from __future__ import annotations

import argparse
import sys

from bench import common, ingest
from bench.common import Row


def main(argv: list[str]) -> tuple[list[Row], dict]:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_single")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load (default 15)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--jobs", choices=("inprocess", "rq", "both"), default="both")
    args = parser.parse_args(argv)
    results = [ingest.run_ingest(batch_size=0, duration=min(args.duration, 120), connections=args.connections,
                                 jobs=jobs)
               for jobs in (("inprocess", "rq") if args.jobs == "both" else (args.jobs,))]
    payload = {"runs": results}
    common.save("ingest_single", payload)
    return [row for result in results for row in ingest.single_rows(result)], payload


if __name__ == "__main__":
    common.print_table(main(sys.argv[1:])[0], "Single-event ingest")
