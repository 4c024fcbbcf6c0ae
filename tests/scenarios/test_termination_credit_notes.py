"""Credit notes for the unused days of an advance fee, through lago-python-client, every amount to the cent.

November has 30 days; the customer is in UTC; "pro" is EUR 30.00 a month paid in advance, "max" EUR 60.00;
calls cost EUR 0.10 each in arrears. Rules: docs/billing.md, "Termination credit notes".
"""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription, Tax
from lago_python_client.models.customer import CustomerBillingConfiguration
from lago_python_client.models.invoice import InvoicePaymentStatusChange
from sqlalchemy import func, select

from billing.clock import run_billing_clock
from billing.db import read_only, unit_of_work
from billing.invoicing.models import CreditNote
from billing.invoicing.termination import credit_unused_advance_fee, unused_days
from billing.subscriptions.models import Subscription as SubscriptionRow

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


def _catalog(lago, clock, *, vat: bool = False, trial_period: float | None = None, **customer_fields) -> None:
    clock.set("2026-11-01T00:00:00Z")
    if vat:
        lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    for code, amount in (("pro", 3000), ("max", 6000)):
        lago.plans.create(Plan(name=code.title(), code=code, interval="monthly", amount_cents=amount,
                               amount_currency="EUR", pay_in_advance=True, trial_period=trial_period,
                               charges=[Charge(billable_metric_id=calls.lago_id, charge_model="standard",
                                               properties={"amount": "0.10"})]))
    lago.plans.create(Plan(name="Arrears", code="arrears", interval="monthly", amount_cents=3000,
                           amount_currency="EUR", pay_in_advance=False, charges=[]))
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC", **customer_fields))


def _subscribe(lago, run_jobs, plan: str = "pro") -> None:
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code=plan, external_id="sub"))
    run_jobs()  # the advance fee is billed by a job, at once


def _call(lago, n: int) -> None:
    lago.events.create(Event(transaction_id=f"call-{n}", external_subscription_id="sub", code="calls"))


def _invoices(lago):
    found = lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
    return sorted(found, key=lambda i: (i.issuing_date, i.number))


def _notes(lago):
    return lago.credit_notes.find_all({"external_customer_id": "cust"})["credit_notes"]


def _note_count() -> int:
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(CreditNote))


def test_unused_days_count_local_days_after_the_termination_day():
    from datetime import UTC, datetime

    def days(terminated: str, upgrade: bool = False, start: str = "2026-11-01T00:00:00"):
        return unused_days(fee_start=datetime.fromisoformat(start).replace(tzinfo=UTC),
                           fee_end=datetime(2026, 12, 1, tzinfo=UTC), days_in_period=30,
                           terminated_at=datetime.fromisoformat(terminated).replace(tzinfo=UTC), timezone="UTC",
                           upgrade=upgrade)

    assert days("2026-11-10T12:00:00") == days("2026-11-10T00:00:00")
    assert (days("2026-11-10T12:00:00").unused_days, days("2026-11-10T12:00:00").used_days) == (20, 10)
    assert days("2026-11-10T12:00:00", upgrade=True).unused_days == 21  # the change day goes to the new plan
    assert days("2026-11-30T23:00:00").unused_days == 0 and days("2026-12-01T00:00:00").unused_days == 0
    # A fee that started after a trial (15 November): days before it were never billed.
    assert days("2026-11-05T00:00:00", start="2026-11-15T00:00:00").unused_days == 16
    assert days("2026-11-20T08:00:00", start="2026-11-15T00:00:00").unused_days == 10


def test_terminating_credits_the_unused_days_with_their_taxes(lago, clock, run_jobs):
    _catalog(lago, clock, vat=True)
    _subscribe(lago, run_jobs)
    (advance,) = _invoices(lago)
    assert (advance.fees_amount_cents, advance.taxes_amount_cents, advance.total_amount_cents) == (3000, 600, 3600)
    clock.set("2026-11-10T11:00:00Z")
    _call(lago, 1)
    clock.set("2026-11-10T12:00:00Z")
    ended = lago.subscriptions.destroy("sub")
    assert (ended.status, ended.on_termination_credit_note, ended.on_termination_invoice) == (
        "terminated", "credit", "generate")
    (note,) = _notes(lago)
    # 11–30 November: 20 of 30 days of EUR 30.00 = 20.00, and its VAT 4.00 (the fee's rate, proportionally).
    assert (note.sub_total_excluding_taxes_amount_cents, note.taxes_amount_cents, note.total_amount_cents,
            note.credit_amount_cents, note.refund_amount_cents) == (2000, 400, 2400, 2400, 0)
    assert note.reason == "order_cancellation" and note.lago_invoice_id == advance.lago_id
    assert note.number == f"{advance.number}-CN1"
    (item,) = note.items.__root__
    assert (item.amount_cents, item.fee.item.code) == (2000, "pro")
    # The final invoice (its usage: 1 call + VAT = 0.12) already takes the credit.
    final = _invoices(lago)[-1]
    assert (final.fees_amount_cents, final.taxes_amount_cents, final.credit_notes_amount_cents,
            final.total_amount_cents) == (10, 2, 12, 0)
    assert lago.credit_notes.find(note.lago_id).balance_amount_cents == 2388


def test_offset_takes_the_unused_days_off_what_an_unpaid_invoice_owes(lago, clock, run_jobs):
    _catalog(lago, clock, vat=True)
    _subscribe(lago, run_jobs)
    (advance,) = _invoices(lago)
    assert (advance.total_amount_cents, advance.total_due_amount_cents) == (3600, 3600)  # not paid
    clock.set("2026-11-10T12:00:00Z")
    ended = lago.subscriptions.destroy("sub", {"on_termination_credit_note": "offset"})
    assert ended.on_termination_credit_note == "offset"
    (note,) = _notes(lago)
    # The 20 unused days with their VAT (24.00) come off the 36.00 owed: nothing is credited.
    assert (note.total_amount_cents, note.offset_amount_cents, note.credit_amount_cents,
            note.refund_amount_cents, note.credit_status) == (2400, 2400, 0, 0, None)
    advance = lago.invoices.find(advance.lago_id)
    assert (advance.total_amount_cents, advance.total_due_amount_cents, advance.payment_status) == (
        3600, 1200, "pending")
    # Paid by hand now: what is paid is what was still owed, so nothing offset is ever refundable.
    lago.invoices.update(InvoicePaymentStatusChange(payment_status="succeeded"), advance.lago_id)
    advance = lago.invoices.find(advance.lago_id)
    assert (advance.total_paid_amount_cents, advance.total_due_amount_cents) == (1200, 0)


def test_offset_on_a_paid_invoice_credits_instead(lago, clock, run_jobs):
    _catalog(lago, clock)
    _subscribe(lago, run_jobs)
    (advance,) = _invoices(lago)
    lago.invoices.update(InvoicePaymentStatusChange(payment_status="succeeded"), advance.lago_id)
    clock.set("2026-11-10T12:00:00Z")
    lago.subscriptions.destroy("sub", {"on_termination_credit_note": "offset"})
    (note,) = _notes(lago)
    assert (note.total_amount_cents, note.offset_amount_cents, note.credit_amount_cents) == (2000, 0, 2000)


def test_refund_gives_back_what_was_paid_for_the_unused_days(lago, clock, run_jobs):
    _catalog(lago, clock, vat=True)
    _subscribe(lago, run_jobs)
    (advance,) = _invoices(lago)
    lago.invoices.update(InvoicePaymentStatusChange(payment_status="succeeded"), advance.lago_id)
    clock.set("2026-11-10T11:00:00Z")
    _call(lago, 1)
    clock.set("2026-11-10T12:00:00Z")
    ended = lago.subscriptions.destroy("sub", {"on_termination_credit_note": "refund"})
    assert ended.on_termination_credit_note == "refund"
    (note,) = _notes(lago)
    # Paid 36.00 for the fee; used 10 days = 10.00 + 2.00 VAT: 24.00 refunded, nothing left to credit.
    assert (note.total_amount_cents, note.refund_amount_cents, note.credit_amount_cents, note.refund_status,
            note.credit_status) == (2400, 2400, 0, "pending", None)
    assert _invoices(lago)[-1].total_amount_cents == 12  # no credit balance to take


def test_refund_of_an_unpaid_invoice_is_a_credit(lago, clock, run_jobs):
    _catalog(lago, clock)
    _subscribe(lago, run_jobs)
    clock.set("2026-11-20T08:00:00Z")
    lago.subscriptions.destroy("sub", {"on_termination_credit_note": "refund"})
    (note,) = _notes(lago)
    # Nothing was paid: the 10 unused days (21–30 November) = 10.00 are credited.
    assert (note.total_amount_cents, note.refund_amount_cents, note.credit_amount_cents) == (1000, 0, 1000)


def test_skip_issues_no_credit_note_and_the_final_invoice_can_be_skipped_too(lago, clock, run_jobs):
    _catalog(lago, clock)
    _subscribe(lago, run_jobs)
    clock.set("2026-11-10T11:00:00Z")
    _call(lago, 1)
    clock.set("2026-11-10T12:00:00Z")
    ended = lago.subscriptions.destroy("sub", {"on_termination_credit_note": "skip",
                                               "on_termination_invoice": "skip"})
    assert (ended.on_termination_credit_note, ended.on_termination_invoice) == ("skip", "skip")
    assert _notes(lago) == [] and len(_invoices(lago)) == 1  # the advance invoice only


def test_bad_termination_options_are_refused_before_anything_changes(lago, clock, run_jobs):
    _catalog(lago, clock)
    _subscribe(lago, run_jobs)
    for options, details in (
            ({"on_termination_credit_note": "cash"}, {"on_termination_credit_note": ["invalid_value"]}),
            ({"on_termination_invoice": "later"}, {"on_termination_invoice": ["invalid_value"]})):
        with pytest.raises(LagoApiError) as refused:
            lago.subscriptions.destroy("sub", options)
        assert refused.value.status_code == 422 and refused.value.response["error_details"] == details
    assert lago.subscriptions.find("sub").status == "active"


def test_an_arrears_plan_has_no_credit_note_choice(lago, clock, run_jobs):
    _catalog(lago, clock)
    _subscribe(lago, run_jobs, plan="arrears")
    clock.set("2026-11-10T12:00:00Z")
    ended = lago.subscriptions.destroy("sub", {"on_termination_credit_note": "refund"})
    assert ended.on_termination_credit_note is None  # ignored, as Lago
    assert _notes(lago) == []
    assert [i.fees_amount_cents for i in _invoices(lago)] == [1000]  # 10 of 30 days in arrears


def test_upgrade_credits_the_unused_days_and_the_new_plan_uses_the_credit(lago, clock, run_jobs):
    _catalog(lago, clock)
    _subscribe(lago, run_jobs)
    clock.set("2026-11-10T11:00:00Z")
    _call(lago, 1)
    clock.set("2026-11-10T12:00:00Z")
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="max", external_id="sub"))
    run_jobs()
    (note,) = _notes(lago)
    # 10–30 November, the change day included (max bills it): 21 of 30 days of 30.00 = 21.00.
    assert (note.total_amount_cents, note.credit_amount_cents, note.reason) == (2100, 2100, "order_change")
    invoices = _invoices(lago)
    assert [(sorted(f.item.code for f in i.fees.__root__), i.fees_amount_cents, i.credit_notes_amount_cents,
             i.total_amount_cents) for i in invoices] == [
        (["pro"], 3000, 0, 3000),
        (["calls"], 10, 10, 0),  # pro's final invoice: its usage, paid by the credit
        (["max"], 4200, 2090, 2110),  # max from 10 November: 60.00 × 21/30, less what is left of the credit
    ]
    consumed = lago.credit_notes.find(note.lago_id)
    assert (consumed.balance_amount_cents, consumed.credit_status) == (0, "consumed")


def test_a_trial_is_never_credited(lago, clock, run_jobs):
    _catalog(lago, clock, trial_period=14)
    _subscribe(lago, run_jobs)
    clock.set("2026-11-10T00:00:00Z")
    # Terminated during the trial: no fee was billed, nothing to credit.
    lago.subscriptions.destroy("sub")
    assert _notes(lago) == []

    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub2"))
    clock.set("2026-11-24T00:30:00Z")  # its trial ended on 24 November: the fee covers 24–30 November
    run_billing_clock(fan_out=False)
    advance = _invoices(lago)[-1]
    assert advance.fees_amount_cents == 700
    clock.set("2026-11-26T09:00:00Z")
    lago.subscriptions.destroy("sub2")
    (note,) = _notes(lago)
    # 27–30 November: 4 days = 4.00 of the 7.00 paid after the trial.
    assert (note.total_amount_cents, note.lago_invoice_id) == (400, advance.lago_id)


def test_a_voided_invoice_gets_no_credit_note(lago, clock, run_jobs):
    _catalog(lago, clock)
    _subscribe(lago, run_jobs)
    (advance,) = _invoices(lago)
    lago.invoices.void(advance.lago_id)
    clock.set("2026-11-10T12:00:00Z")
    lago.subscriptions.destroy("sub")
    assert _notes(lago) == []


def test_a_draft_is_credited_when_it_is_finalized_and_only_once(lago, clock, run_jobs):
    _catalog(lago, clock, billing_configuration=CustomerBillingConfiguration(invoice_grace_period=3))
    _subscribe(lago, run_jobs)
    (draft,) = _invoices(lago)
    assert draft.status == "draft"
    clock.set("2026-11-02T12:00:00Z")
    lago.subscriptions.destroy("sub")
    assert _notes(lago) == []  # a draft can still change: credited once it is final
    finalized = lago.invoices.finalize(draft.lago_id)
    (note,) = _notes(lago)
    # 3–30 November: 28 of 30 days of 30.00 = 28.00.
    assert (note.total_amount_cents, note.number) == (2800, f"{finalized.number}-CN1")
    # Rerun: the termination's credit is issued once, whichever path runs again.
    with unit_of_work() as uow:
        subscription = uow.session.scalar(select(SubscriptionRow).where(SubscriptionRow.external_id == "sub"))
        again = credit_unused_advance_fee(uow, subscription)
    assert again.id == note.lago_id and _note_count() == 1
    run_billing_clock(fan_out=False)
    assert _note_count() == 1


def test_rerunning_a_termination_issues_one_credit_note(lago, clock, run_jobs):
    _catalog(lago, clock)
    _subscribe(lago, run_jobs)
    clock.set("2026-11-10T12:00:00Z")
    lago.subscriptions.destroy("sub")
    with pytest.raises(LagoApiError) as gone:
        lago.subscriptions.destroy("sub")  # already terminated: nothing live to terminate
    assert gone.value.status_code == 404
    for _ in range(2):
        with unit_of_work() as uow:
            subscription = uow.session.scalar(select(SubscriptionRow).where(SubscriptionRow.external_id == "sub"))
            credit_unused_advance_fee(uow, subscription)
    (note,) = _notes(lago)
    assert note.total_amount_cents == 2000 and _note_count() == 1


def test_ending_at_terminates_with_the_stored_choice(lago, clock, run_jobs, live_server, org):
    _catalog(lago, clock)
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub",
                                           ending_at="2026-11-16T00:00:00Z"))
    run_jobs()

    def update(choice: str) -> dict:
        # lago-python-client's Subscription input has no such field: Lago's PUT takes it, sent as JSON.
        response = httpx.put(f"{live_server}/api/v1/subscriptions/sub", headers={
            "Authorization": f"Bearer {org.api_key}"}, json={"subscription": {"on_termination_credit_note": choice}})
        return response.json()

    assert update("skip")["subscription"]["on_termination_credit_note"] == "skip"
    assert update("nope")["error_details"] == {"on_termination_credit_note": ["invalid_value"]}
    assert update("credit")["subscription"]["on_termination_credit_note"] == "credit"
    clock.set("2026-11-16T00:30:00Z")
    run_billing_clock(fan_out=False)
    assert lago.subscriptions.find("sub").status == "terminated"
    (note,) = _notes(lago)
    # Ended at 16 November 00:00: the 16th is its termination day; 17–30 November = 14 days = 14.00.
    assert note.total_amount_cents == 1400


@pytest.mark.parametrize(("stored", "expected"), [("refund", [(2100, 2100, 0)]), ("skip", [])])
def test_an_upgrade_credits_never_refunds_and_respects_a_stored_skip(lago, clock, run_jobs, live_server, org,
                                                                     stored, expected):
    _catalog(lago, clock)
    _subscribe(lago, run_jobs)
    (advance,) = _invoices(lago)
    lago.invoices.update(InvoicePaymentStatusChange(payment_status="succeeded"), advance.lago_id)
    httpx.put(f"{live_server}/api/v1/subscriptions/sub", headers={"Authorization": f"Bearer {org.api_key}"},
              json={"subscription": {"on_termination_credit_note": stored}}).raise_for_status()
    clock.set("2026-11-10T12:00:00Z")
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="max", external_id="sub"))
    assert [(n.total_amount_cents, n.credit_amount_cents, n.refund_amount_cents) for n in _notes(lago)] == expected
