"""Benchmark: one invoice PDF's render time, a typical invoice (a subscription fee, 3 usage lines, taxes, a coupon,
both parties' addresses, bank details and a pay link), next to WeasyPrint rendering a trivial page.

    .venv/bin/python -m bench.invoice_pdf [--renders 50]

No database: the invoice is built in memory (`typical_invoice`, also used by the tests), so the numbers are the
template and WeasyPrint alone. Target: p95 under 0.2 s and one page.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import billing.models  # noqa: F401  (every mapper, so the unsaved rows below can be built)
from bench import common
from bench.common import Row, percentiles
from billing.customers.models import Customer
from billing.invoicing.models import Credit, Fee, Invoice, InvoiceAppliedTax
from billing.organizations.models import Organization

TARGET_P95_MS = 200.0
PERIOD = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
USAGE = (("API calls", Decimal("184250"), Decimal("0.001"), 18425),
         ("Storage (GB-months)", Decimal("312.5"), Decimal("0.5"), 15625),
         ("Compute seconds, eu-west-1", Decimal("96000"), Decimal("0.0002"), 1920))


def typical_invoice(*, payment_status: str = "pending", paid_cents: int = 0, due: date = date(2026, 12, 31),
                    provider: str | None = "stripe") -> Invoice:
    """An unsaved finalized invoice as a month of a usage plan makes it, its customer and organization with it."""
    organization = Organization(
        id="org-bench", name="Acme Cloud", legal_name="Acme Cloud SAS", timezone="UTC", default_currency="EUR",
        address_line1="12 rue de la Paix", zipcode="75002", city="Paris", country="FR", email="billing@acme.test",
        tax_identification_number="FR40303265045", legal_number="RCS Paris 123 456 789",
        bank_account_holder="Acme Cloud SAS", bank_iban="FR1420041010050500013M02606", bank_bic="PSSTFRPPPAR",
        bank_name="La Banque Postale", payment_instructions="Transfers take 1–2 business days.")
    customer = Customer(
        id="cust-bench", organization=organization, organization_id=organization.id, external_id="bertrand",
        name="Bertrand", legal_name="Bertrand Logistique SARL", email="ap@bertrand.test", timezone="UTC",
        address_line1="4 quai des Chartrons", zipcode="33000", city="Bordeaux", country="FR",
        tax_identification_number="FR83404833048", shipping_address_line1="Entrepôt 7, ZI du Phare",
        shipping_zipcode="33700", shipping_city="Mérignac", shipping_country="FR",
        payment_provider=provider, payment_provider_code="stripe-eu" if provider else None)
    fees = [Fee(fee_type="subscription", description="Startup (monthly)", units=Decimal(1),
                precise_unit_amount=Decimal("49"), amount_cents=4900, amount_currency="EUR", position=0,
                from_datetime=PERIOD[0], to_datetime=PERIOD[1],
                amount_details={"days_billed": 30, "days_in_period": 30})]
    fees += [Fee(fee_type="charge", description=name, units=units, precise_unit_amount=price, amount_cents=cents,
                 amount_currency="EUR", position=i + 1, from_datetime=PERIOD[0], to_datetime=PERIOD[1],
                 amount_details={}) for i, (name, units, price, cents) in enumerate(USAGE)]
    fees_cents = sum(f.amount_cents for f in fees)
    coupon = 1000
    base = fees_cents - coupon
    tax = (base * 20 + 50) // 100
    total = base + tax
    invoice = Invoice(
        id="inv-bench", organization_id=organization.id, customer=customer, customer_id=customer.id,
        status="finalized", payment_status=payment_status, payment_overdue=False, currency="EUR",
        number="ACM-2026-0042", issuing_date=date(2026, 12, 1), payment_due_date=due, fees=fees,
        fees_amount_cents=fees_cents, coupons_amount_cents=coupon, sub_total_excluding_taxes_amount_cents=base,
        taxes_amount_cents=tax, sub_total_including_taxes_amount_cents=total, total_amount_cents=total,
        total_paid_amount_cents=total if payment_status == "succeeded" else paid_cents, offset_amount_cents=0,
        credit_notes_amount_cents=0, prepaid_credit_amount_cents=0, invoice_subscriptions=[],
        applied_taxes=[InvoiceAppliedTax(tax_name="VAT", tax_code="vat_fr", tax_rate=Decimal("20"),
                                         fees_amount_cents=base, amount_cents=tax, amount_currency="EUR")],
        credits=[Credit(coupon_code="WELCOME10", coupon_name="Welcome", amount_cents=coupon, amount_currency="EUR",
                        position=0)])
    return invoice


def render(invoice: Invoice) -> bytes:
    from billing.invoicing.pdf import render_invoice

    return render_invoice(invoice, invoice.customer, invoice.customer.organization, {})


def _trivial_page() -> bytes:
    from weasyprint import HTML  # the reference: WeasyPrint's floor on this machine

    return HTML(string="<!doctype html><html><body><p>Hello</p></body></html>").write_pdf()


def _timed(action, renders: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each call: on a shared machine the wall time's tail is other processes' turn,
    the CPU time is the render's own cost."""
    action()  # warm-up: fonts, templates
    wall, cpu = [], []
    for _ in range(renders):
        begun, begun_cpu = time.perf_counter(), time.process_time()
        action()
        wall.append((time.perf_counter() - begun) * 1000)
        cpu.append((time.process_time() - begun_cpu) * 1000)
    return wall, cpu


def main(argv: list[str] | None = None) -> tuple[list[Row], dict]:
    from billing import ports
    from billing.adapters.files import LocalFileStore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=50)
    args = parser.parse_args(argv)
    ports.configure(files=LocalFileStore("/tmp/tally-bench-pdf"), secret_key="bench", base_url="https://tally.test")
    invoice = typical_invoice()
    wall, cpu = _timed(lambda: render(invoice), args.renders)
    typical, typical_cpu = percentiles(wall), percentiles(cpu)
    trivial = percentiles(_timed(_trivial_page, args.renders)[0])
    result = {"renders": args.renders, "typical_ms": typical, "typical_cpu_ms": typical_cpu, "trivial_ms": trivial,
              "ok": typical["p95"] < TARGET_P95_MS}
    common.log(f"invoice PDF, typical: p50 {typical['p50']:.0f} ms, p95 {typical['p95']:.0f} ms wall "
               f"(CPU p50 {typical_cpu['p50']:.0f} ms, p95 {typical_cpu['p95']:.0f} ms; target p95 < "
               f"{TARGET_P95_MS:.0f} ms: {'ok' if result['ok'] else 'MISSED'}); "
               f"WeasyPrint on a one-line page: p50 {trivial['p50']:.0f} ms, p95 {trivial['p95']:.0f} ms")
    common.save("invoice_pdf", result)
    rows = [Row("invoice PDF", f"typical invoice render p50/p95 ({args.renders} renders)",
                f"{typical['p50']:.0f}/{typical['p95']:.0f} ms",
                f"one-line page {trivial['p50']:.0f}/{trivial['p95']:.0f} ms", f"p95 < {TARGET_P95_MS:.0f} ms",
                common.verdict(result["ok"]))]
    return rows, result


if __name__ == "__main__":
    main()
