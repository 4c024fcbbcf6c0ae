"""The invoice PDF as the customer reads it (pdftotext): where the invoice stands (due, partly paid, overdue,
paid) re-rendered as that changes, the pay link only while something is due and the customer's provider can take
it, the bank details, both parties; one A4 page for a typical invoice; a prorated fee's unit price rounded for
display, and no column running into the next however long its text; a credit note's reason in words."""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing import db
from billing.clock import run_billing_clock
from billing.customers.models import Customer
from billing.customers.services import upsert_customer
from billing.invoicing.documents import invoice_pdf_bytes
from billing.invoicing.models import Invoice
from billing.invoicing.pdf import render_credit_note_html
from billing.lifecycle import create_subscription
from billing.organizations.bank_details import update_bank_details
from billing.organizations.models import Organization
from billing.payments.collection import record_manual_payment
from tests.integration.helpers import monthly_plan, subscribe

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils (pdftotext) not installed")


def pdf_text(data: bytes) -> str:
    """The PDF's words on one line each run of spaces collapsed, as a reader sees them."""
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True).stdout
    return re.sub(r"[ \t]+", " ", out.decode())


def words(data: bytes) -> list[tuple[float, float, float, float, str]]:
    """Each word of the PDF with its box (x min, y min, x max, y max, in points), as pdftotext places it."""
    out = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=data, capture_output=True, check=True).stdout
    return [(float(x0), float(y0), float(x1), float(y1), word) for x0, y0, x1, y1, word in re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', out.decode())]


def pages(data: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=data, capture_output=True, check=True).stdout.decode()
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def _bill_one_period(org, clock, run_jobs, *, provider: bool) -> Invoice:
    with db.unit_of_work() as uow:
        organization = uow.session.get(Organization, org.id)
        organization.legal_name, organization.tax_identification_number = "Acme Cloud SAS", "FR40303265045"
        organization.address_line1, organization.zipcode, organization.city, organization.country = (
            "12 rue de la Paix", "75002", "Paris", "FR")
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id, amount_cents=3000)
    upsert_customer(organization_id=org.id, data={
        "external_id": "cust-1", "name": "Bertrand", "legal_name": "Bertrand Logistique SARL", "country": "FR",
        "timezone": "UTC", "address_line1": "4 quai des Chartrons", "zipcode": "33000", "city": "Bordeaux",
        "tax_identification_number": "FR83404833048",
        "shipping_address": {"address_line1": "Entrepôt 7", "zipcode": "33700", "city": "Mérignac", "country": "FR"}})
    if provider:  # as a customer linked to a connected provider is (billing.payments keeps that link)
        with db.unit_of_work() as uow:
            customer = uow.session.scalar(select(Customer).where(Customer.external_id == "cust-1"))
            customer.payment_provider, customer.payment_provider_code = "stripe", "stripe-eu"
    create_subscription(organization_id=org.id, data={
        "external_customer_id": "cust-1", "plan_code": "startup", "external_id": "sub-1",
        "subscription_at": "2026-09-01T00:00:00Z"})
    clock.set("2026-10-01T00:30:00Z")
    run_billing_clock()
    run_jobs()
    with db.read_only() as session:
        [invoice] = session.scalars(select(Invoice)).all()
        return invoice


def _pdf(org, invoice) -> str:
    return pdf_text(invoice_pdf_bytes(organization_id=org.id, invoice_id=invoice.id))


def test_the_pdf_follows_the_invoice_from_due_to_partly_paid_overdue_and_paid(org, clock, run_jobs):
    invoice = _bill_one_period(org, clock, run_jobs, provider=True)
    assert invoice.total_amount_cents == 3000 and invoice.payment_due_date.isoformat() == "2026-10-01"

    due = _pdf(org, invoice)
    assert "Due on 1 Oct 2026" in due and "Status" not in due and "finalized" not in due
    assert "Issued 1 Oct 2026" in due and "2026-10-01" not in due  # one date format
    assert "Acme Cloud SAS" in due and "Tax ID FR40303265045" in due and "France" in due
    assert "Bertrand Logistique SARL" in due and "Tax ID FR83404833048" in due
    assert "Ship to" in due and "Mérignac" in due
    assert "How to pay" in due and "/pay/" in due and "pay €30.00 now" in due

    record_manual_payment(organization_id=org.id, data={"invoice_id": invoice.id, "amount_cents": 1000,
                                                        "reference": "transfer 1"})
    partly = _pdf(org, invoice)
    assert "Partly paid: €20.00 due on 1 Oct 2026" in partly
    assert re.search(r"Paid\s+−€10\.00", partly) and re.search(r"Amount due\s+€20\.00", partly)

    clock.set("2026-10-05T09:00:00Z")
    overdue = _pdf(org, invoice)
    assert "Partly paid: €20.00 overdue since 1 Oct 2026" in overdue and "/pay/" in overdue

    record_manual_payment(organization_id=org.id, data={"invoice_id": invoice.id, "amount_cents": 2000,
                                                        "reference": "transfer 2"})
    paid = _pdf(org, invoice)
    assert re.search(rf"{invoice.number} Paid\n", paid) and re.search(r"Amount due\s+€0\.00", paid)
    assert "How to pay" not in paid and "/pay/" not in paid


def test_an_overdue_invoice_without_a_provider_shows_the_bank_details_and_no_pay_link(org, clock, run_jobs):
    invoice = _bill_one_period(org, clock, run_jobs, provider=False)
    assert "How to pay" not in _pdf(org, invoice)  # stored, before the bank details exist
    update_bank_details(organization_id=org.id, data={
        "account_holder": "Acme Cloud SAS", "iban": "FR1420041010050500013M02606", "bic": "PSSTFRPPPAR",
        "bank_name": "La Banque Postale", "payment_instructions": "Quote the invoice number."})
    assert "FR14 2004 1010 0505 0001 3M02 606" in _pdf(org, invoice)  # the stored PDF is replaced at once
    clock.set("2026-10-20T09:00:00Z")
    text = _pdf(org, invoice)
    assert "Overdue since 1 Oct 2026" in text
    assert "/pay/" not in text and "Online" not in text
    assert f"By bank transfer, quoting {invoice.number}" in text
    assert "FR14 2004 1010 0505 0001 3M02 606" in text and "PSSTFRPPPAR" in text
    assert "Quote the invoice number." in text


def test_a_paid_or_unpayable_invoice_has_no_how_to_pay_section(org, clock, run_jobs):
    invoice = _bill_one_period(org, clock, run_jobs, provider=False)
    text = _pdf(org, invoice)
    assert "Due on 1 Oct 2026" in text and "How to pay" not in text  # no provider, no bank details: nothing


def test_a_typical_invoice_is_one_page(app):
    from bench.invoice_pdf import render, typical_invoice

    data = render(typical_invoice(paid_cents=2000))
    assert pages(data) == 1
    text = pdf_text(data)
    for line in ("Startup (monthly)", "API calls", "Storage (GB-months)", "Compute seconds", "VAT (20 %",
                 "Coupon Welcome (WELCOME10)", "How to pay", "IBAN", "Page 1 of 1"):
        assert line in text, line


def test_a_prorated_fee_shows_its_unit_price_rounded_and_its_amount_exact(org, clock, run_jobs):
    clock.set("2026-10-22T00:00:00Z")
    monthly_plan(org.id, amount_cents=2700)
    subscribe(org.id, "sub-1", at="2026-10-22T00:00:00Z")
    clock.set("2026-11-01T00:30:00Z")
    run_billing_clock()
    run_jobs()
    with db.read_only() as session:
        [invoice] = session.scalars(select(Invoice)).all()
        [fee] = [fee for fee in invoice.fees if fee.fee_type == "subscription"]
        assert fee.amount_cents == 871 and fee.precise_unit_amount > Decimal("8.70967741935")  # 2700 × 10 / 31
    text = _pdf(org, invoice)
    assert "10 of 31 days" in text
    assert "Startup 22 Oct 2026 – 31 Oct 2026 1 €8.709677 €8.71\n" in text
    assert "8.7096774" not in text


def test_no_column_runs_into_the_next_however_long_a_description_or_a_number(app):
    from bench.invoice_pdf import render, typical_invoice

    invoice = typical_invoice()
    _, calls, storage, compute = invoice.fees
    storage.description = ("Storage (GB-months), replicated across three availability zones with point-in-time "
                           "recovery: s3://acme-analytics-warehouse-cold-tier-archive-bucket-eu-west-1")
    compute.precise_unit_amount, compute.amount_cents = Decimal("123456789.123456789012345"), 99_999_999_999_99
    calls.units = Decimal("18425000000000.5")
    data = render(invoice)
    assert pages(data) == 1
    boxes = words(data)
    overlapping = [(a[4], b[4]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                   if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]
    assert overlapping == []
    page_width, right_margin = 595.28, 16 / 25.4 * 72  # A4, the stylesheet's 16 mm
    assert max(box[2] for box in boxes) <= page_width - right_margin + 0.5
    assert "123,456,789.123457" in "".join(word for *_, word in boxes)  # rounded, wrapped inside its column


def test_a_credit_note_gives_its_reason_in_words(app):
    from bench.invoice_pdf import typical_invoice
    from billing.invoicing.models import CreditNote

    invoice = typical_invoice()
    note = CreditNote(number="ACM-2026-0042-CN1", invoice=invoice, reason="duplicated_charge", issuing_date=
                      invoice.issuing_date, credit_status="available", currency="EUR", items=[], applied_taxes=[],
                      coupons_adjustment_amount_cents=0, sub_total_excluding_taxes_amount_cents=0,
                      taxes_amount_cents=0, credit_amount_cents=0, refund_amount_cents=0, offset_amount_cents=0,
                      total_amount_cents=0)
    html = render_credit_note_html(note, invoice.customer, invoice.customer.organization)
    assert "Duplicated charge" in html and "duplicated charge" not in html
    assert "Bertrand Logistique SARL" in html and "FR83404833048" in html


def test_an_issued_invoice_and_its_credit_note_print_the_parties_as_they_were_on_their_day(org, clock, run_jobs):
    """The organization moves and renames itself, the customer changes its tax number and address: the invoice
    issued before (rendered again later: paid now, and in another language) and its credit note still print both
    parties as they were; the next invoice prints them as they are."""
    from billing.invoicing.credit_notes import create_credit_note, credit_note_pdf_bytes

    invoice = _bill_one_period(org, clock, run_jobs, provider=False)
    note = create_credit_note(organization_id=org.id, data={
        "invoice_id": invoice.id, "reason": "other", "credit_amount_cents": 500, "refund_amount_cents": 0,
        "items": [{"fee_id": invoice.fees[0].id, "amount_cents": 500}]})
    with db.unit_of_work() as uow:
        organization = uow.session.get(Organization, org.id)
        organization.legal_name, organization.address_line1 = "Acme Cloud Europe SE", "1 avenue de Lyon"
    upsert_customer(organization_id=org.id, data={
        "external_id": "cust-1", "legal_name": "Bertrand Group SA", "tax_identification_number": "FR12345678901",
        "address_line1": "9 cours de Verdun"})
    record_manual_payment(organization_id=org.id, data={"invoice_id": invoice.id, "amount_cents": 3000,
                                                        "reference": "transfer"})
    upsert_customer(organization_id=org.id, data={"external_id": "cust-1",
                                                  "billing_configuration": {"document_locale": "fr"}})

    issued = _pdf(org, invoice)  # rendered anew: paid, and in French
    credited = pdf_text(credit_note_pdf_bytes(organization_id=org.id, credit_note_id=note.id))
    for printed in (issued, credited):
        assert "Acme Cloud SAS" in printed and "12 rue de la Paix" in printed
        assert "Bertrand Logistique SARL" in printed and "FR83404833048" in printed and "4 quai des" in printed
        assert "Acme Cloud Europe SE" not in printed and "Bertrand Group SA" not in printed
    assert "Facture" in issued and "Payée" in issued

    clock.set("2026-11-01T00:30:00Z")
    run_billing_clock()
    run_jobs()
    with db.read_only() as session:
        following = session.scalar(select(Invoice).where(Invoice.id != invoice.id))
    current = _pdf(org, following)
    assert "Acme Cloud Europe SE" in current and "1 avenue de Lyon" in current
    assert "Bertrand Group SA" in current and "FR12345678901" in current and "9 cours de Verdun" in current
