"""Benchmark 1: batches of 100 unique events over HTTP for a fixed time, against PostgreSQL COPY.

    .venv/bin/python -m bench.ingest_batch [--duration 20] [--connections 8] [--jobs inprocess|rq|both]

Prints events/s accepted (verified by counting the stored rows), latency p50/p95/p99, the CPU each
party took, then the COPY references (plain, and with dedupe) for the same number of rows.
"""

from __future__ import annotations

import argparse
import sys

from bench import common, copy_reference, ingest
from bench.common import Row


def main(argv: list[str]) -> tuple[list[Row], dict]:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_batch")
    parser.add_argument("--duration", type=int, default=20, help="seconds of load (default 20)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--jobs", choices=("inprocess", "rq", "both"), default="both",
                        help="where the rollup job runs (default: both, one after the other)")
    parser.add_argument("--no-reference", action="store_true", help="skip the COPY references")
    args = parser.parse_args(argv)
    results, reference = [], None
    for jobs in (("inprocess", "rq") if args.jobs == "both" else (args.jobs,)):
        result = ingest.run_ingest(batch_size=args.batch_size, duration=min(args.duration, 120),
                                   connections=args.connections, jobs=jobs)
        if reference is None and not args.no_reference:
            reference = copy_reference.measure(result["events_stored"], organization_id=result["organization_id"],
                                               subscriptions=result["subscriptions"])
        results.append(result)
    rows = [row for result in results for row in ingest.batch_rows(result, reference)]
    if reference:
        rows += copy_reference.rows(reference)
    payload = {"runs": results, "copy_reference": reference}
    common.save("ingest_batch", payload)
    return rows, payload


if __name__ == "__main__":
    common.print_table(main(sys.argv[1:])[0], "Batch ingest")
