"""Benchmark 6: the hourly dunning run over 10,000 customers with overdue invoices, on 2 RQ workers.

    .venv/bin/python -m bench.dunning_run [--customers 10000] [--workers 2]

Steps (a fresh bench database):
 1. one organization and its default dunning campaign (EUR threshold 10,000 cents, 3 attempts 2 days
    apart), inserted through SQLAlchemy; one customer (with an email, no payment provider) and one
    one-off invoice through the API as the templates; cloned in SQL (INSERT ... SELECT) to N customers
    with 1-3 finalized EUR invoices each, overdue (payment_overdue, due 30-32 days ago) and each with its
    add-on fee; half the customers owe the threshold or more in all, half less; then VACUUM ANALYZE;
 2. measured: 2 `rq worker -w rq.worker.SimpleWorker` processes (bench/counting_worker.py, counting the
    SQL they send; SMTP pointed at a sink in this process, so that the reminder emails are queued) idle
    and waiting; this process runs `billing.dunning.runs.run_dunning(at=..., fan_out=True)` (what the
    billing clock's "dunning" step does: one `run_dunning_batch` job per 200 customers) and polls Redis
    until every job is done: the dunning jobs (every attempt committed), then the jobs they asked for
    (the emails' sends);
 3. checks: one attempt for each customer at or over the threshold and none for the others (counted
    from the invoices, not from Tally's code): dunning_attempts, payment_requests (one per attempt, its
    amount the customer's overdue total, its invoices theirs), the customers' attempt counters, the
    reminder emails' outbox rows (one per request), no payment (no provider);
 4. a second run at the same hour: no new attempt, request or email, and its time;
 and the reference: PostgreSQL inserting 5,000 payment-request rows into a copy of `payment_requests`
 (same indexes), one transaction per row (an attempt is one transaction per customer), and in one INSERT.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench import common
from bench.common import Row, fmt, log

THRESHOLD_CENTS = 10_000
MAX_ATTEMPTS, DAYS_BETWEEN = 3, 2
TEMPLATE = "dun_cust_1"
REFERENCE_ROWS = 5_000


def main(argv: list[str]) -> tuple[list[Row], dict]:
    parser = argparse.ArgumentParser(prog="python -m bench.dunning_run")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    n = max(2, min(args.customers, 100_000))
    out: dict = {"customers": n, "workers": args.workers}
    at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    out["at"] = at.isoformat()

    log(f"dunning run: fresh database, {n:,} customers with overdue invoices, run at {at:%Y-%m-%d %H:%M}")
    common.reset_database()
    org_id, key = common.create_organization()
    with common.tally_server(jobs="inprocess") as (base, _pids):
        _templates(base, key)
    _campaign(org_id)
    started = time.perf_counter()
    out["data"] = _clone(org_id, n, at)
    out["clone_s"] = round(time.perf_counter() - started, 1)
    log(f"dunning run: {n:,} customers, {out['data']['invoices']:,} overdue invoices "
        f"({out['data']['over_threshold']:,} customers at or over the threshold) in {out['clone_s']} s")
    with common.pg_connect(autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")

    from redis import Redis

    from jobs.dispatch import RQDispatcher

    Redis.from_url(common.REDIS_URL).flushdb()  # db 5: the bench's own
    common.configure_core(RQDispatcher(common.REDIS_URL))
    out["email_handler"] = _email_handler()
    with _smtp_sink() as sink:
        env = {**common.server_env(jobs="rq"), "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink.port),
               "SMTP_FROM": "billing@bench.test"}
        for run, name in (("first", "first"), ("second", "second, same hour")):
            # Workers of its own for each run: they write their SQL counts when they stop.
            with common.counting_workers(args.workers, f"dunning-{run}", env) as (procs, counts):
                time.sleep(3)  # the workers up and listening, as in production before the hour strikes
                out[run] = _measured_run(at, procs, args.timeout, name)
            out[run]["sql"] = counts()
            out[run]["emails_sent"] = sink.accepted
            out["checks" if run == "first" else "checks_after_second"] = _checks(org_id, out["email_handler"])
    first = out["first"]
    cpu, wall = first["cpu"], first["cpu"].get("wall_s", 0)
    first["cpu_ms_per_customer"] = {
        "workers": round(cpu.get("tally_cores", 0) * wall / n * 1000, 3),
        "postgres": round(cpu.get("postgres_cores", 0) * wall / n * 1000, 3),
        "this_process": round(cpu.get("client_cores", 0) * wall / n * 1000, 3)}
    out["sql_per_customer"] = {k: v / n for k, v in first["sql"].items()}
    attempts = max(out["checks"]["attempts"], 1)
    out["sql_per_attempt"] = {k: v / attempts for k, v in first["sql"].items()}
    out["reference"] = _insert_reference(REFERENCE_ROWS)
    common.save("dunning_run", out)
    return rows(out), out


def rows(out: dict) -> list[Row]:
    n, first, second, checks, ref = out["customers"], out["first"], out["second"], out["checks"], out["reference"]
    again = out["checks_after_second"]
    bench = f"dunning run ({n:,} customers)"
    attempts = checks["attempts"]
    cpu = first.get("cpu") or {}
    per = first["cpu_ms_per_customer"]
    sql = out["sql_per_customer"]
    reference = (f"PG: {fmt(ref['row_per_commit_rows_per_s'])} request rows/s one per commit, "
                 f"{fmt(ref['bulk_rows_per_s'])} rows/s in one INSERT")
    once = checks["ok"] and again["ok"] and again["attempts"] == attempts and again["emails"] == checks["emails"]
    emails = (f"{checks['emails']:,} rows for {checks['requests']:,} requests; sent {first['emails_sent']:,}"
              if out["email_handler"] else "none: no PaymentRequested email handler in this code")
    return [
        Row(bench, f"run_dunning to the last attempt, {out['workers']} RQ workers",
            f"{first['dunning_s']:.1f} s ({fmt(n / first['dunning_s'])} customers/s)", reference),
        Row(bench, "of which: due customers + jobs enqueued (this process)",
            f"{first['enqueue_s']:.2f} s, {first['jobs']} jobs"),
        Row(bench, "to the last job (the reminder emails' sends too)", f"{first['seconds']:.1f} s"),
        Row(bench, "attempts = customers over the threshold",
            f"{attempts:,} / {checks['expected']:,} (payment requests {checks['requests']:,})"),
        Row(bench, "CPU cores: this process/workers/pg/other",
            f"{cpu.get('client_cores')}/{cpu.get('tally_cores')}/{cpu.get('postgres_cores')}/{cpu.get('other_cores')}"),
        Row(bench, "CPU per customer: workers / PostgreSQL / this process",
            " / ".join(f"{per[k]:.2f}" for k in ("workers", "postgres", "this_process")) + " ms"),
        Row(bench, "SQL per customer (workers): statements / executions / commits",
            " / ".join(f"{sql[k]:.1f}" for k in ("statements", "executions", "commits"))),
        Row(bench, "second run, same hour: new attempts / its time",
            f"{again['attempts'] - attempts} / {second['seconds']:.1f} s"),
        Row(bench, "reminder emails (outbox rows, one per request)", emails, "", "",
            "" if out["email_handler"] else "n/a"),
        Row(bench, "each attempt once (2 runs), amounts and invoices right, no payment",
            "yes" if once else "NO", "", "", "ok" if once else "FAILED"),
    ]


# ---------------------------------------------------------------- set-up


def _ok(response) -> dict:
    if response.status_code >= 300:
        sys.exit(f"bench: {response.request.method} {response.request.url} -> {response.status_code}: "
                 f"{response.text[:500]}")
    return response.json()


def _templates(base: str, key: str) -> None:
    """The customer (an email, no payment provider) and a one-off invoice with one add-on fee, via the API."""
    with common.api(base, key) as client:
        _ok(client.post("/api/v1/add_ons", json={"add_on": {
            "name": "Services", "code": "services", "amount_cents": 5000, "amount_currency": "EUR"}}))
        _ok(client.post("/api/v1/customers", json={"customer": {
            "external_id": TEMPLATE, "name": "Dunning bench 1", "currency": "EUR", "timezone": "UTC",
            "email": "billing+1@dunning.bench.test", "net_payment_term": 0}}))
        invoice = _ok(client.post("/api/v1/invoices", json={"invoice": {
            "external_customer_id": TEMPLATE, "currency": "EUR",
            "fees": [{"add_on_code": "services", "units": 1, "unit_amount_cents": 5000}]}}))["invoice"]
    if invoice["status"] != "finalized":
        sys.exit(f"bench: the template invoice is {invoice['status']}, not finalized")


def _campaign(org_id: str) -> None:
    """The organization's default campaign, through SQLAlchemy (no API for campaigns on this branch)."""
    from billing.db import unit_of_work
    from billing.dunning.models import DunningCampaign, DunningCampaignThreshold
    from jobs.dispatch import InProcessDispatcher

    common.configure_core(InProcessDispatcher(synchronous=True))
    with unit_of_work() as uow:
        campaign = DunningCampaign(organization_id=org_id, code="bench", name="Bench", max_attempts=MAX_ATTEMPTS,
                                   days_between_attempts=DAYS_BETWEEN, applied_to_organization=True, bcc_emails=[],
                                   reminder_subject="Your overdue invoices", reminder_message="Please pay them.")
        campaign.thresholds = [DunningCampaignThreshold(currency="EUR", amount_cents=THRESHOLD_CENTS)]
        uow.session.add(campaign)


def _clone(org_id: str, n: int, at: datetime) -> dict:
    """Customers 2..n copied from the template; every customer's 1-3 overdue invoices (and their fees)
    copied from the template invoice, with their amounts; the template invoice itself removed."""
    with common.pg_connect() as conn:
        columns = common.table_columns(conn, "customers")
        replaced = {"id": "gen_random_uuid()::text", "external_id": "'dun_cust_' || i", "sequential_id": "i",
                    "name": "'Dunning bench ' || i", "email": "'billing+' || i || '@dunning.bench.test'"}
        conn.execute(
            f"INSERT INTO customers ({', '.join(columns)}) SELECT "
            f"{', '.join(replaced.get(c, 'c.' + c) for c in columns)} FROM customers c, generate_series(2, %s) i "
            "WHERE c.organization_id = %s AND c.external_id = %s", (n, org_id, TEMPLATE))
        # Customer i: k = 1..3 invoices; even i owe the threshold or more in all, odd i less.
        conn.execute("CREATE TEMP TABLE bench_dun_invoices AS SELECT gen_random_uuid()::text AS id, c.id AS "
                     "customer_id, i, j, CASE WHEN mod(i, 2) = 0 THEN 10000 / k + 1 + mod(i * 7 + j * 13, 3000) "
                     "ELSE 9999 / k - mod(i * 7 + j * 13, 1000) END AS amount FROM (SELECT id, "
                     "substr(external_id, 10)::int AS i, 1 + mod(substr(external_id, 10)::int / 2, 3) AS k "
                     "FROM customers WHERE organization_id = %s) c, generate_series(1, k) j", (org_id,))
        template = conn.execute("SELECT i.id FROM invoices i JOIN customers c ON c.id = i.customer_id "
                                "WHERE c.external_id = %s", (TEMPLATE,)).fetchone()[0]
        due = (at - timedelta(days=30)).date()
        columns = common.table_columns(conn, "invoices")
        amount = "b.amount"
        replaced = {"id": "b.id", "customer_id": "b.customer_id", "number": "t.number || '-' || b.i || '-' || b.j",
                    "sequential_id": "NULL", "payment_overdue": "true", "payment_status": "'pending'",
                    "issuing_date": "%(due)s::date - b.j", "payment_due_date": "%(due)s::date - b.j",
                    "fees_amount_cents": amount, "sub_total_excluding_taxes_amount_cents": amount,
                    "sub_total_including_taxes_amount_cents": amount, "total_amount_cents": amount,
                    "taxes_amount_cents": "0", "total_paid_amount_cents": "0", "file_key": "NULL"}
        conn.execute(f"INSERT INTO invoices ({', '.join(columns)}) SELECT "
                     f"{', '.join(replaced.get(c, 't.' + c) for c in columns)} FROM invoices t, bench_dun_invoices b "
                     "WHERE t.id = %(template)s", {"due": due, "template": template})
        columns = common.table_columns(conn, "fees")
        replaced = {"id": "gen_random_uuid()::text", "invoice_id": "b.id", "amount_cents": amount,
                    "precise_amount_cents": amount, "unit_amount_cents": amount,
                    "precise_unit_amount": "b.amount / 100.0",
                    "taxes_amount_cents": "0", "taxes_precise_amount_cents": "0"}
        conn.execute(f"INSERT INTO fees ({', '.join(columns)}) SELECT "
                     f"{', '.join(replaced.get(c, 'f.' + c) for c in columns)} FROM fees f, bench_dun_invoices b "
                     "WHERE f.invoice_id = %s", (template,))
        conn.execute("DELETE FROM invoices WHERE id = %s", (template,))
        conn.execute("DELETE FROM email_deliveries")  # none expected (no SMTP when the template was made)
        conn.commit()
        counts = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE total >= %s), sum(invoices), sum(invoices) FILTER (WHERE total "
            ">= %s) FROM (SELECT customer_id, sum(total_amount_cents) AS total, count(*) AS invoices FROM invoices "
            "WHERE organization_id = %s AND payment_overdue AND status = 'finalized' GROUP BY 1) x",
            (THRESHOLD_CENTS, THRESHOLD_CENTS, org_id)).fetchone()
    return {"customers_with_overdue": counts[0], "over_threshold": counts[1], "invoices": int(counts[2]),
            "invoices_over_threshold": int(counts[3] or 0)}


class _Sink:
    """An SMTP server that accepts every message and counts them (the reminder emails' sends)."""

    def __init__(self):
        self.accepted = 0
        self.port = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        self.accepted += 1
        return "250 OK"


class _smtp_sink:  # noqa: N801 (used as a context manager)
    def __enter__(self) -> _Sink:
        from aiosmtpd.controller import Controller

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.sink = _Sink()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=port)
        self.controller.start()
        self.sink.port = port
        return self.sink

    def __exit__(self, *exc) -> None:
        self.controller.stop()


# ---------------------------------------------------------------- the measured runs


def _job_statuses(redis, pattern: str) -> dict[str, str]:
    keys = list(redis.scan_iter(match=f"rq:job:{pattern}", count=1000))
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.hget(key, "status")
    return {key.decode(): (status or b"").decode() for key, status in zip(keys, pipe.execute(), strict=True)}


def _measured_run(at: datetime, procs, timeout: float, name: str) -> dict:
    from redis import Redis
    from rq import Queue
    from rq.registry import StartedJobRegistry

    from billing.dunning.runs import run_dunning
    from jobs.dispatch import QUEUE_NAME

    redis = Redis.from_url(common.REDIS_URL)
    queue = Queue(QUEUE_NAME, connection=redis)
    started_jobs = StartedJobRegistry(QUEUE_NAME, connection=redis)
    meter = common.CpuMeter(server_pids=[p.pid for p in procs], include_self=True)
    log(f"dunning run ({name}): run_dunning(at={at:%Y-%m-%d %H:%M}, fan_out=True) with {len(procs)} RQ workers")
    meter.start()
    started = time.perf_counter()
    run = run_dunning(at=at, fan_out=True)
    enqueue_s = time.perf_counter() - started
    dunning_s, idle_since, done = None, None, False
    next_log = started + 10
    statuses: dict[str, str] = {}
    while time.perf_counter() - started < timeout:
        if any(p.poll() is not None for p in procs):
            sys.exit(f"bench: an rq worker exited; see {common.OUT}/rq-dunning-*.log")
        if dunning_s is None:
            statuses = _job_statuses(redis, "dunning-*")
            if statuses and all(s in ("finished", "failed") for s in statuses.values()):
                dunning_s = time.perf_counter() - started
        if dunning_s is not None and queue.count == 0 and started_jobs.count == 0:
            # Twice in a row: a job popped from the queue is in no list until the worker registers it.
            if idle_since is not None:
                done = True
                break
            idle_since = time.perf_counter()
        else:
            idle_since = None
        if time.perf_counter() > next_log:
            log(f"dunning run ({name}): {common.scalar('SELECT count(*) FROM dunning_attempts'):,} attempts, "
                f"{queue.count} jobs queued after {time.perf_counter() - started:.0f} s")
            next_log += 10
        time.sleep(0.1)
    seconds = (idle_since or time.perf_counter()) - started
    cpu = meter.stop()
    failed = sorted(k for k, s in statuses.items() if s != "finished")
    result = {"seconds": round(seconds, 2), "dunning_s": round(dunning_s or seconds, 2),
              "enqueue_s": round(enqueue_s, 2), "jobs": run.jobs, "complete": done, "failed_jobs": failed,
              "cpu": cpu}
    log(f"dunning run ({name}): dunning jobs done in {result['dunning_s']:.1f} s, every job in {seconds:.1f} s "
        f"(enqueue {enqueue_s:.2f} s, {run.jobs} jobs, failed {len(failed)}); CPU {cpu}")
    return result


# ---------------------------------------------------------------- checks


def _email_handler() -> bool:
    """Whether a reminder email follows a payment request (billing.emails handling PaymentRequested): without
    it (a branch before the emails' part) no outbox row is expected and the email check is left out."""
    from billing import events
    from billing.payments.events import PaymentRequested

    return bool(events._handlers.get(PaymentRequested))


def _checks(org_id: str, email_handler: bool) -> dict:
    """What the run must have done, counted from the invoices (not from Tally's code)."""
    with common.pg_connect() as conn:
        expected = conn.execute(
            "SELECT count(*) FROM (SELECT customer_id FROM invoices WHERE organization_id = %s AND payment_overdue "
            "AND status = 'finalized' GROUP BY 1 HAVING sum(total_amount_cents) >= %s) x",
            (org_id, THRESHOLD_CENTS)).fetchone()[0]
        attempts = conn.execute("SELECT count(*), count(DISTINCT customer_id), count(*) FILTER (WHERE attempt = 1 "
                                "AND cycle = 0) FROM dunning_attempts").fetchone()
        wrong_customers = conn.execute(
            "SELECT count(*) FROM dunning_attempts a WHERE (SELECT sum(total_amount_cents) FROM invoices i WHERE "
            "i.customer_id = a.customer_id AND i.payment_overdue) < %s", (THRESHOLD_CENTS,)).fetchone()[0]
        requests = conn.execute(
            "SELECT count(*), count(DISTINCT dunning_attempt_id), count(*) FILTER (WHERE r.amount_cents = (SELECT "
            "sum(total_amount_cents) FROM invoices i WHERE i.customer_id = r.customer_id AND i.payment_overdue)) "
            "FROM payment_requests r").fetchone()
        linked = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE i.customer_id = r.customer_id) FROM payment_request_invoices l "
            "JOIN payment_requests r ON r.id = l.payment_request_id JOIN invoices i ON i.id = l.invoice_id"
            ).fetchone()
        over_invoices = conn.execute(
            "SELECT count(*) FROM invoices i WHERE i.payment_overdue AND (SELECT sum(total_amount_cents) FROM "
            "invoices x WHERE x.customer_id = i.customer_id AND x.payment_overdue) >= %s",
            (THRESHOLD_CENTS,)).fetchone()[0]
        counters = conn.execute("SELECT count(*) FILTER (WHERE last_dunning_campaign_attempt = 1), count(*) FILTER "
                                "(WHERE last_dunning_campaign_attempt > 1) FROM customers").fetchone()
        emails = conn.execute("SELECT count(*), count(DISTINCT payment_request_id) FROM email_deliveries "
                              "WHERE payment_request_id IS NOT NULL").fetchone()
        other_emails = conn.execute("SELECT count(*) FROM email_deliveries WHERE payment_request_id IS NULL"
                                    ).fetchone()[0]
        payments = conn.execute("SELECT count(*) FROM payments").fetchone()[0]
    result = {"expected": expected, "attempts": attempts[0], "attempt_customers": attempts[1],
              "first_attempts": attempts[2], "under_threshold_attempted": wrong_customers,
              "requests": requests[0], "request_attempts": requests[1], "request_amounts_right": requests[2],
              "request_invoices": linked[0], "request_invoices_theirs": linked[1],
              "invoices_over_threshold": over_invoices, "customers_counted_1": counters[0],
              "customers_counted_more": counters[1], "emails": emails[0], "email_requests": emails[1],
              "other_emails": other_emails, "payments": payments}
    result["emails_ok"] = (emails[0] == emails[1] == requests[0] if email_handler else emails[0] == 0) \
        and other_emails == 0
    result["ok"] = (attempts[0] == attempts[1] == attempts[2] == expected and wrong_customers == 0
                    and requests[0] == requests[1] == requests[2] == expected
                    and linked[0] == linked[1] == over_invoices and counters[0] == expected and counters[1] == 0
                    and payments == 0 and result["emails_ok"])
    log(f"dunning run: checks {'ok' if result['ok'] else 'FAILED'}: {result}")
    return result


# ---------------------------------------------------------------- the reference


def _insert_reference(count: int) -> dict:
    """PostgreSQL alone: `count` rows shaped like this run's payment requests, into a copy of `payment_requests`
    (same indexes): one row per transaction, then all in one INSERT ... SELECT."""
    with common.pg_connect() as conn:
        conn.execute("DROP TABLE IF EXISTS bench_payment_requests_ref")
        conn.execute("CREATE TABLE bench_payment_requests_ref "
                     "(LIKE payment_requests INCLUDING DEFAULTS INCLUDING INDEXES)")
        conn.commit()
        columns = common.table_columns(conn, "payment_requests")
        source = conn.execute(f"SELECT {', '.join(columns)} FROM payment_requests LIMIT 1").fetchone()
        if source is None:
            return {"rows": 0, "row_per_commit_rows_per_s": 0.0, "bulk_rows_per_s": 0.0}
        id_at = columns.index("id")
        insert = (f"INSERT INTO bench_payment_requests_ref ({', '.join(columns)}) "
                  f"VALUES ({', '.join(['%s'] * len(columns))})")
        rng = random.Random(1)
        started = time.perf_counter()
        for _ in range(count):
            values = list(source)
            values[id_at] = str(uuid.UUID(int=rng.getrandbits(128)))
            conn.execute(insert, values)
            conn.commit()
        per_commit = time.perf_counter() - started
        conn.execute("TRUNCATE bench_payment_requests_ref")
        conn.commit()
        replaced = {"id": "gen_random_uuid()::text"}
        started = time.perf_counter()
        conn.execute(f"INSERT INTO bench_payment_requests_ref ({', '.join(columns)}) SELECT "
                     f"{', '.join(replaced.get(c, c) for c in columns)} FROM payment_requests, "
                     "generate_series(1, %s) LIMIT %s", (count, count))
        conn.commit()
        bulk = time.perf_counter() - started
        conn.execute("DROP TABLE bench_payment_requests_ref")
        conn.commit()
    result = {"rows": count, "row_per_commit_s": round(per_commit, 2), "row_per_commit_rows_per_s": count / per_commit,
              "bulk_s": round(bulk, 3), "bulk_rows_per_s": count / bulk}
    log(f"dunning run: reference: {count:,} payment-request rows one per commit in {per_commit:.1f} s "
        f"({fmt(result['row_per_commit_rows_per_s'])}/s), in one INSERT in {bulk:.3f} s")
    return result


if __name__ == "__main__":
    common.print_table(main(sys.argv[1:])[0], "Dunning run")
