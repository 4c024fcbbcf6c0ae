"""Lago's wallet fields through lago-python-client: `applies_to`, paid top-up limits, top-up invoices that wait for
their payment, recurring rule fields and the threshold safeguards; every amount exact (docs/billing.md, Wallets)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    BillableMetric,
    Charge,
    Customer,
    Event,
    Plan,
    Subscription,
    Tax,
    Wallet,
    WalletTransaction,
)
from lago_python_client.models.invoice import InvoicePaymentStatusChange
from lago_python_client.models.wallet import AppliesTo

from billing.clock import run_billing_clock
from billing.wallets.rules import check_wallet_thresholds

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


def _catalog(lago, *, amount_cents: int = 1000) -> None:
    metrics = {code: lago.billable_metrics.create(BillableMetric(name=code, code=code, aggregation_type="count_agg"))
               for code in ("calls", "storage")}
    lago.plans.create(Plan(name="Pro", code="pro", interval="monthly", amount_cents=amount_cents, amount_currency="EUR",
                           charges=[Charge(billable_metric_id=metrics["calls"].lago_id, charge_model="standard",
                                           properties={"amount": "1"}),
                                    Charge(billable_metric_id=metrics["storage"].lago_id, charge_model="standard",
                                           properties={"amount": "0.5"})]))
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC"))
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub",
                                           billing_time="anniversary"))


def _send(lago, code: str, count: int, prefix: str = "e") -> None:
    for n in range(count):
        lago.events.create(Event(transaction_id=f"{prefix}-{code}-{n}", external_subscription_id="sub", code=code))


def _error(call) -> tuple[int, dict]:
    with pytest.raises(LagoApiError) as error:
        call()
    return error.value.status_code, error.value.response["error_details"]


def _transactions(lago, wallet_id: str):
    return lago.wallet_transactions.find_all(wallet_id)["wallet_transactions"]


def _pay(lago, invoice_id: str, status: str = "succeeded"):
    return lago.invoices.update(InvoicePaymentStatusChange(payment_status=status), invoice_id)


def test_applies_to_limits_what_each_wallet_pays_and_whose_ongoing_usage_it_is(lago, clock):
    clock.set("2026-11-10T12:00:00Z")
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    _catalog(lago)
    calls = lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1", granted_credits="50",
                                       currency="EUR", priority=1,
                                       applies_to=AppliesTo(billable_metric_codes=["calls"])))
    plan_fees = lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1", granted_credits="100",
                                           currency="EUR", priority=2,
                                           applies_to=AppliesTo(fee_types=["subscription"])))
    assert calls.applies_to.billable_metric_codes == ["calls"] and calls.applies_to.fee_types == []
    assert plan_fees.applies_to.fee_types == ["subscription"]
    _send(lago, "calls", 4)
    _send(lago, "storage", 6)
    # The calls (400 + VAT 80) are the calls wallet's; storage is no wallet's; the subscription fee is
    # not usage.
    calls, plan_fees = lago.wallets.find(calls.lago_id), lago.wallets.find(plan_fees.lago_id)
    assert (calls.ongoing_usage_balance_cents, calls.ongoing_balance_cents) == (480, 4520)
    assert (plan_fees.ongoing_usage_balance_cents, plan_fees.ongoing_balance_cents) == (0, 10000)
    clock.set("2026-12-10T12:30:00Z")
    run_billing_clock(fan_out=False)
    [invoice] = lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
    # 1000 + 400 + 300 = 1700, VAT 340: 2040. The calls wallet pays the calls (480), the other the
    # subscription fee (1200); the storage (360) is due.
    assert (invoice.fees_amount_cents, invoice.taxes_amount_cents) == (1700, 340)
    assert invoice.prepaid_credit_amount_cents == 1680 and invoice.total_amount_cents == 360
    assert lago.wallets.find(calls.lago_id).balance_cents == 4520
    assert lago.wallets.find(plan_fees.lago_id).balance_cents == 8800
    [paid] = [t for t in _transactions(lago, plan_fees.lago_id) if t.transaction_type == "outbound"]
    assert (paid.amount, paid.lago_invoice_id) == ("12", invoice.lago_id)

    # Limitations Lago refuses.
    assert _error(lambda: lago.wallets.create(Wallet(
        external_customer_id="cust", rate_amount="1", currency="EUR",
        applies_to=AppliesTo(fee_types=["add_on"])))) == (422, {"applies_to": ["invalid_limitations"]})
    assert _error(lambda: lago.wallets.create(Wallet(
        external_customer_id="cust", rate_amount="1", currency="EUR",
        applies_to=AppliesTo(billable_metric_codes=["nope"])))) == (422, {"applies_to": ["invalid_limitations"]})
    # Changed by an update: the subscription wallet now pays charges too.
    updated = lago.wallets.update(Wallet(applies_to=AppliesTo(fee_types=["subscription", "charge"])), plan_fees.lago_id)
    assert updated.applies_to.fee_types == ["charge", "subscription"]


def test_paid_top_up_limits_refuse_with_lagos_errors_unless_ignored(lago, clock):
    _catalog(lago)
    # max below min is refused.
    assert _error(lambda: lago.wallets.create(Wallet(
        external_customer_id="cust", rate_amount="2", currency="EUR", paid_top_up_min_amount_cents=1000,
        paid_top_up_max_amount_cents=500))) == (
        422, {"paid_top_up_max_amount_cents": ["must_be_greater_than_or_equal_min"]})
    # Rate 2: 3 credits are €6.00, below the €10.00 minimum…
    assert _error(lambda: lago.wallets.create(Wallet(
        external_customer_id="cust", rate_amount="2", currency="EUR", paid_credits="3",
        paid_top_up_min_amount_cents=1000, paid_top_up_max_amount_cents=5000))) == (
        422, {"paid_credits": ["amount_below_minimum"]})
    # … unless the creation ignores the limits.
    wallet = lago.wallets.create(Wallet(
        external_customer_id="cust", rate_amount="2", currency="EUR", paid_credits="3",
        paid_top_up_min_amount_cents=1000, paid_top_up_max_amount_cents=5000,
        ignore_paid_top_up_limits_on_creation=True))
    assert (wallet.paid_top_up_min_amount_cents, wallet.paid_top_up_max_amount_cents) == (1000, 5000)
    assert [t.amount for t in _transactions(lago, wallet.lago_id)] == ["6"]

    def top_up(**values):
        return lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, **values))

    assert _error(lambda: top_up(paid_credits="4.99")) == (422, {"paid_credits": ["amount_below_minimum"]})
    assert _error(lambda: top_up(paid_credits="25.01")) == (422, {"paid_credits": ["amount_above_maximum"]})
    # Within the limits, at the limits, ignoring them, and granted credits (never limited).
    assert top_up(paid_credits="5")["wallet_transactions"][0].amount == "10"
    assert top_up(paid_credits="25")["wallet_transactions"][0].amount == "50"
    assert top_up(paid_credits="40", ignore_paid_top_up_limits=True)["wallet_transactions"][0].amount == "80"
    assert top_up(granted_credits="1")["wallet_transactions"][0].amount == "2"
    assert lago.wallets.find(wallet.lago_id).balance_cents == 200
    # A fixed rule's paid credits are held to the limits when it is set, and again when they change.
    rule = {"trigger": "interval", "interval": "monthly", "method": "fixed", "paid_credits": "10"}
    lago.wallets.update(Wallet(recurring_transaction_rules=[rule]), wallet.lago_id)
    assert _error(lambda: lago.wallets.update(Wallet(paid_top_up_min_amount_cents=3000), wallet.lago_id)) == (
        422, {"recurring_transaction_rules.paid_credits": ["amount_below_minimum"]})
    assert _error(lambda: lago.wallets.update(Wallet(recurring_transaction_rules=[{**rule, "paid_credits": "30"}]),
                                              wallet.lago_id)) == (
        422, {"recurring_transaction_rules.paid_credits": ["amount_above_maximum"]})
    ignoring = lago.wallets.update(Wallet(recurring_transaction_rules=[
        {**rule, "paid_credits": "30", "ignore_paid_top_up_limits": True}]), wallet.lago_id)
    assert ignoring.recurring_transaction_rules.__root__[0].ignore_paid_top_up_limits is True
    assert lago.wallets.update(Wallet(paid_top_up_min_amount_cents=3000), wallet.lago_id).paid_top_up_min_amount_cents \
        == 3000


def test_a_target_rule_buys_at_least_the_minimum_or_grants(lago, clock, run_jobs):
    clock.set("2026-11-10T12:00:00Z")
    _catalog(lago, amount_cents=0)
    wallet = lago.wallets.create(Wallet(
        external_customer_id="cust", rate_amount="2", granted_credits="10", currency="EUR",
        paid_top_up_min_amount_cents=1000,
        recurring_transaction_rules=[{"trigger": "threshold", "threshold_credits": "6", "method": "target",
                                      "target_ongoing_balance": "8", "transaction_name": "Refill",
                                      "transaction_metadata": [{"key": "source", "value": "auto"}]}]))
    _send(lago, "calls", 8)  # €8.00 = 4 credits: 10 − 4 = 6 ≤ 6
    run_jobs()
    check_wallet_thresholds()
    [refill] = [t for t in _transactions(lago, wallet.lago_id) if t.source == "threshold"]
    # The gap is 2 credits (€4.00), raised to the €10.00 minimum: 5 credits.
    assert (refill.credit_amount, refill.amount, refill.status) == ("5", "10", "pending")
    assert refill.name == "Refill" and refill.metadata == [{"key": "source", "value": "auto"}]
    [fee] = lago.invoices.find(refill.lago_invoice_id).fees.__root__
    assert (fee.item.name, fee.amount_cents) == ("Refill", 1000)  # the rule's name labels the fee
    # Granted instead (grants_target_top_up): exactly the gap, free, settled at once. (A second wallet: the
    # usage stays the first one's, the older of two of the same priority.)
    clock.set("2026-11-10T13:00:00Z")
    other = lago.wallets.create(Wallet(
        external_customer_id="cust", rate_amount="2", granted_credits="10", currency="EUR",
        paid_top_up_min_amount_cents=1000,
        recurring_transaction_rules=[{"trigger": "threshold", "threshold_credits": "12", "method": "target",
                                      "target_ongoing_balance": "13", "grants_target_top_up": True}]))
    assert other.recurring_transaction_rules.__root__[0].grants_target_top_up is True
    check_wallet_thresholds()
    [granted] = [t for t in _transactions(lago, other.lago_id) if t.source == "threshold"]
    assert (granted.transaction_status, granted.status, granted.credit_amount) == ("granted", "settled", "3")


def test_a_top_up_invoice_waits_for_its_payment_when_asked(lago, clock):
    _catalog(lago)
    wallet = lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1", currency="EUR",
                                        invoice_requires_successful_payment=True))
    assert wallet.invoice_requires_successful_payment is True
    [bought] = lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, paid_credits="20"))[
        "wallet_transactions"]
    assert bought.status == "pending" and bought.invoice_requires_successful_payment is True
    # Not issued: no number, not listed, not emailed; the API still finds it by id.
    pending = lago.invoices.find(bought.lago_invoice_id)
    assert (pending.status, pending.total_amount_cents) == ("open", 2000)
    assert lago.invoices.find_all({"external_customer_id": "cust"})["invoices"] == []
    clock.set(clock.now() + timedelta(days=3))
    issued = _pay(lago, bought.lago_invoice_id)
    assert (issued.status, issued.payment_status, issued.issuing_date) == ("finalized", "succeeded", "2026-11-13")
    assert not issued.number.endswith("DRAFT")
    assert [i.lago_id for i in lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]] == [issued.lago_id]
    assert lago.wallets.find(wallet.lago_id).balance_cents == 2000
    # Per transaction (the wallet's default is off here): a failed payment fails the credits, nothing is issued.
    lago.wallets.update(Wallet(invoice_requires_successful_payment=False), wallet.lago_id)
    [declined] = lago.wallet_transactions.create(WalletTransaction(
        wallet_id=wallet.lago_id, paid_credits="5", invoice_requires_successful_payment=True))["wallet_transactions"]
    assert _pay(lago, declined.lago_invoice_id, "failed").status == "open"
    assert next(t for t in _transactions(lago, wallet.lago_id) if t.lago_id == declined.lago_id).status == "failed"
    [normal] = lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, paid_credits="5"))[
        "wallet_transactions"]
    assert lago.invoices.find(normal.lago_invoice_id).status == "finalized"


def test_threshold_safeguards_pending_top_up_declined_back_off_and_start(lago, clock, run_jobs):
    clock.set("2026-11-10T12:00:00Z")
    _catalog(lago, amount_cents=0)
    wallet = lago.wallets.create(Wallet(
        external_customer_id="cust", rate_amount="1", granted_credits="10", currency="EUR",
        recurring_transaction_rules=[{"trigger": "threshold", "threshold_credits": "5", "method": "fixed",
                                      "paid_credits": "20", "started_at": "2026-11-11T00:00:00Z"}]))
    _send(lago, "calls", 6)  # ongoing 4.00 ≤ 5
    run_jobs()
    check_wallet_thresholds()  # not started yet
    assert [t for t in _transactions(lago, wallet.lago_id) if t.source == "threshold"] == []

    def threshold_top_ups():
        return [t for t in _transactions(lago, wallet.lago_id) if t.source == "threshold"]

    # Nothing but time moved: the billing clock asks for the wallet's check once the rule has started.
    clock.set("2026-11-11T01:00:00Z")
    check_wallet_thresholds()
    assert threshold_top_ups() == []
    run_billing_clock(fan_out=False)
    [first] = threshold_top_ups()
    # While it is pending, it counts: 4 + 20 > 5, nothing more fires, even as usage grows.
    _send(lago, "calls", 2, prefix="more")
    run_jobs()
    check_wallet_thresholds()
    assert len(threshold_top_ups()) == 1
    # Declined: the credits never come; the rule waits an hour before it tries again.
    _pay(lago, first.lago_invoice_id, "failed")
    clock.set("2026-11-11T01:30:00Z")
    check_wallet_thresholds()
    assert len(threshold_top_ups()) == 1
    clock.set("2026-11-11T02:01:00Z")
    run_billing_clock(fan_out=False)  # the back-off is over: the clock asks for the check
    second = next(t for t in threshold_top_ups() if t.lago_id != first.lago_id)
    assert second.status == "pending"
    # Paid: the credits settle (2 + 20 = 22 ongoing credits) and the back-off is over.
    _pay(lago, second.lago_invoice_id)
    assert lago.wallets.find(wallet.lago_id).ongoing_balance_cents == 2200
    assert len(threshold_top_ups()) == 2
