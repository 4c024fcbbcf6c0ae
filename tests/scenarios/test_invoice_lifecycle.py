"""Invoice lifecycle through lago-python-client: refresh a draft, void, credit notes (docs/billing.md)."""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    AppliedCoupon,
    BillableMetric,
    Charge,
    Coupon,
    CreditNote,
    CreditNoteEstimate,
    Customer,
    Event,
    Plan,
    Subscription,
    Tax,
    WebhookEndpoint,
)
from lago_python_client.models.credit_note import CreditNoteUpdate, Item, Items
from lago_python_client.models.customer import CustomerBillingConfiguration
from lago_python_client.models.invoice import InvoicePaymentStatusChange
from sqlalchemy import select

from billing.clock import run_billing_clock
from billing.db import read_only
from billing.webhooks.models import WebhookDelivery
from tests.scenarios.test_taxes_and_coupons import _check_invariant

# The webhook endpoint of `_setup` is on 127.0.0.1 (port 9: every attempt fails), allowed only with this flag.
# both_stores: the SQL store, then ClickHouse (tests/conftest.py)
pytestmark = [pytest.mark.both_stores, pytest.mark.usefixtures("allow_private_webhooks")]


def _setup(lago, clock, customer: str, calls: int, **customer_fields) -> None:
    clock.set("2026-11-01T00:00:00Z")
    lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="http://127.0.0.1:9/hooks"))
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    metric = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    lago.plans.create(Plan(name="Pro", code="pro", interval="monthly", amount_cents=10000, amount_currency="EUR",
                           charges=[Charge(billable_metric_id=metric.lago_id, charge_model="standard",
                                           properties={"amount": "0.10"})]))
    lago.customers.create(Customer(external_id=customer, currency="EUR", timezone="UTC", **customer_fields))
    lago.subscriptions.create(Subscription(external_customer_id=customer, plan_code="pro", external_id=f"{customer}-s"))
    clock.set("2026-11-15T00:00:00Z")
    for n in range(calls):
        lago.events.create(Event(transaction_id=f"{customer}-{n}", external_subscription_id=f"{customer}-s",
                                 code="calls"))


def _bill(clock, at: str) -> None:
    clock.set(at)
    run_billing_clock(fan_out=False)


def _invoices(lago, customer: str):
    found = lago.invoices.find_all({"external_customer_id": customer})["invoices"]
    return sorted(found, key=lambda i: i.issuing_date)


def _webhooks(webhook_type: str) -> list[dict]:
    with read_only() as session:
        return [json.loads(d.body) for d in session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.webhook_type == webhook_type).order_by(WebhookDelivery.created_at))]


def _remaining(lago, customer: str) -> list[tuple[str, int | None]]:
    applied = lago.applied_coupons.find_all({"external_customer_id": customer})["applied_coupons"]
    return [(a.status, a.amount_cents_remaining) for a in applied]


def test_refresh_recomputes_a_draft_after_a_late_event_without_using_its_coupon_twice(lago, clock):
    _setup(lago, clock, "late", calls=10,
           billing_configuration=CustomerBillingConfiguration(invoice_grace_period=3))
    lago.coupons.create(Coupon(name="Welcome", code="welcome", coupon_type="fixed_amount", amount_cents=4000,
                               amount_currency="EUR", frequency="once", expiration="no_expiration"))
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="late", coupon_code="welcome"))

    _bill(clock, "2026-12-01T01:00:00Z")
    (draft,) = _invoices(lago, "late")
    assert draft.status == "draft"
    # 100.00 + 10 calls × 0.10 = 101.00; coupon 40.00; VAT 20 % of 61.00 = 12.20.
    assert (draft.fees_amount_cents, draft.coupons_amount_cents, draft.taxes_amount_cents,
            draft.total_amount_cents) == (10100, 4000, 1220, 7320)
    assert _remaining(lago, "late") == [("terminated", 0)]

    # A late event for November, sent during the grace period.
    lago.events.create(Event(transaction_id="late-x", external_subscription_id="late-s", code="calls",
                             timestamp="2026-11-30T23:00:00Z"))
    lago.events.create(Event(transaction_id="late-y", external_subscription_id="late-s", code="calls",
                             timestamp="2026-11-20T10:00:00Z"))
    refreshed = lago.invoices.refresh(draft.lago_id)
    _check_invariant(refreshed)
    assert refreshed.status == "draft" and refreshed.number == draft.number
    # 100.00 + 12 × 0.10 = 101.20; the same coupon 40.00 (given back, taken again); VAT 20 % of 61.20.
    assert (refreshed.fees_amount_cents, refreshed.coupons_amount_cents, refreshed.taxes_amount_cents,
            refreshed.total_amount_cents) == (10120, 4000, 1224, 7344)
    calls = next(f for f in refreshed.fees.__root__ if f.item.code == "calls")
    assert calls.units == "12" and calls.amount_cents == 120
    assert _remaining(lago, "late") == [("terminated", 0)]
    # Refreshing twice changes nothing.
    again = lago.invoices.refresh(draft.lago_id)
    assert (again.coupons_amount_cents, again.total_amount_cents) == (4000, 7344)
    assert len(again.fees.__root__) == 2 and len(again.credits.__root__) == 1

    finalized = lago.invoices.finalize(draft.lago_id)
    assert finalized.status == "finalized" and finalized.total_amount_cents == 7344
    with pytest.raises(LagoApiError) as refused:
        lago.invoices.refresh(draft.lago_id)
    assert refused.value.status_code == 405
    assert refused.value.response["code"] == "is_finalized"


def test_void_keeps_the_number_gives_the_coupon_back_and_sends_the_webhook(lago, clock):
    _setup(lago, clock, "v", calls=0)
    lago.coupons.create(Coupon(name="Once", code="once", coupon_type="fixed_amount", amount_cents=1000,
                               amount_currency="EUR", frequency="once", expiration="no_expiration"))
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="v", coupon_code="once"))
    _bill(clock, "2026-12-01T01:00:00Z")
    (invoice,) = _invoices(lago, "v")
    assert invoice.status == "finalized" and invoice.number.endswith("-001-001")
    assert invoice.total_amount_cents == 10800  # (100.00 − 10.00) × 1.2
    assert _remaining(lago, "v") == [("terminated", 0)]

    voided = lago.invoices.void(invoice.lago_id)
    assert voided.status == "voided" and voided.number == invoice.number and voided.voided_at
    assert voided.total_due_amount_cents == 0
    assert _remaining(lago, "v") == [("active", 1000)]
    (hook,) = _webhooks("invoice.voided")
    assert hook["invoice"]["lago_id"] == invoice.lago_id and hook["invoice"]["status"] == "voided"
    with pytest.raises(LagoApiError) as twice:
        lago.invoices.void(invoice.lago_id)
    assert twice.value.status_code == 405 and twice.value.response["code"] == "not_voidable"

    # The next invoice takes the next number (voiding leaves no gap) and the coupon again.
    _bill(clock, "2027-01-01T01:00:00Z")
    second = _invoices(lago, "v")[-1]
    assert second.number.endswith("-001-002") and second.coupons_amount_cents == 1000
    # A paid invoice is not voided.
    lago.invoices.update(InvoicePaymentStatusChange(payment_status="succeeded"), second.lago_id)
    with pytest.raises(LagoApiError) as paid:
        lago.invoices.void(second.lago_id)
    assert paid.value.status_code == 405


def test_credit_note_on_a_taxed_fee_credit_and_refund_then_consumed_by_the_next_invoice(lago, clock, run_jobs):
    _setup(lago, clock, "cn", calls=10)
    _bill(clock, "2026-12-01T01:00:00Z")
    (invoice,) = _invoices(lago, "cn")
    assert (invoice.fees_amount_cents, invoice.taxes_amount_cents, invoice.total_amount_cents) == (10100, 2020, 12120)
    fees = {f.item.code: f for f in invoice.fees.__root__}
    subscription_fee, calls_fee = fees["pro"], fees["calls"]

    def note(amount: int, fee=subscription_fee, credit=None, refund=None):
        return CreditNote(invoice_id=invoice.lago_id, reason="order_change", credit_amount_cents=credit,
                          refund_amount_cents=refund, items=Items(__root__=[Item(fee_id=fee.lago_id,
                                                                                 amount_cents=amount)]))

    estimate = lago.credit_notes.estimate(CreditNoteEstimate(
        invoice_id=invoice.lago_id, items=Items(__root__=[Item(fee_id=subscription_fee.lago_id, amount_cents=5000)])))
    assert (estimate.sub_total_excluding_taxes_amount_cents, estimate.taxes_amount_cents,
            estimate.max_creditable_amount_cents, estimate.max_refundable_amount_cents) == (5000, 1000, 6000, 0)

    # Unpaid: nothing to refund.
    with pytest.raises(LagoApiError) as unpaid:
        lago.credit_notes.create(note(5000, credit=4000, refund=2000))
    assert unpaid.value.status_code == 422
    lago.invoices.update(InvoicePaymentStatusChange(payment_status="succeeded"), invoice.lago_id)

    created = lago.credit_notes.create(note(5000, credit=4000, refund=2000))
    assert created.number == f"{invoice.number}-CN1" and created.reason == "order_change"
    # 50.00 of the 100.00 fee and its VAT: 20 % of 50.00 = 10.00; 60.00 = 40.00 credited + 20.00 refunded.
    assert (created.sub_total_excluding_taxes_amount_cents, created.taxes_amount_cents, created.total_amount_cents,
            created.credit_amount_cents, created.refund_amount_cents, created.balance_amount_cents) == (
        5000, 1000, 6000, 4000, 2000, 4000)
    assert created.credit_status == "available" and created.refund_status == "pending"
    (tax,) = created.applied_taxes.__root__
    assert (tax.tax_code, tax.base_amount_cents, tax.amount_cents) == ("vat20", 5000, 1000)
    assert created.items.__root__[0].fee.lago_id == subscription_fee.lago_id
    (hook,) = _webhooks("credit_note.created")
    assert hook["credit_note"]["lago_id"] == created.lago_id and hook["credit_note"]["total_amount_cents"] == 6000

    # Over-crediting: 50.01 more on a fee with 50.00 left, 1.01 on a 1.00 fee; a wrong split.
    for refused in (note(5001, credit=6001), note(101, fee=calls_fee, credit=121), note(1000, credit=1000)):
        with pytest.raises(LagoApiError) as error:
            lago.credit_notes.create(refused)
        assert error.value.status_code == 422
    with pytest.raises(LagoApiError) as bad_reason:
        lago.credit_notes.create(CreditNote(invoice_id=invoice.lago_id, reason="because", credit_amount_cents=120,
                                            items=Items(__root__=[Item(fee_id=calls_fee.lago_id, amount_cents=100)])))
    assert bad_reason.value.status_code == 422

    updated = lago.credit_notes.update(CreditNoteUpdate(refund_status="succeeded"), created.lago_id)
    assert updated.refund_status == "succeeded"
    listed = lago.credit_notes.find_all({"external_customer_id": "cn"})["credit_notes"]
    assert [n.lago_id for n in listed] == [created.lago_id]

    # The PDF: rendered by its job, behind a signed link, showing the note's total.
    run_jobs()
    downloaded = lago.credit_notes.download(created.lago_id)
    pdf = httpx.get(downloaded.file_url)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True).stdout
        assert b"60.00" in text and created.number.encode() in text
    assert httpx.get(downloaded.file_url.replace(".pdf", "x.pdf")).status_code == 404

    # December: no usage; 100.00 + VAT 20.00 = 120.00, less the 40.00 credit (after taxes).
    _bill(clock, "2027-01-01T01:00:00Z")
    january = _invoices(lago, "cn")[-1]
    _check_invariant_with_credit_notes(january)
    assert (january.fees_amount_cents, january.taxes_amount_cents, january.sub_total_including_taxes_amount_cents,
            january.credit_notes_amount_cents, january.total_amount_cents) == (10000, 2000, 12000, 4000, 8000)
    consumed = lago.credit_notes.find(created.lago_id)
    assert consumed.balance_amount_cents == 0 and consumed.credit_status == "consumed"
    with pytest.raises(LagoApiError) as nothing_left:
        lago.credit_notes.void(created.lago_id)
    assert nothing_left.value.status_code == 405


def test_credit_notes_offset_what_an_unpaid_invoice_owes_until_it_is_settled(lago, clock):
    _setup(lago, clock, "off", calls=10)
    _bill(clock, "2026-12-01T01:00:00Z")
    (invoice,) = _invoices(lago, "off")
    assert (invoice.total_amount_cents, invoice.total_due_amount_cents, invoice.payment_status) == (
        12120, 12120, "pending")
    fees = {f.item.code: f for f in invoice.fees.__root__}

    def note(*amounts: tuple[str, int], **split):
        return CreditNote(invoice_id=invoice.lago_id, reason="order_change", items=Items(__root__=[
            Item(fee_id=fees[code].lago_id, amount_cents=amount) for code, amount in amounts]), **split)

    def owed() -> tuple[int, str]:
        found = lago.invoices.find(invoice.lago_id)
        return found.total_due_amount_cents, found.payment_status

    estimate = lago.credit_notes.estimate(CreditNoteEstimate(
        invoice_id=invoice.lago_id, items=Items(__root__=[Item(fee_id=fees["pro"].lago_id, amount_cents=5000)])))
    assert (estimate.max_creditable_amount_cents, estimate.max_refundable_amount_cents,
            estimate.max_offsettable_amount_cents) == (6000, 0, 6000)
    # Only an offset sent: all of the note's 60.00 (50.00 and its VAT) comes off what is owed, none credited.
    first = lago.credit_notes.create(note(("pro", 5000), offset_amount_cents=6000))
    assert (first.total_amount_cents, first.offset_amount_cents, first.credit_amount_cents,
            first.credit_status) == (6000, 6000, 0, None)
    assert owed() == (6120, "pending")
    # A split: 40.00 + VAT = 48.00, 40.00 offset and 8.00 credited (the credit does not settle the invoice).
    second = lago.credit_notes.create(note(("pro", 4000), offset_amount_cents=4000, credit_amount_cents=800))
    assert (second.offset_amount_cents, second.credit_amount_cents, second.balance_amount_cents) == (4000, 800, 800)
    assert owed() == (2120, "pending")
    # The split must still add up to the note's total.
    with pytest.raises(LagoApiError) as wrong:
        lago.credit_notes.create(note(("pro", 1000), offset_amount_cents=1000))
    assert wrong.value.response["error_details"] == {"base": ["does_not_match_item_amounts"]}
    # The last 10.00 + the calls 1.00, with VAT 13.20, offset: 8.00 is still owed.
    lago.credit_notes.create(note(("pro", 1000), ("calls", 100), offset_amount_cents=1320))
    assert owed() == (800, "pending")
    assert sorted(n.offset_amount_cents for n in lago.credit_notes.find_all({"external_customer_id": "off"})[
        "credit_notes"]) == [1320, 4000, 6000]


def test_an_offset_settles_the_invoice_once_nothing_is_owed_and_never_on_a_paid_one(lago, clock):
    _setup(lago, clock, "set", calls=0)
    lago.customers.create(Customer(external_id="paid", currency="EUR", timezone="UTC"))
    lago.subscriptions.create(Subscription(external_customer_id="paid", plan_code="pro", external_id="paid-s",
                                           subscription_at="2026-11-01T00:00:00Z"))
    _bill(clock, "2026-12-01T01:00:00Z")
    (owing,) = _invoices(lago, "set")
    pro = next(f for f in owing.fees.__root__ if f.item.code == "pro")
    lago.credit_notes.create(CreditNote(invoice_id=owing.lago_id, reason="order_change", offset_amount_cents=12000,
                                        items=Items(__root__=[Item(fee_id=pro.lago_id, amount_cents=10000)])))
    settled = lago.invoices.find(owing.lago_id)
    assert (settled.total_due_amount_cents, settled.payment_status, settled.total_paid_amount_cents) == (
        0, "succeeded", 0)

    (paid,) = _invoices(lago, "paid")
    lago.invoices.update(InvoicePaymentStatusChange(payment_status="succeeded"), paid.lago_id)
    pro = next(f for f in paid.fees.__root__ if f.item.code == "pro")
    with pytest.raises(LagoApiError) as refused:
        lago.credit_notes.create(CreditNote(invoice_id=paid.lago_id, reason="order_change", offset_amount_cents=1200,
                                            items=Items(__root__=[Item(fee_id=pro.lago_id, amount_cents=1000)])))
    assert refused.value.status_code == 422
    assert refused.value.response["error_details"] == {"offset_amount_cents": ["higher_than_remaining_invoice_amount"]}


def test_voiding_a_credit_note_ends_its_balance(lago, clock):
    _setup(lago, clock, "cv", calls=10)
    _bill(clock, "2026-12-01T01:00:00Z")
    (invoice,) = _invoices(lago, "cv")
    calls_fee = next(f for f in invoice.fees.__root__ if f.item.code == "calls")
    created = lago.credit_notes.create(CreditNote(
        invoice_id=invoice.lago_id, reason="duplicated_charge", credit_amount_cents=120,
        items=Items(__root__=[Item(fee_id=calls_fee.lago_id, amount_cents=100)])))
    assert (created.total_amount_cents, created.balance_amount_cents) == (120, 120)
    voided = lago.credit_notes.void(created.lago_id)
    assert voided.credit_status == "voided" and voided.balance_amount_cents == 0
    _bill(clock, "2027-01-01T01:00:00Z")
    assert _invoices(lago, "cv")[-1].credit_notes_amount_cents == 0


def _check_invariant_with_credit_notes(invoice) -> None:
    credits = invoice.credits.__root__ if invoice.credits else []
    coupons = sum(c.amount_cents for c in credits if c.item.type == "coupon")
    notes = sum(c.amount_cents for c in credits if c.item.type == "credit_note")
    assert invoice.coupons_amount_cents == coupons and invoice.credit_notes_amount_cents == notes
    assert invoice.total_amount_cents == (invoice.fees_amount_cents - coupons + invoice.taxes_amount_cents - notes
                                          - invoice.prepaid_credit_amount_cents)
