"""Benchmark 4: the billing clock at a period end, 10,000 subscriptions with 3 charges each, on 2 RQ workers.

    .venv/bin/python -m bench.invoice_run [--subscriptions 10000] [--events-per-subscription 30] [--pdfs 200]

Steps (a fresh bench database):
 1. the catalog through the API (3 metrics, one plan with 3 charges, the compute charge with filters) and
    5 customers and subscriptions started on the 1st of last month; cloned in SQL to N (INSERT ... SELECT);
 2. events for every subscription over last month, COPY'd into `events`, then rolled up (in this process)
    and VACUUM ANALYZE'd, as a live installation has them;
 3. measured: 2 `rq worker -w rq.worker.SimpleWorker` processes (invoice PDFs off: TALLY_INVOICE_PDFS=0,
    each counting the SQL it sends: bench/counting_worker.py) idle and waiting; this process runs the
    billing clock as of the period end (one `bill_subscriptions` job per batch of up to 100 subscriptions
    enqueued on Redis) and polls until every invoice exists; CPU and SQL statements per invoice;
 4. checks: exactly N invoices, none twice (per subscription and period, per number), all finalized, and
    the totals of a sample equal to an independent recomputation from the raw events (SQL + Decimal);
 5. PDF renders per second (a sample, in this process, one after the other);
 and the reference: PostgreSQL's own rate of inserting N invoice-sized rows (one transaction per row, as
 the clock committed before it billed in batches; and one INSERT ... SELECT for all).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from bench import common
from bench.common import Row, fmt, log
from bench.rows import copy_into, copy_text

TARGET_S = 60.0
# The plan of common.setup_catalog, read independently of Tally's pricing: EUR per unit.
API_CALL = Decimal("0.001")
STORAGE_GB = Decimal("0.5")
COMPUTE = {"eu-west-1": Decimal("0.0002"), "us-east-1": Decimal("0.0003")}
COMPUTE_DEFAULT = Decimal("0.0001")
SUBSCRIPTION_FEE_CENTS = 1000


def main(argv: list[str]) -> tuple[list[Row], dict]:
    parser = argparse.ArgumentParser(prog="python -m bench.invoice_run")
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--events-per-subscription", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pdfs", type=int, default=200, help="invoices rendered to PDF for the renders/s figure")
    parser.add_argument("--sample", type=int, default=200, help="invoices whose totals are recomputed")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    n = max(5, min(args.subscriptions, 100_000))
    out: dict = {"subscriptions": n, "workers": args.workers, "events": n * args.events_per_subscription}

    now = datetime.now(UTC)
    period_end = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    period_start = (period_end - timedelta(days=1)).replace(day=1)
    out["period"] = [period_start.isoformat(), period_end.isoformat()]

    log(f"invoice run: fresh database, {n:,} subscriptions, period {period_start:%Y-%m-%d} .. {period_end:%Y-%m-%d}")
    common.reset_database()
    org_id, key = common.create_organization()
    with common.tally_server(jobs="inprocess") as (base, _pids):
        common.setup_catalog(base, key, subscription_at=period_start, billing_time="calendar")
    started = time.perf_counter()
    subscriptions = _clone_subscriptions(org_id, n)
    out["clone_s"] = round(time.perf_counter() - started, 1)
    log(f"invoice run: {len(subscriptions):,} subscriptions in {out['clone_s']} s (INSERT ... SELECT)")

    events = n * args.events_per_subscription
    started = time.perf_counter()
    data = copy_text(events, organization_id=org_id, subscriptions=subscriptions,
                     start=period_start + timedelta(seconds=1), end=period_end - timedelta(seconds=1),
                     prefix="inv", ordered=False)
    with common.pg_connect() as conn:
        copy_into(conn, "events", data)
        conn.commit()
    del data
    out["events_load_s"] = round(time.perf_counter() - started, 1)
    log(f"invoice run: {events:,} events built and COPY'd in {out['events_load_s']} s")
    out["rollup"] = _roll_up()
    with common.pg_connect(autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")

    out["run"] = _billing_run(n, period_end, args.workers, args.timeout)
    out["checks"] = _checks(org_id, n, period_start, period_end, args.sample)
    out["pdf"] = _pdf_rate(args.pdfs)
    out["reference"] = _insert_reference(n)
    common.save("invoice_run", out)
    return rows(out), out


def rows(out: dict) -> list[Row]:
    n, run, ref, checks = out["subscriptions"], out["run"], out["reference"], out["checks"]
    bench = f"invoice run ({n:,} subs x 3 charges)"
    seconds = run["seconds"]
    reference = (f"PG: {fmt(ref['row_per_commit_rows_per_s'])} rows/s one per commit, "
                 f"{fmt(ref['bulk_rows_per_s'])} rows/s in one INSERT")
    ok = checks["ok"]
    cpu = run.get("cpu") or {}
    return [
        Row(bench, f"billing clock to the last invoice, {out['workers']} RQ workers, PDFs off",
            f"{seconds:.1f} s ({fmt(run['invoices_per_s'])} inv/s)", reference, f"< {TARGET_S:.0f} s",
            common.verdict(seconds < TARGET_S and run["complete"])),
        Row(bench, f"of which: the clock (what is due, {run.get('jobs', 0)} jobs enqueued)", f"{run['clock_s']:.1f} s"),
        Row(bench, "CPU cores: this process/workers/pg/other",
            f"{cpu.get('client_cores')}/{cpu.get('tally_cores')}/{cpu.get('postgres_cores')}/{cpu.get('other_cores')}"),
        Row(bench, "CPU per invoice: workers / PostgreSQL / the clock's process",
            " / ".join(f"{run['cpu_ms_per_invoice'][k]:.1f}" for k in ("workers", "postgres", "clock_process"))
            + " ms"),
        Row(bench, "SQL per invoice (workers): statements / executions / commits",
            " / ".join(f"{run['sql_per_invoice'][k]:.2f}" for k in ("statements", "executions", "commits"))),
        Row(bench, f"PDF renders/s, 1 process (n={out['pdf']['n']})", f"{out['pdf']['per_s']:.1f}/s",
            f"p50 {common.ms(out['pdf']['latency']['p50'])}"),
        Row(bench, f"{n:,} invoices, none twice, totals = recomputed (n={checks['sampled']})",
            "yes" if ok else "NO", "", "", "ok" if ok else "FAILED"),
    ]


# ---------------------------------------------------------------- set-up


def _clone_subscriptions(org_id: str, n: int) -> dict[str, str]:
    """Customers and subscriptions 6..n, copies of the API-made bench_cust_1 / bench_sub_1; {external id: id}."""
    with common.pg_connect() as conn:
        columns = common.table_columns(conn, "customers")
        replaced = {"id": "gen_random_uuid()::text", "external_id": "'bench_cust_' || i", "sequential_id": "i"}
        conn.execute(
            f"INSERT INTO customers ({', '.join(columns)}) SELECT "
            f"{', '.join(replaced.get(c, 'c.' + c) for c in columns)} FROM customers c, generate_series(6, %s) i "
            "WHERE c.organization_id = %s AND c.external_id = 'bench_cust_1'", (n, org_id))
        # As in a live installation, the subscriptions were created when they started: a subscription created
        # today and backdated to last month is never billed for it (docs/billing.md, Subscriptions).
        conn.execute("UPDATE subscriptions SET created_at = subscription_at WHERE organization_id = %s", (org_id,))
        columns = common.table_columns(conn, "subscriptions")
        replaced = {"id": "gen_random_uuid()::text", "customer_id": "c.id",
                    "external_id": "replace(c.external_id, 'cust', 'sub')"}
        conn.execute(
            f"INSERT INTO subscriptions ({', '.join(columns)}) SELECT "
            f"{', '.join(replaced.get(col, 's.' + col) for col in columns)} FROM subscriptions s, customers c "
            "WHERE s.organization_id = %s AND s.external_id = 'bench_sub_1' AND c.organization_id = s.organization_id "
            "AND NOT EXISTS (SELECT 1 FROM subscriptions x WHERE x.customer_id = c.id)", (org_id,))
        conn.commit()
        return dict(conn.execute("SELECT external_id, id FROM subscriptions WHERE organization_id = %s",
                                 (org_id,)).fetchall())


def _configure_core(dispatcher) -> None:
    common.configure_core(dispatcher, TALLY_INVOICE_PDFS="0")


def _roll_up() -> dict:
    from billing.metering.rollups import roll_up_events
    from jobs.dispatch import InProcessDispatcher

    _configure_core(InProcessDispatcher(synchronous=True))
    started = time.perf_counter()
    total = 0
    while (taken := roll_up_events()) and time.perf_counter() - started < 900:
        total += taken
    seconds = time.perf_counter() - started
    result = {"events": total, "seconds": round(seconds, 1), **common.rollup_consistency()}
    log(f"invoice run: rolled up {total:,} events in {seconds:.1f} s, consistent: {result['consistent']}")
    return result


# ---------------------------------------------------------------- the measured run


def _billing_run(n: int, at: datetime, workers: int, timeout: float) -> dict:
    from redis import Redis

    from bench import counting_worker
    from billing.clock import run_billing_clock
    from jobs.dispatch import RQDispatcher

    Redis.from_url(common.REDIS_URL).flushdb()  # db 5: the bench's own
    env = {**common.server_env(jobs="rq"), "TALLY_INVOICE_PDFS": "0"}
    # `rq worker`, counting the SQL statements it sends (bench/counting_worker.py).
    with common.counting_workers(workers, "invoice", env) as (procs, counts):
        time.sleep(3)  # the workers up and listening, as in production before the hour strikes
        _configure_core(RQDispatcher(common.REDIS_URL))
        meter = common.CpuMeter(server_pids=[p.pid for p in procs], include_self=True)
        log(f"invoice run: billing clock as of {at:%Y-%m-%d %H:%M} with {workers} RQ workers")
        meter.start()
        clock_counts = dict(counting_worker.counts)
        started = time.perf_counter()
        clock_run = run_billing_clock(at=at)
        clock_s = time.perf_counter() - started
        clock_counts = {k: v - clock_counts[k] for k, v in counting_worker.counts.items()}
        count, complete = 0, False
        next_log = started + 10
        while time.perf_counter() - started < timeout:
            count = common.scalar("SELECT count(*) FROM invoices")
            if count >= n:
                complete = True
                break
            if any(p.poll() is not None for p in procs):
                sys.exit(f"bench: an rq worker exited; see {common.OUT}/rq-invoice-*.log")
            if time.perf_counter() > next_log:
                log(f"invoice run: {count:,} invoices after {time.perf_counter() - started:.0f} s")
                next_log += 10
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        cpu = meter.stop()
    worker_counts = counts()
    per_invoice = max(count, 1)
    result = {"seconds": round(seconds, 2), "clock_s": round(clock_s, 2), "invoices": count, "complete": complete,
              "due": len(clock_run.billed_subscriptions), "jobs": clock_run.jobs, "invoices_per_s": count / seconds,
              "cpu": cpu,
              # CPU per invoice, from the meter: independent of how busy the machine was with other work.
              "cpu_ms_per_invoice": {
                  "workers": round(cpu.get("tally_cores", 0) * cpu.get("wall_s", 0) / per_invoice * 1000, 2),
                  "postgres": round(cpu.get("postgres_cores", 0) * cpu.get("wall_s", 0) / per_invoice * 1000, 2),
                  "clock_process": round(cpu.get("client_cores", 0) * cpu.get("wall_s", 0) / per_invoice * 1000, 2)},
              "sql_per_invoice": {key: round(value / per_invoice, 2) for key, value in worker_counts.items()},
              "sql_workers": worker_counts, "sql_clock": clock_counts}
    log(f"invoice run: {count:,} invoices in {seconds:.1f} s ({fmt(count / seconds)}/s; the clock itself "
        f"{clock_s:.1f} s for {result['due']:,} due, {clock_run.jobs} jobs); CPU per invoice "
        f"{result['cpu_ms_per_invoice']}; SQL per invoice {result['sql_per_invoice']}")
    return result


# ---------------------------------------------------------------- checks


def _cents(amount: Decimal) -> int:
    """EUR → cents, rounded half up: the rule of BILLING.md, applied here without Tally's code."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _checks(org_id: str, n: int, start: datetime, end: datetime, sample: int) -> dict:
    low, high = start.replace(tzinfo=None), end.replace(tzinfo=None)
    with common.pg_connect() as conn:
        invoices = conn.execute("SELECT count(*), count(DISTINCT number), count(*) FILTER (WHERE status = "
                                "'finalized') FROM invoices").fetchone()
        links = conn.execute("SELECT count(*), count(DISTINCT (subscription_id, boundary)) FROM "
                             "invoice_subscriptions").fetchone()
        fees = conn.execute("SELECT count(*) FROM fees").fetchone()[0]
        chosen = conn.execute("SELECT s.external_id, s.id, i.total_amount_cents FROM invoices i JOIN "
                              "invoice_subscriptions l ON l.invoice_id = i.id JOIN subscriptions s ON "
                              "s.id = l.subscription_id ORDER BY random() LIMIT %s", (sample,)).fetchall()
        mismatches = []
        for external_id, _sub_id, total in chosen:
            usage = conn.execute(
                "SELECT code, properties->>'region', count(*), coalesce(sum(value), 0) FROM events "
                "WHERE organization_id = %s AND external_subscription_id = %s AND timestamp >= %s AND "
                "timestamp < %s GROUP BY 1, 2", (org_id, external_id, low, high)).fetchall()
            expected = SUBSCRIPTION_FEE_CENTS
            compute: dict[Decimal, Decimal] = {}
            for code, region, count, summed in usage:
                if code == "api_calls":
                    expected += _cents(count * API_CALL)
                elif code == "storage":
                    expected += _cents(Decimal(summed) * STORAGE_GB)
                elif code == "compute":
                    price = COMPUTE.get(region, COMPUTE_DEFAULT)
                    compute[price] = compute.get(price, Decimal(0)) + Decimal(summed)
            expected += sum(_cents(units * price) for price, units in compute.items())  # one fee per filter
            if expected != total:
                mismatches.append((external_id, total, expected))
    result = {"invoices": invoices[0], "distinct_numbers": invoices[1], "finalized": invoices[2],
              "links": links[0], "distinct_periods": links[1], "fees": fees, "sampled": len(chosen),
              "total_mismatches": mismatches[:10]}
    result["ok"] = (invoices[0] == invoices[1] == invoices[2] == links[0] == links[1] == n and not mismatches
                    and len(chosen) == min(sample, n))
    log(f"invoice run: checks {'ok' if result['ok'] else 'FAILED'}: {result}")
    return result


# ---------------------------------------------------------------- PDFs and the reference


def _pdf_rate(count: int) -> dict:
    from billing.invoicing.documents import render_invoice_pdf

    with common.pg_connect() as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM invoices ORDER BY random() LIMIT %s", (count + 1,))]
    if not ids:
        return {"n": 0, "per_s": 0.0, "latency": common.percentiles([])}
    render_invoice_pdf(invoice_id=ids.pop())  # warm-up: fonts, templates
    samples = []
    started = time.perf_counter()
    for invoice_id in ids:
        begun = time.perf_counter()
        render_invoice_pdf(invoice_id=invoice_id)
        samples.append((time.perf_counter() - begun) * 1000)
    seconds = time.perf_counter() - started
    result = {"n": len(ids), "seconds": round(seconds, 1), "per_s": len(ids) / seconds,
              "latency": common.percentiles(samples)}
    log(f"invoice run: {len(ids)} PDFs in {seconds:.1f} s = {result['per_s']:.1f}/s in one process")
    return result


def _insert_reference(n: int) -> dict:
    """PostgreSQL alone: N rows shaped like this run's invoices, into a copy of `invoices` (same indexes)."""
    with common.pg_connect() as conn:
        conn.execute("DROP TABLE IF EXISTS bench_invoices_ref")
        conn.execute("CREATE TABLE bench_invoices_ref (LIKE invoices INCLUDING DEFAULTS INCLUDING INDEXES)")
        conn.commit()
        columns = common.table_columns(conn, "invoices")
        rows = conn.execute(f"SELECT {', '.join(columns)} FROM invoices LIMIT %s", (n,)).fetchall()
        id_at, number_at = columns.index("id"), columns.index("number")
        insert = (f"INSERT INTO bench_invoices_ref ({', '.join(columns)}) "
                  f"VALUES ({', '.join(['%s'] * len(columns))})")
        rng = random.Random(1)
        started = time.perf_counter()
        for row in rows:
            values = list(row)
            values[id_at] = str(uuid.UUID(int=rng.getrandbits(128)))
            values[number_at] = f"{values[number_at]}-R"
            conn.execute(insert, values)
            conn.commit()
        per_commit = time.perf_counter() - started
        conn.execute("TRUNCATE bench_invoices_ref")
        conn.commit()
        replaced = {"id": "gen_random_uuid()::text", "number": "number || '-B'"}
        started = time.perf_counter()
        conn.execute(f"INSERT INTO bench_invoices_ref ({', '.join(columns)}) SELECT "
                     f"{', '.join(replaced.get(c, c) for c in columns)} FROM invoices LIMIT %s", (n,))
        conn.commit()
        bulk = time.perf_counter() - started
        conn.execute("DROP TABLE bench_invoices_ref")
        conn.commit()
    result = {"rows": len(rows), "row_per_commit_s": round(per_commit, 2),
              "row_per_commit_rows_per_s": len(rows) / per_commit, "bulk_s": round(bulk, 3),
              "bulk_rows_per_s": len(rows) / bulk}
    log(f"invoice run: reference: {len(rows):,} invoice rows one per commit in {per_commit:.1f} s "
        f"({fmt(result['row_per_commit_rows_per_s'])}/s), in one INSERT in {bulk:.2f} s")
    return result


if __name__ == "__main__":
    common.print_table(main(sys.argv[1:])[0], "Invoice run")
