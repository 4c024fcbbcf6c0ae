"""The low-balance email: a wallet whose ongoing balance is depleted is mailed once per crossing, to a real
SMTP server (aiosmtpd), however many events and concurrent checks see it (docs/billing.md, Wallets)."""

from __future__ import annotations

import threading

from lago_python_client.models import (
    BillableMetric,
    Charge,
    Customer,
    Event,
    Plan,
    Subscription,
    Wallet,
    WalletTransaction,
)
from sqlalchemy import select

from billing import db
from billing.emails.models import EmailDelivery
from billing.money import format_money
from billing.organizations.models import Organization
from billing.wallets.rules import check_wallet_thresholds


def _setup(lago, org) -> str:
    with db.unit_of_work() as uow:
        uow.session.get(Organization, org.id).email = "accounts@acme.test"
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    lago.plans.create(Plan(name="Pro", code="pro", interval="monthly", amount_cents=0, amount_currency="EUR",
                           charges=[Charge(billable_metric_id=calls.lago_id, charge_model="standard",
                                           properties={"amount": "1"})]))
    lago.customers.create(Customer(external_id="cust", name="Bertrand SARL", email="ap@bertrand.test",
                                   currency="EUR", timezone="UTC"))
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub",
                                           billing_time="anniversary"))
    return lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1", granted_credits="10",
                                      currency="EUR", name="Prepaid")).lago_id


def _burst(lago, first: int, last: int) -> None:
    for n in range(first, last):
        lago.events.create(Event(transaction_id=f"e{n}", external_subscription_id="sub", code="calls"))


def _checks_at_once(count: int = 4) -> None:
    barrier = threading.Barrier(count)
    errors = []

    def check():
        try:
            barrier.wait()
            check_wallet_thresholds()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=check) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def _deliveries() -> list[EmailDelivery]:
    with db.read_only() as session:
        return list(session.scalars(select(EmailDelivery).order_by(EmailDelivery.sequence)))


def test_depleted_wallet_is_emailed_once_per_crossing_under_a_burst(lago, org, clock, run_jobs, smtp):
    clock.set("2026-11-10T12:00:00Z")
    wallet_id = _setup(lago, org)
    # A burst of 15 calls at €1.00 against 10 credits: the rollup job asks for the check, and four
    # more checks run at once; the crossing is one.
    _burst(lago, 0, 15)
    run_jobs()
    _checks_at_once()
    run_jobs()
    wallet = lago.wallets.find(wallet_id)
    assert (wallet.ongoing_usage_balance_cents, wallet.ongoing_balance_cents) == (1500, -500)
    [mail] = smtp.parsed()
    assert mail["To"] == "ap@bertrand.test" and mail["From"] == "Acme Cloud <accounts@acme.test>"
    assert mail["Subject"] == "Your Acme Cloud prepaid credits are used up"
    [delivery] = _deliveries()
    assert (delivery.kind, delivery.status, delivery.sequence, delivery.wallet_id) == (
        "wallet.depleted_ongoing_balance", "sent", 1, wallet_id)
    # The amounts as they were at the crossing (the rollup job may have seen part of the burst only).
    assert -500 <= delivery.details["ongoing_balance_cents"] <= 0 and delivery.details["balance_cents"] == 1000
    body = mail.get_body(("plain",)).get_content()
    ongoing = format_money(delivery.details["ongoing_balance_cents"], "EUR")
    assert "“Prepaid”" in body and f"Balance after current usage: {ongoing} (settled balance: €10.00)." in body
    assert "/portal/" in body
    assert mail["Message-ID"].startswith(f"<{delivery.id}@")

    # More events while depleted: still the same crossing, no second mail.
    _burst(lago, 15, 20)
    run_jobs()
    _checks_at_once()
    assert len(smtp.messages) == 1

    # Topped up above zero (20 credits granted: 30 − 20 = 10.00), then used up again: a second crossing.
    lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet_id, granted_credits="20"))
    check_wallet_thresholds()
    assert lago.wallets.find(wallet_id).ongoing_balance_cents == 1000
    assert len(smtp.messages) == 1
    _burst(lago, 20, 32)
    run_jobs()
    _checks_at_once()
    run_jobs()
    first, second = _deliveries()
    assert (first.sequence, second.sequence) == (1, 2) and second.status == "sent"
    assert -200 <= second.details["ongoing_balance_cents"] <= 0 and second.details["balance_cents"] == 3000
    ongoing = format_money(second.details["ongoing_balance_cents"], "EUR")
    assert f"Balance after current usage: {ongoing} (settled balance: €30.00)." in smtp.parsed()[1].get_body(
        ("plain",)).get_content()
    assert len(smtp.messages) == 2


def test_no_depletion_email_without_a_customer_email(lago, org, clock, run_jobs, smtp):
    wallet_id = _setup(lago, org)
    lago.customers.create(Customer(external_id="cust", email=""))
    _burst(lago, 0, 12)
    run_jobs()
    check_wallet_thresholds()
    assert lago.wallets.find(wallet_id).ongoing_balance_cents == -200
    assert _deliveries() == [] and smtp.messages == []
