"""Collecting finalized invoices through the local test Stripe, next to the same charges made straight with the SDK.

    .venv/bin/python -m bench.payment_collection [--invoices 1000] [--customers 50]

localstripe (tests/servers/stripe.py, in a process of its own) is the Stripe of both measurements. Set-up
(not timed): the bench database migrated, one organization connected to it (kind stripe), `--customers`
customers linked to Stripe customers, each with a saved card (4242…), and `--invoices` one-off invoices
finalized while no card was saved (so nothing was charged yet). Then, one after the other and alternating so
that both see the same server in the same state:

- **Tally**: `billing.payments.collection.collect_invoice` (what the collection job runs, in process): the
  pending payment row committed, the PaymentIntent created and confirmed with its idempotency key, the
  answer applied (payment, invoice, receipt, outgoing webhooks: none registered; emails: no SMTP);
- **reference**: the official SDK creating and confirming the same PaymentIntent (same customer, card,
  amount; its own idempotency key), nothing else.

Reported: payments/s of each, p50/p95 per payment, and Tally's overhead per payment (the difference of the
means and of the medians), with the SQL statements Tally sent per payment. Every invoice is checked paid and
localstripe is checked to hold exactly one PaymentIntent per charge. No target: this measures, it does not
judge (the overhead is what matters when Stripe itself answers in 300-800 ms).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import time
import urllib.request

from bench import common
from bench.common import Row, log

SECRET_KEY = "sk_test_bench_collection"  # noqa: S105 (localstripe takes any sk_test_ key)


def _serve_stripe(port: int) -> None:
    """The child process: localstripe on 127.0.0.1:port, its store in memory only, until killed."""
    from tests.servers.stripe import start_localstripe

    start_localstripe(port)
    while True:
        time.sleep(3600)


def _start_stripe() -> tuple[subprocess.Popen, str]:
    port = common.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.payment_collection", "--serve-stripe", str(port)],
                            cwd=common.ROOT, stdout=(common.OUT / "localstripe.log").open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            request = urllib.request.Request(f"{base}/v1/customers?limit=1",
                                             headers={"Authorization": f"Bearer {SECRET_KEY}"})
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310 (127.0.0.1, ours)
                return proc, base
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                sys.exit("bench: localstripe did not start (see localstripe.log)")
            time.sleep(0.2)


def _configure() -> None:
    import jobs.tasks  # noqa: F401  (imports every model, as a worker does)
    from billing.settings import Settings
    from jobs.bootstrap import configure_core
    from jobs.dispatch import InProcessDispatcher

    env = {**common.server_env(), "TALLY_INVOICE_PDFS": "0"}
    env.pop("SMTP_HOST", None)
    configure_core(Settings.from_env(env), dispatcher=InProcessDispatcher(synchronous=True))


def _set_up(base: str, invoices: int, customers: int) -> tuple[str, list[tuple[str, str, str, str]]]:
    """The organization, its customers with a saved card, and the finalized invoices: [(invoice, cus, pm, id)]."""
    import stripe

    from billing.catalog.add_ons import create_add_on
    from billing.customers.services import upsert_customer
    from billing.invoicing.one_off import create_one_off_invoice
    from billing.organizations.services import create_organization
    from billing.payments import customers as payment_customers
    from billing.payments import providers

    org_id = create_organization(name="Bench payments", default_currency="EUR").organization_id
    providers.connect_provider(organization_id=org_id, kind="stripe", code="stripe_bench",
                               settings={"secret_key": SECRET_KEY, "api_base": base, "webhook_secret": "whsec_bench"})
    create_add_on(organization_id=org_id, data={"name": "Usage", "code": "usage", "amount_cents": 1000,
                                                "amount_currency": "EUR"})
    browser = stripe.StripeClient(SECRET_KEY, base_addresses={"api": base})
    rows = []
    for n in range(customers):
        upsert_customer(organization_id=org_id, data={
            "external_id": f"bench-{n}", "name": f"Bench customer {n}", "currency": "EUR",
            "billing_configuration": {"payment_provider": "stripe", "payment_provider_code": "stripe_bench",
                                      "sync_with_provider": True}})
    for n in range(invoices):  # finalized with no card saved yet: each one's collection finds nothing to charge
        invoice = create_one_off_invoice(organization_id=org_id, data={
            "external_customer_id": f"bench-{n % customers}", "currency": "EUR",
            "fees": [{"add_on_code": "usage", "units": 1, "unit_amount_cents": 1000 + n}]})
        rows.append((invoice.id, n % customers, invoice.total_amount_cents))
    methods = {}
    for n in range(customers):
        from billing.customers.services import get_customer

        customer = get_customer(organization_id=org_id, external_id=f"bench-{n}")
        method = browser.v1.payment_methods.create(params={
            "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
        payment_customers.save_new_method(organization_id=org_id, customer_id=customer.id,
                                          provider_method_id=method.id)
        methods[n] = (customer.payment_provider_customer_id, method.id)
    return org_id, [(invoice_id, *methods[n], amount) for invoice_id, n, amount in rows]


class _StatementCounter:
    def __init__(self):
        from sqlalchemy import event

        from billing import db

        self.count = 0
        event.listen(db.engine(), "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += 1


def main(argv: list[str]) -> tuple[list[Row], dict]:
    parser = argparse.ArgumentParser(prog="python -m bench.payment_collection")
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--serve-stripe", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_stripe:
        _serve_stripe(args.serve_stripe)
    import stripe

    from billing.db import read_only
    from billing.invoicing.models import Invoice
    from billing.payments import collection

    common.reset_database()
    stripe_proc, base = _start_stripe()
    try:
        _configure()
        log(f"payment collection: setting up {args.customers} customers and {args.invoices:,} finalized invoices")
        started = time.perf_counter()
        org_id, invoices = _set_up(base, args.invoices, args.customers)
        log(f"payment collection: set up in {time.perf_counter() - started:.0f} s; charging, Tally and the SDK "
            "in turn")
        client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": base}, max_network_retries=0)
        keys = itertools.count(1)
        counter = _StatementCounter()
        tally_ms, sdk_ms, statements, statuses = [], [], 0, []
        run = common.run_id()
        for invoice_id, customer_id, method_id, amount in invoices:
            before = counter.count
            t0 = time.perf_counter()
            attempt = collection.collect_invoice(organization_id=org_id, invoice_id=invoice_id)
            tally_ms.append((time.perf_counter() - t0) * 1000)
            statements += counter.count - before
            statuses.append(attempt.status)
            t0 = time.perf_counter()
            client.v1.payment_intents.create(
                params={"amount": amount, "currency": "eur", "customer": customer_id, "payment_method": method_id,
                        "confirm": True, "off_session": True, "metadata": {"bench": "sdk"}},
                options={"idempotency_key": f"bench-sdk-{run}-{next(keys)}"})
            sdk_ms.append((time.perf_counter() - t0) * 1000)
        with read_only() as session:
            from sqlalchemy import func, select

            paid = session.scalar(select(func.count()).select_from(Invoice).where(
                Invoice.organization_id == org_id, Invoice.payment_status == "succeeded"))
        intents = 0
        page = client.v1.payment_intents.list(params={"limit": 100})
        for _ in page.auto_paging_iter():
            intents += 1
    finally:
        stripe_proc.kill()
        stripe_proc.wait(timeout=10)

    n = len(invoices)
    tally, sdk = common.percentiles(tally_ms), common.percentiles(sdk_ms)
    result = {
        "invoices": n, "customers": args.customers, "paid": paid, "succeeded": statuses.count("succeeded"),
        "payment_intents_at_stripe": intents, "expected_payment_intents": 2 * n,
        "tally": {**tally, "per_second": n / (sum(tally_ms) / 1000)},
        "sdk": {**sdk, "per_second": n / (sum(sdk_ms) / 1000)},
        "overhead_mean_ms": statistics.fmean(tally_ms) - statistics.fmean(sdk_ms),
        "overhead_p50_ms": tally["p50"] - sdk["p50"],
        "statements_per_payment": statements / n,
    }
    common.save("payment_collection", result)
    consistent = paid == n and intents == 2 * n
    log(f"payment collection: {paid:,}/{n:,} invoices paid, {intents:,} PaymentIntents at localstripe "
        f"(expected {2 * n:,}): {'consistent' if consistent else 'INCONSISTENT'}")
    rows = [
        Row("payment collection", "payments/s (sequential)", common.fmt(result["tally"]["per_second"], 1),
            f"{common.fmt(result['sdk']['per_second'], 1)} (SDK alone)"),
        Row("payment collection", "per payment p50", common.ms(tally["p50"]), f"{common.ms(sdk['p50'])} (SDK)"),
        Row("payment collection", "per payment p95", common.ms(tally["p95"]), f"{common.ms(sdk['p95'])} (SDK)"),
        Row("payment collection", "Tally's overhead per payment (mean, p50)",
            f"{common.ms(result['overhead_mean_ms'])}, {common.ms(result['overhead_p50_ms'])}"),
        Row("payment collection", "SQL statements per payment", common.fmt(result["statements_per_payment"], 1)),
        Row("payment collection", "paid once each", f"{paid:,}/{n:,}, {intents:,} intents", f"{2 * n:,} intents",
            "", common.verdict(consistent)),
    ]
    return rows, result


if __name__ == "__main__":
    table_rows, _ = main(sys.argv[1:])
    common.print_table(table_rows, "Payment collection through localstripe")
