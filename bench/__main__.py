"""`make bench` / `python -m bench`: every benchmark in turn, then one summary table.

    .venv/bin/python -m bench [--quick]

--quick shortens everything (5 s loads, 100,000 events for usage, 500 subscriptions for the invoice
run, 500 customers for the dunning run) to check that the benchmarks run.
Results (JSON) and server logs go to $BENCH_OUT (default /tmp/tally-bench).
"""

from __future__ import annotations

import sys
import time

from bench import (
    common,
    dunning_run,
    ingest_batch,
    ingest_single,
    invoice_pdf,
    invoice_run,
    payment_collection,
    usage_volume,
)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    common.require_wrk()
    started = time.perf_counter()
    info = common.environment()
    common.log(f"Tally benchmarks on {info['cores']} cores, commit {info['commit']}{' (quick)' if quick else ''}; "
               f"results in {common.OUT}")
    rows = []
    batch_rows, batch = ingest_batch.main(["--duration", "5" if quick else "20"])
    rows += batch_rows
    single_rows, single = ingest_single.main(["--duration", "5" if quick else "15"])
    rows += single_rows
    usage_rows, usage = usage_volume.main(["--events", "100000", "--requests", "50"] if quick else [])
    rows += usage_rows
    invoice_rows, invoices = invoice_run.main(["--subscriptions", "500", "--pdfs", "20"] if quick else [])
    rows += invoice_rows
    pdf_rows, pdfs = invoice_pdf.main(["--renders", "10"] if quick else [])
    rows += pdf_rows
    payment_rows, payments = payment_collection.main(["--invoices", "100", "--customers", "10"] if quick else [])
    rows += payment_rows
    dunning_rows, dunning = dunning_run.main(["--customers", "500"] if quick else [])
    rows += dunning_rows
    info["total_s"] = round(time.perf_counter() - started)
    table = common.print_table(rows, f"Tally benchmarks, commit {info['commit']}")
    common.save("all", {"environment": info, "ingest_batch": batch, "ingest_single": single, "usage_volume": usage,
                        "invoice_run": invoices, "invoice_pdf": pdfs, "payment_collection": payments,
                        "dunning_run": dunning,
                        "table": table})
    print(f"\n(all figures measured in this run; {info['total_s']} s; JSON in {common.OUT}/all.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
