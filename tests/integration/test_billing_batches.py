"""Billing subscriptions in batches (the clock's jobs): the same invoices as one by one, each billing once,
numbers without gaps, one failing subscription not stopping the others, a killed batch leaving nothing."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from billing.catalog.coupons import apply_coupon, create_coupon
from billing.catalog.taxes import create_tax
from billing.clock import run_billing_clock
from billing.customers.models import Customer
from billing.customers.services import upsert_customer
from billing.db import read_only, unit_of_work
from billing.emails.models import EmailDelivery
from billing.invoicing import fees, queries, runs
from billing.invoicing.models import Fee, Invoice, InvoiceSubscription
from billing.metering.services import ingest_events
from billing.organizations.models import Organization, Sequence
from billing.organizations.services import create_organization, next_in_sequence, reserve_in_sequences
from billing.subscriptions.models import Subscription
from billing.wallets.services import create_wallet
from billing.webhooks.models import WebhookDelivery
from billing.webhooks.services import create_webhook_endpoint
from tests.integration.helpers import monthly_plan, subscribe
from tests.smtp_sink import smtp  # noqa: F401 (a fixture: an SMTP sink)
from tests.webhooks.conftest import receiver  # noqa: F401 (a fixture: a webhook receiver)

OCTOBER = datetime(2026, 10, 1, 1, tzinfo=UTC)


def _count(model, **where) -> int:
    with read_only() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return session.scalar(query)


def _calls(organization_id: str, subscription: str, count: int, prefix: str = "") -> None:
    ingest_events(organization_id=organization_id, raw_events=[
        {"transaction_id": f"{prefix}{subscription}-{i}", "external_subscription_id": subscription,
         "code": "api_calls", "timestamp": "2026-09-10T00:00:00Z"} for i in range(count)])


def _mixed_organization(name: str, clock, webhook_url: str) -> tuple[str, list[str]]:
    """An organization whose customers each have something else: a tax, coupons, a wallet, a grace period,
    two subscriptions, a missed period, an email address; with a webhook endpoint. Returns it and its
    subscriptions (in the order they are billed)."""
    organization_id = create_organization(name=name, default_currency="EUR").organization_id
    create_webhook_endpoint(organization_id=organization_id, data={"webhook_url": webhook_url})
    monthly_plan(organization_id)
    create_tax(organization_id=organization_id, data={"name": "VAT", "code": "vat20", "rate": "20"})
    create_tax(organization_id=organization_id, data={"name": "Reduced", "code": "vat5", "rate": "5",
                                                      "applied_to_organization": True})
    create_coupon(organization_id=organization_id, data={
        "name": "Five euros", "code": "five", "coupon_type": "fixed_amount", "amount_cents": 500,
        "amount_currency": "EUR", "frequency": "once", "expiration": "no_expiration"})
    create_coupon(organization_id=organization_id, data={
        "name": "Ten percent", "code": "tenpc", "coupon_type": "percentage", "percentage_rate": "10",
        "frequency": "recurring", "frequency_duration": 2, "expiration": "no_expiration"})
    ids = [subscribe(organization_id, "plain", at="2026-09-01T00:00:00Z"),
           subscribe(organization_id, "taxed", at="2026-09-01T00:00:00Z"),
           subscribe(organization_id, "coupons", at="2026-09-01T00:00:00Z"),
           subscribe(organization_id, "wallet", at="2026-09-01T00:00:00Z"),
           subscribe(organization_id, "grace", at="2026-09-01T00:00:00Z"),
           subscribe(organization_id, "two-a", at="2026-09-01T00:00:00Z", customer="two"),
           subscribe(organization_id, "two-b", at="2026-09-16T00:00:00Z", customer="two"),
           _created_then(clock, lambda: subscribe(organization_id, "missed", at="2026-08-01T00:00:00Z"))]
    upsert_customer(organization_id=organization_id, data={"external_id": "cust-taxed", "tax_codes": ["vat20"]})
    for second, code in enumerate(("five", "tenpc")):  # applied one after the other: taken in that order
        clock.set(f"2026-09-16T00:00:0{second}Z")
        apply_coupon(organization_id=organization_id, data={"external_customer_id": "cust-coupons",
                                                            "coupon_code": code})
    create_wallet(organization_id=organization_id, data={"external_customer_id": "cust-wallet",
                                                         "rate_amount": "1", "granted_credits": "12.5",
                                                         "currency": "EUR"})
    upsert_customer(organization_id=organization_id, data={"external_id": "cust-grace", "invoice_grace_period": 2})
    for customer in ("cust-plain", "two"):
        upsert_customer(organization_id=organization_id, data={"external_id": customer,
                                                               "email": f"{customer}@example.test"})
    for n, subscription in enumerate(["plain", "taxed", "coupons", "wallet", "grace", "two-a", "two-b", "missed"]):
        _calls(organization_id, subscription, 3 + n, prefix=name)
    return organization_id, ids


def _created_then(clock, create):
    """A subscription created in August whose August billing the clock missed (a backdated one would not bill
    August at all: docs/billing.md, Limits)."""
    now = clock.now()
    clock.set("2026-08-01T00:00:00Z")
    try:
        return create()
    finally:
        clock.set(now)


def _invoices_of(organization_id: str) -> dict[str, list[tuple]]:
    """Per subscription external id: each invoice's amounts, status, number and fees, oldest first."""
    found: dict[str, list[tuple]] = {}
    with read_only() as session:
        invoices = session.scalars(select(Invoice).where(Invoice.organization_id == organization_id))
        for invoice in invoices:
            [link] = invoice.invoice_subscriptions
            subscription = session.get(Subscription, link.subscription_id)
            found.setdefault(subscription.external_id, []).append((
                link.boundary, invoice.status, invoice.number, invoice.fees_amount_cents,
                invoice.coupons_amount_cents, invoice.taxes_amount_cents, invoice.prepaid_credit_amount_cents,
                invoice.total_amount_cents, invoice.payment_status,
                sorted((f.fee_type, f.item_code, f.amount_cents, f.taxes_amount_cents) for f in invoice.fees),
                sorted((c.coupon_code, c.amount_cents) for c in invoice.credits),
                sorted((t.tax_code, t.amount_cents) for t in invoice.applied_taxes)))
    return {key: sorted(value) for key, value in found.items()}


def test_a_batch_issues_the_same_invoices_as_one_by_one(app, clock, run_jobs, smtp, receiver):  # noqa: F811
    clock.set("2026-09-16T00:00:00Z")  # every subscription below has started
    batched, batch_ids = _mixed_organization("Batched", clock, receiver.url)
    single, single_ids = _mixed_organization("Single", clock, receiver.url)
    clock.set("2026-10-01T01:00:00Z")

    created = runs.bill_subscriptions(subscription_ids=batch_ids, at=OCTOBER)
    one_by_one = [i for subscription_id in single_ids
                  for i in runs.bill_subscription(subscription_id=subscription_id, at=OCTOBER)]
    assert len(created) == len(one_by_one) == 9  # "missed" has August and September

    def comparable(invoices: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
        def number(text: str) -> str:  # the organizations' number prefixes differ
            return "DRAFT" if text.endswith("-DRAFT") else text[-7:]

        return {key: [(*row[:2], number(row[2]), *row[3:]) for row in rows] for key, rows in invoices.items()}

    batch, reference = _invoices_of(batched), _invoices_of(single)
    assert comparable(batch) == comparable(reference)
    # A few of them by hand: 3000 + 0.01 per call; coupons then taxes; the wallet after taxes.
    [(_, status, number, fees, coupons, taxes, prepaid, total, *_rest)] = batch["coupons"]
    assert (status, fees, coupons, taxes, total) == ("finalized", 3005, 500 + 251, 113, 2367)
    [(_, _, _, fees, coupons, taxes, prepaid, total, payment, *_rest)] = batch["wallet"]
    assert (fees, taxes, prepaid, total, payment) == (3006, 150, 1250, 1906, "pending")
    [(_, status, number, *_rest)] = batch["grace"]
    assert status == "draft" and number.endswith("-DRAFT")
    assert [row[2][-7:] for row in batch["missed"]] == ["007-001", "007-002"]  # gap-free, oldest first
    assert sorted(row[2][-3:] for key in ("two-a", "two-b") for row in batch[key]) == ["001", "002"]
    assert runs.bill_subscriptions(subscription_ids=batch_ids, at=OCTOBER) == []
    # Each invoice announced once, as written (its number), and emailed once when finalized.
    for organization_id in (batched, single):
        with read_only() as session:
            numbers = dict(session.execute(select(Invoice.id, Invoice.number).where(
                Invoice.organization_id == organization_id)).all())
            hooks = session.scalars(select(WebhookDelivery).where(
                WebhookDelivery.organization_id == organization_id, WebhookDelivery.object_type == "invoice")).all()
            emails = session.scalars(select(EmailDelivery.to_address).where(
                EmailDelivery.organization_id == organization_id)).all()
        assert sorted(h.webhook_type for h in hooks) == ["invoice.created"] * 8 + ["invoice.drafted"]
        assert {h.object_id: json.loads(h.body)["invoice"]["number"] for h in hooks} == numbers
        assert sorted(emails) == ["cust-plain@example.test", "two@example.test", "two@example.test"]
    run_jobs()  # deliver what was asked for (the webhooks, the emails) before the next test


def test_per_organization_numbers_of_a_batch_follow_each_other(org, clock):
    with unit_of_work() as uow:
        uow.session.get(Organization, org.id).document_numbering = "per_organization"
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    ids = [subscribe(org.id, f"sub-{n}", at="2026-09-01T00:00:00Z") for n in range(5)]
    clock.set("2026-10-01T01:00:00Z")
    [first] = runs.bill_subscriptions(subscription_ids=ids[:1], at=OCTOBER)
    runs.bill_subscriptions(subscription_ids=ids[1:], at=OCTOBER)
    with read_only() as session:
        numbers = sorted(session.scalars(select(Invoice.number)))
        assert session.get(Invoice, first).number.endswith("-202610-001")
    assert [n[-3:] for n in numbers] == ["001", "002", "003", "004", "005"]


def test_one_failing_subscription_does_not_stop_the_others_and_the_rerun_bills_it(org, clock, monkeypatch):
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    ids = [subscribe(org.id, f"sub-{n}", at="2026-09-01T00:00:00Z") for n in range(4)]
    for n in range(4):
        _calls(org.id, f"sub-{n}", n + 1)
    real = fees.charge_usage

    def broken_for_sub_2(session, subscription, *args, **kwargs):
        if subscription.external_id == "sub-2":
            raise ValueError("a bug met by this subscription only")
        return real(session, subscription, *args, **kwargs)

    monkeypatch.setattr(fees, "charge_usage", broken_for_sub_2)
    with pytest.raises(runs.BillingFailed) as failure:
        runs.bill_subscriptions(subscription_ids=ids, at=OCTOBER)
    assert failure.value.subscription_ids == [ids[2]] and len(failure.value.created) == 3
    assert _count(InvoiceSubscription) == 3 and _count(InvoiceSubscription, subscription_id=ids[2]) == 0

    monkeypatch.setattr(fees, "charge_usage", real)  # fixed: the job's retry bills what is left
    [retried] = runs.bill_subscriptions(subscription_ids=ids, at=OCTOBER)
    assert _count(Invoice) == _count(InvoiceSubscription) == 4
    assert queries.get_invoice(organization_id=org.id, invoice_id=retried).fees_amount_cents == 3000 + 3
    with read_only() as session:
        assert sorted(session.scalars(select(Invoice.number))) == sorted(set(session.scalars(select(Invoice.number))))


def test_a_subscription_whose_terms_cannot_be_worked_out_does_not_stop_the_clock(org, clock, run_jobs):
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    ids = [subscribe(org.id, f"sub-{n}", at="2026-09-01T00:00:00Z") for n in range(3)]
    with unit_of_work() as uow:  # bad data (a time zone gone from the system's database, say)
        uow.session.get(Subscription, ids[1]).customer.timezone = "Mars/Olympus_Mons"
    clock.set("2026-10-01T01:00:00Z")
    run = run_billing_clock(fan_out=False)
    assert run.failed == [ids[1]] and len(run.invoices) == 2
    run = run_billing_clock()  # fanned out: the batch's job fails on it alone, again
    assert run.billed_subscriptions == [ids[1]]
    run_jobs()
    assert _count(InvoiceSubscription) == 2 and _count(InvoiceSubscription, subscription_id=ids[1]) == 0


def test_a_batch_killed_mid_way_leaves_nothing_and_the_rerun_bills_each_once(org, clock, monkeypatch):
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    ids = [subscribe(org.id, f"sub-{n}", at="2026-09-01T00:00:00Z") for n in range(3)]
    _calls(org.id, "sub-1", 7)
    real, seen = fees.charge_usage, []

    def killed_at_the_second(session, subscription, *args, **kwargs):
        seen.append(subscription.id)
        if len(set(seen)) == 2:
            raise SystemExit("worker killed")  # like a SIGTERM'd work horse, mid-transaction
        return real(session, subscription, *args, **kwargs)

    monkeypatch.setattr(fees, "charge_usage", killed_at_the_second)
    with pytest.raises(SystemExit):
        runs.bill_subscriptions(subscription_ids=ids, at=OCTOBER)
    assert _count(Invoice) == _count(Fee) == _count(InvoiceSubscription) == 0
    with read_only() as session:  # no invoice number was taken either
        assert session.scalar(select(func.count()).select_from(Sequence).where(Sequence.scope.like("invoice:%"))) == 0

    monkeypatch.setattr(fees, "charge_usage", real)
    assert len(runs.bill_subscriptions(subscription_ids=ids, at=OCTOBER)) == 3
    assert runs.bill_subscriptions(subscription_ids=ids, at=OCTOBER) == []  # a second rerun: nothing
    assert _count(Invoice) == _count(InvoiceSubscription) == 3
    with read_only() as session:
        assert {n[-7:] for n in session.scalars(select(Invoice.number))} == {"001-001", "002-001", "003-001"}
        assert sorted(session.scalars(select(Invoice.fees_amount_cents))) == [3000, 3000, 3007]


def test_two_batches_over_the_same_subscriptions_at_once_bill_each_once(org, clock):
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    ids = [subscribe(org.id, f"sub-{n}", at="2026-09-01T00:00:00Z") for n in range(4)]
    barrier = threading.Barrier(3)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def bill(subscription_ids: list[str]) -> None:
        barrier.wait()
        try:
            results.append(runs.bill_subscriptions(subscription_ids=subscription_ids, at=OCTOBER))
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=bill, args=(order,)) for order in (ids, ids[::-1], ids[1:3])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(len(r) for r in results) == 4
    assert _count(Invoice) == _count(InvoiceSubscription) == 4


def test_due_batches_keep_customers_together_and_cut_the_same_slices_on_a_rerun(org, clock):
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    layout = {"a": 2, "b": 2, "c": 1, "d": 4, "e": 1}  # customer: subscriptions
    for customer, count in layout.items():
        for n in range(count):
            subscribe(org.id, f"{customer}-{n}", at="2026-09-01T00:00:00Z", customer=customer)
    with read_only() as session:
        customer_of = dict(session.execute(select(Subscription.id, Customer.external_id).join(
            Customer, Customer.id == Subscription.customer_id)).all())
    clock.set("2026-10-01T01:00:00Z")
    batches = runs.due_batches(at=OCTOBER, size=3)
    assert sorted(s for b in batches for s in b.subscription_ids) == sorted(customer_of)
    assert all(len(b.subscription_ids) <= 3 and b.organization_id == org.id for b in batches)
    # A customer with at most `size` subscriptions is in one batch only; "d" (4) is cut in two.
    holding = {customer: sum(1 for b in batches if any(customer_of[s] == customer for s in b.subscription_ids))
               for customer in layout}
    assert holding == {"a": 1, "b": 1, "c": 1, "d": 2, "e": 1}

    runs.bill_subscriptions(subscription_ids=batches[0].subscription_ids, at=OCTOBER)
    again = runs.due_batches(at=OCTOBER, size=3)
    assert [(b.key, b.subscription_ids) for b in again] == [(b.key, b.subscription_ids) for b in batches[1:]]


def test_numbers_taken_in_one_go_continue_the_counter(app):
    with unit_of_work() as uow:
        assert next_in_sequence(uow.session, "invoice:x") == 1
        assert reserve_in_sequences(uow.session, {"invoice:x": 3, "invoice:y": 2, "invoice:z": 0}) == {
            "invoice:x": 2, "invoice:y": 1}
        assert next_in_sequence(uow.session, "invoice:x") == 5
    with unit_of_work() as uow:
        assert reserve_in_sequences(uow.session, {"invoice:y": 1}) == {"invoice:y": 3}
        uow.session.rollback()  # given back: the next one takes it again
    with unit_of_work() as uow:
        assert reserve_in_sequences(uow.session, {"invoice:y": 1}) == {"invoice:y": 3}
