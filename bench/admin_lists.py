"""Benchmark 8: the admin's lists across customers at 200,000 invoices and 20,000 customers per organization.

    .venv/bin/python -m bench.admin_lists [--customers 20000] [--invoices-per-customer 10] [--requests 50]

Steps (a fresh bench database):
 1. two organizations (the documented CLI), each with N customers (names from lists of first and last names, some
    accented; an external id, an email) and 10 invoices per customer (numbered as Tally numbers them per customer,
    statuses, payment statuses, overdue flags, amounts and issuing dates over two years spread at random), loaded
    by COPY; VACUUM ANALYZE;
 2. "before": the indexes of migration 0041 dropped (the trigram indexes of the searches, the invoices' amount
    index, the customers' default-order index) and ANALYZE; every case below timed in this process through the
    list service (`billing.screens.listing.read_page`: the page and its count, what an admin page or its htmx swap
    runs), then its page and count statements alone;
 3. the indexes created again (each one's build time), ANALYZE, the same cases timed again ("after"); each case's
    page and count must be the same before and after, and its plan (EXPLAIN) is recorded;
 and the reference, from the same run: a bare SELECT of one invoice by primary key (psycopg, no ORM).
Cases: the invoices' default page, each filter (status, payment status, overdue, an issuing-date range), a part of
a number, a customer by name / email / external id, sort by amount both ways (and with a status filter), a short
(two-character) search; the customers list's default page and its search by name, email and external id.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import date, datetime, timedelta

from bench import common
from bench.common import Row, log, ms

ORGANIZATIONS = 2
FIRST = ("Émile", "Chloé", "Zoë", "José", "François", "Søren", "Łukasz", "Ana", "Maria", "John", "Olivia", "Noah",
         "Léa", "Hugo", "Björn", "Anaïs", "Jürgen", "Inès", "Mateo", "Sofia", "Yuki", "Amara", "Liam", "Nora",
         "Oscar", "Elif", "Ravi", "Chen", "Fatima", "Kofi")
LAST = ("Dubois", "Müller", "García", "Nowak", "Smith", "Rossi", "Jensen", "Kowalski", "Martin", "Bernard", "Silva",
        "Novák", "Schmidt", "López", "Öztürk", "Andersson", "Leroy", "Fontaine", "Brown", "Tanaka", "Okafor", "Patel",
        "Wang", "Haddad", "Mensah", "Petit", "Lefèvre", "Hansen", "Costa", "Kim")
SUFFIXES = ("", "", "", " SARL", " GmbH", " Ltd", " & Co")
STATUSES = (("finalized", 90), ("draft", 5), ("voided", 5))
PAYMENT_STATUSES = (("succeeded", 70), ("pending", 25), ("failed", 5))
TRIGRAM_INDEXES = ("ix_invoices_number_trgm", "ix_customers_name_trgm", "ix_customers_external_id_trgm",
                   "ix_customers_email_trgm")
NEW_INDEXES = (*TRIGRAM_INDEXES, "ix_invoices_org_amount", "ix_customers_org_created")  # migration 0041


def main(argv: list[str]) -> tuple[list[Row], dict]:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_lists")
    parser.add_argument("--customers", type=int, default=20_000, help="customers per organization")
    parser.add_argument("--invoices-per-customer", type=int, default=10)
    parser.add_argument("--requests", type=int, default=50, help="timed calls per case and state")
    args = parser.parse_args(argv)
    customers = max(100, min(args.customers, 200_000))
    per_customer = max(1, min(args.invoices_per_customer, 50))
    requests = max(5, min(args.requests, 1000))
    out: dict = {"customers": customers, "invoices": customers * per_customer, "requests": requests,
                 "environment": common.environment(), "load_before": _uptime()}

    log(f"admin lists: fresh database, {ORGANIZATIONS} organizations of {customers:,} customers and "
        f"{customers * per_customer:,} invoices")
    common.reset_database()
    orgs = [common.create_organization(f"Bench lists {i}")[0] for i in range(1, ORGANIZATIONS + 1)]
    started = time.perf_counter()
    rng = random.Random(20261207)
    with common.pg_connect(autocommit=True) as conn:
        # The customers first, analyzed: the invoices' foreign-key checks then look them up by primary key.
        loaded = [_customers(conn, rng, org_id, customers) for org_id in orgs]
        conn.execute("ANALYZE customers")
        for org_id, theirs in zip(orgs, loaded, strict=True):
            _invoices(conn, rng, org_id, theirs, per_customer)
        out["load_s"] = round(time.perf_counter() - started, 1)
        conn.execute("VACUUM ANALYZE customers")
        conn.execute("VACUUM ANALYZE invoices")
    log(f"admin lists: loaded by COPY in {out['load_s']} s")

    from jobs.dispatch import InProcessDispatcher

    common.configure_core(InProcessDispatcher(synchronous=True))
    org_id = orgs[0]
    cases = _cases(org_id)
    out["cases"] = {name: {"list": spec_name, "args": query} for name, spec_name, query in cases}
    out["reference"] = _reference(org_id, requests)
    out["extension"] = common.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'") == 1

    definitions = _definitions()
    missing = [name for name in NEW_INDEXES if name not in definitions]
    if missing:
        log(f"admin lists: not in this database (no migration 0041, or no pg_trgm): {', '.join(missing)}")
    with common.pg_connect(autocommit=True) as conn:
        for name in definitions:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("ANALYZE customers")
        conn.execute("ANALYZE invoices")
    out["before"] = _measure(cases, org_id, requests, "before")
    builds = {}
    with common.pg_connect(autocommit=True) as conn:
        for name, definition in definitions.items():
            started = time.perf_counter()
            conn.execute(definition)
            builds[name] = round(time.perf_counter() - started, 2)
        conn.execute("ANALYZE customers")
        conn.execute("ANALYZE invoices")
        out["index_sizes"] = dict(conn.execute(
            "SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid)) FROM pg_stat_user_indexes "
            "WHERE indexrelname = ANY(%s)", (list(definitions),)).fetchall())
    out["index_build_s"] = builds
    log(f"admin lists: indexes built again: {builds} ({out['index_sizes']})")
    out["after"] = _measure(cases, org_id, requests, "after")
    out["same_results"] = {name: out["before"][name]["result"] == out["after"][name]["result"]
                           for name in out["after"]}
    out["reference_after"] = _reference(org_id, requests)
    out["load_after"] = _uptime()
    common.save("admin_lists", out)
    return rows(out), out


def rows(out: dict) -> list[Row]:
    result = []
    for name, after in out["after"].items():
        before = out["before"][name]
        same = out["same_results"][name]
        result.append(Row("admin lists", f"{name} ({after['result']['total']:,})",
                          f"{_cell(after)}", _cell(before), "",
                          ("same" if same else "DIFFERENT") + (f"; {after['plan']}" if after["plan"] else "")))
    ref = out["reference"]
    result.append(Row("admin lists", "reference: SELECT one invoice by primary key (psycopg)",
                      f"{ref['p50']:.2f} / {ref['p95']:.2f} ms"))
    built = ", ".join(f"{k} {v:.1f} s" for k, v in out["index_build_s"].items())
    result.append(Row("admin lists", "index builds (sizes in the JSON)", built or "none (migration 0041 not applied)"))
    result.append(Row("admin lists", "load average before / after", f"{out['load_before']} / {out['load_after']}"))
    return result


def _cell(case: dict) -> str:
    """read_page p50 / p95 (the page statement's p50 + the count's)."""
    return f"{ms(case['p50'])} / {ms(case['p95'])} ({ms(case['page']['p50'])} + {ms(case['count']['p50'])})"


# ---------------------------------------------------------------- data


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _ascii(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


CUSTOMER_COLUMNS = ("id, organization_id, external_id, sequential_id, name, email, currency, "
                    "finalize_zero_amount_invoice, metadata, created_at, updated_at")
INVOICE_COLUMNS = ("id, organization_id, customer_id, invoice_type, status, payment_status, payment_overdue, currency, "
                   "number, issuing_date, payment_due_date, net_payment_term, fees_amount_cents, coupons_amount_cents, "
                   "sub_total_excluding_taxes_amount_cents, taxes_amount_cents, "
                   "sub_total_including_taxes_amount_cents, credit_notes_amount_cents, prepaid_credit_amount_cents, "
                   "progressive_billing_credit_amount_cents, total_amount_cents, total_paid_amount_cents, created_at, "
                   "updated_at")


def _copy(conn, table: str, columns: str, rows: list[tuple]) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _customers(conn, rng: random.Random, org_id: str, count: int) -> list[tuple]:
    """The organization's customers, by COPY (every NOT NULL column Tally's models fill); returns their rows."""
    rows = []
    for i in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = datetime(2024, 1, 1) + timedelta(minutes=i * 37)
        rows.append((str(uuid.UUID(int=rng.getrandbits(128), version=4)), org_id, f"cus_{i:06d}", i,
                     f"{first} {last}{rng.choice(SUFFIXES)}",
                     f"{_ascii(first)}.{_ascii(last)}.{i}@{rng.choice(('example.com', 'mail.test'))}",
                     rng.choice(("EUR", "EUR", "USD")), "inherit", "{}", created, created))
    _copy(conn, "customers", CUSTOMER_COLUMNS, rows)
    return rows


def _invoices(conn, rng: random.Random, org_id: str, customers: list[tuple], per_customer: int) -> None:
    """`per_customer` invoices of each customer, numbered as Tally numbers them per customer, by COPY."""
    prefix = conn.execute("SELECT document_number_prefix FROM organizations WHERE id = %s", (org_id,)).fetchone()[0]
    today = date.today()
    rows = []
    for customer in customers:
        for n in range(1, per_customer + 1):
            issued = today - timedelta(days=rng.randrange(730))
            status = _pick(rng, STATUSES)
            paid = _pick(rng, PAYMENT_STATUSES) if status == "finalized" else "pending"
            overdue = status == "finalized" and paid != "succeeded" and rng.random() < 0.2
            amount = rng.randrange(100, 1_000_000)
            moment = datetime.combine(issued, datetime.min.time()) + timedelta(seconds=rng.randrange(86_400))
            rows.append((str(uuid.UUID(int=rng.getrandbits(128), version=4)), org_id, customer[0], "one_off", status,
                         paid, overdue, customer[6], f"{prefix}-{customer[3]:03d}-{n:03d}", issued, issued, 0,
                         amount, 0, amount, 0, amount, 0, 0, 0, amount, amount if paid == "succeeded" else 0, moment,
                         moment))
    _copy(conn, "invoices", INVOICE_COLUMNS, rows)


# ---------------------------------------------------------------- cases


def _cases(org_id: str) -> list[tuple[str, str, dict[str, str]]]:
    """(name, list, query string) of each timed case; the searched texts are taken from the organization's rows."""
    with common.pg_connect() as conn:  # the last invoice of customer 12,345 (or of the last customer, if fewer)
        number, name, email, external_id = conn.execute(
            "SELECT i.number, c.name, c.email, c.external_id FROM invoices i JOIN customers c ON c.id = i.customer_id "
            "WHERE i.organization_id = %(org)s AND c.sequential_id = (SELECT least(12345, max(sequential_id)) FROM "
            "customers WHERE organization_id = %(org)s) ORDER BY i.number DESC LIMIT 1", {"org": org_id}
        ).fetchone()
    first_last = " ".join(name.split(" ")[:2])
    since = (date.today() - timedelta(days=30)).isoformat()
    return [
        ("invoices: default page", "INVOICES", {}),
        ("invoices: page 40", "INVOICES", {"page": "40"}),
        ("invoices: status=voided", "INVOICES", {"status": "voided"}),
        ("invoices: payment_status=failed", "INVOICES", {"payment_status": "failed"}),
        ("invoices: overdue", "INVOICES", {"overdue": "1"}),
        ("invoices: issued in the last 30 days", "INVOICES", {"issued_from": since}),
        (f"invoices: number contains {number[-9:]!r}", "INVOICES", {"number": number[-9:]}),
        (f"invoices: number contains {number[-3:]!r}", "INVOICES", {"number": number[-3:]}),
        (f"invoices: customer name {first_last.upper()!r}", "INVOICES", {"customer": first_last.upper()}),
        (f"invoices: customer name part {name.split(' ')[1][:4].lower()!r}", "INVOICES",
         {"customer": name.split(" ")[1][:4].lower()}),
        (f"invoices: customer email {email.split('@')[0]!r}", "INVOICES", {"customer": email.split("@")[0]}),
        (f"invoices: customer external id {external_id!r}", "INVOICES", {"customer": external_id}),
        ("invoices: customer, two characters 'jo'", "INVOICES", {"customer": "jo"}),
        ("invoices: sort by amount, largest first", "INVOICES", {"sort": "-amount"}),
        ("invoices: sort by amount, smallest first", "INVOICES", {"sort": "amount"}),
        ("invoices: status=finalized, sort by amount", "INVOICES", {"status": "finalized", "sort": "-amount"}),
        ("customers: default page", "CUSTOMERS", {}),
        (f"customers: search name {first_last.lower()!r}", "CUSTOMERS", {"search": first_last.lower()}),
        (f"customers: search email {email.split('@')[0]!r}", "CUSTOMERS", {"search": email.split("@")[0]}),
        (f"customers: search external id {external_id[:-1]!r}", "CUSTOMERS", {"search": external_id[:-1]}),
    ]


def _measure(cases, org_id: str, requests: int, state: str) -> dict:
    """Each case through `read_page` (the page, then the count: what the admin runs), then its two statements
    alone; p50/p95 of each, the result and the page statement's plan."""
    from sqlalchemy import func, select

    from billing import db
    from billing.screens import listing, lists

    results = {}
    for name, spec_name, args in cases:
        spec = getattr(lists, spec_name)
        query = spec.read(args)
        rows = spec.rows(org_id, query)
        page_statement = spec.ordered(rows, query).limit(spec.per_page).offset((query.page - 1) * spec.per_page)
        count_statement = select(func.count()).select_from(rows.order_by(None).subquery())

        def call(spec=spec, query=query):
            return listing.read_page(spec, organization_id=org_id, query=query)

        def alone(statement):
            with db.read_only() as session:
                return session.execute(statement).all()

        call()  # warm: the plan and the pages in the cache
        timing, page = common.timed(call, requests)
        page_only, _ = common.timed(lambda s=page_statement: alone(s), requests)
        count_only, _ = common.timed(lambda s=count_statement: alone(s), requests)
        with db.engine().connect() as conn:  # its dialect: the escapes as the server reads them
            compiled = page_statement.compile(conn)
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
        used = sorted({word.strip("()") for line in plan.splitlines() for word in line.split()
                       if word.strip("()") in NEW_INDEXES})
        results[name] = {**timing, "page": page_only, "count": count_only, "plan": ", ".join(used), "explain": plan,
                         "result": {"total": page.total_count, "ids": [row.id for row in page.items]}}
        log(f"admin lists ({state}): {name}: read_page p50/p95 {timing['p50']:.2f} / {timing['p95']:.2f} ms, "
            f"page alone {page_only['p50']:.2f}, count alone {count_only['p50']:.2f} (n={timing['n']}, "
            f"{page.total_count:,} rows){'; ' + ', '.join(used) if used else ''}")
    return results


def _reference(org_id: str, requests: int) -> dict:
    """A bare primary-key SELECT of one invoice (psycopg, one connection): what one indexed statement costs here."""
    with common.pg_connect() as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM invoices WHERE organization_id = %s ORDER BY random() "
                                          "LIMIT %s", (org_id, requests)).fetchall()]
        picks = iter(ids * 2)
        timing, _ = common.timed(lambda: conn.execute("SELECT * FROM invoices WHERE id = %s",
                                                      (next(picks),)).fetchone(), len(ids))
    return timing


def _definitions() -> dict[str, str]:
    """Each new index's CREATE INDEX, with the statistics target the migration gave its text column."""
    with common.pg_connect() as conn:
        found = dict(conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)",
                                  (list(NEW_INDEXES),)).fetchall())
        for name in found:
            for number, target in conn.execute("SELECT attnum, attstattarget FROM pg_attribute WHERE attrelid = "
                                               "%s::regclass AND attstattarget > 0", (name,)).fetchall():
                found[name] += f"; ALTER INDEX {name} ALTER COLUMN {number} SET STATISTICS {target}"
    return found


def _uptime() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


if __name__ == "__main__":
    found, result = main(sys.argv[1:])
    common.print_table(found, f"Admin lists: {result['invoices']:,} invoices and {result['customers']:,} customers "
                              f"in each of {ORGANIZATIONS} organizations; after (migration 0041) / before")
    print(f"\n(all figures measured in this run, in this process through billing.screens.listing.read_page; "
          f"JSON in {common.OUT}/admin_lists.json)")
    sys.exit(0 if all(result["same_results"].values()) else 1)
