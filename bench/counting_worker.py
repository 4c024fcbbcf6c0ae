"""`rq` with a count of the SQL statements its process sends: the invoice run's workers, measured as they run.

    python -m bench.counting_worker worker -w rq.worker.SimpleWorker --url ...   (the arguments of `rq`)

At exit (the bench stops the worker with SIGTERM: a warm shutdown) it writes to $BENCH_STATEMENTS_FILE:
`statements` (each sent to the database once: an executemany counts once, as it is one round trip in
psycopg's pipeline), `executions` (the statements PostgreSQL runs: an executemany counts each of its
parameter sets) and `commits`. Bench-only: nothing of this is in Tally's code.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

counts = {"statements": 0, "executions": 0, "commits": 0}


@event.listens_for(Engine, "before_cursor_execute")
def _statement(conn, cursor, statement, parameters, context, executemany) -> None:
    counts["statements"] += 1
    # An executemany's rows: the context's parameter sets (psycopg's "insertmanyvalues" batches send one
    # flattened set of every row's values instead, whose length would count columns × rows).
    rows = len(context.parameters) if executemany and context is not None and context.parameters else 1
    counts["executions"] += rows


@event.listens_for(Engine, "commit")
def _commit(conn) -> None:
    counts["commits"] += 1


@atexit.register
def _write() -> None:
    target = os.environ.get("BENCH_STATEMENTS_FILE")
    if target:
        Path(target).write_text(json.dumps(counts))


if __name__ == "__main__":
    from rq.cli import main

    sys.argv[0] = "rq"
    sys.exit(main())
