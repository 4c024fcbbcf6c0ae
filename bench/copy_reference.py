"""The reference for batch ingestion: PostgreSQL COPY of the same number of equivalent event rows.

(a) plain: COPY into an empty copy of the events table (same columns, defaults and indexes);
(b) COPY with dedupe: COPY into an UNLOGGED staging table, then INSERT ... SELECT ... ON CONFLICT
    (organization_id, transaction_id) DO NOTHING into an empty copy with the same unique index.
Each is one transaction, timed from its first statement to its commit; the rows are built before.
Each runs twice, alternating, into emptied tables after a CHECKPOINT; the faster run counts.

    .venv/bin/python -m bench.copy_reference [ROWS]
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

from bench import common
from bench.common import Row, fmt, log
from bench.rows import column_list, copy_into, copy_text


def measure(n: int, *, organization_id: str, subscriptions: dict[str, str | None], repeat: int = 2) -> dict:
    now = datetime.now(UTC)
    data = copy_text(n, organization_id=organization_id, subscriptions=subscriptions, start=now - timedelta(hours=1),
                     end=now, prefix="copyref", ordered=False)
    cols = column_list()
    with common.pg_connect(autocommit=True) as conn:
        for table in ("bench_copy_plain", "bench_copy_dedupe", "bench_copy_stage"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute("CREATE TABLE bench_copy_plain (LIKE events INCLUDING ALL)")
        conn.execute("CREATE TABLE bench_copy_dedupe (LIKE events INCLUDING ALL)")
    plain, dedupe = [], []
    try:
        for _ in range(repeat):  # alternating, each into empty tables; the best of each is kept
            with common.pg_connect(autocommit=True) as conn:
                conn.execute("TRUNCATE bench_copy_plain, bench_copy_dedupe")
                conn.execute("CHECKPOINT")
            with common.pg_connect() as conn:
                started = time.perf_counter()
                copy_into(conn, "bench_copy_plain", data)
                conn.commit()
                plain.append(time.perf_counter() - started)
            with common.pg_connect() as conn:
                started = time.perf_counter()
                conn.execute(f"CREATE UNLOGGED TABLE bench_copy_stage AS SELECT {cols} FROM events WITH NO DATA")
                copy_into(conn, "bench_copy_stage", data)
                conn.execute(f"INSERT INTO bench_copy_dedupe ({cols}) SELECT {cols} FROM bench_copy_stage "
                             "ON CONFLICT (organization_id, transaction_id) DO NOTHING")
                conn.execute("DROP TABLE bench_copy_stage")
                conn.commit()
                dedupe.append(time.perf_counter() - started)
                copied = conn.execute("SELECT count(*) FROM bench_copy_dedupe").fetchone()[0]
    finally:
        with common.pg_connect(autocommit=True) as conn:
            for table in ("bench_copy_plain", "bench_copy_dedupe", "bench_copy_stage"):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
    plain_s, dedupe_s = min(plain), min(dedupe)
    result = {"rows": n, "bytes": len(data), "plain_s": round(plain_s, 3), "dedupe_s": round(dedupe_s, 3),
              "plain_rows_per_s": n / plain_s, "dedupe_rows_per_s": n / dedupe_s, "dedupe_rows_stored": copied,
              "runs_s": {"plain": [round(x, 3) for x in plain], "dedupe": [round(x, 3) for x in dedupe]}}
    log(f"COPY reference, {n:,} rows: plain {fmt(result['plain_rows_per_s'])} rows/s, with dedupe "
        f"{fmt(result['dedupe_rows_per_s'])} rows/s")
    return result


def rows(result: dict) -> list[Row]:
    return [Row("COPY reference", f"plain COPY, {result['rows']:,} rows", f"{fmt(result['plain_rows_per_s'])} rows/s"),
            Row("COPY reference", "COPY + INSERT ON CONFLICT", f"{fmt(result['dedupe_rows_per_s'])} rows/s")]


def main(argv: list[str]) -> list[Row]:
    n = int(argv[0]) if argv else 200_000
    common.reset_database()
    org_id, _ = common.create_organization()
    result = measure(n, organization_id=org_id, subscriptions={s: None for s in common.SUBSCRIPTIONS})
    common.save("copy_reference", result)
    return rows(result)


if __name__ == "__main__":
    common.print_table(main(sys.argv[1:]), "COPY reference")
