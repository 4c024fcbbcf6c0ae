"""Wallets and prepaid credits end to end through lago-python-client, every amount exact (docs/billing.md)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    AppliedCoupon,
    BillableMetric,
    Charge,
    Coupon,
    Customer,
    CustomerBillingConfiguration,
    Event,
    Plan,
    Subscription,
    Tax,
    Wallet,
    WalletTransaction,
)
from lago_python_client.models.invoice import InvoicePaymentStatusChange

from billing.clock import run_billing_clock
from billing.invoicing.runs import bill_subscription
from billing.wallets.rules import check_wallet_thresholds

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


def _catalog(lago, amount_cents: int = 1001) -> None:
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    lago.plans.create(Plan(name="Pro", code="pro", interval="monthly", amount_cents=amount_cents,
                           amount_currency="EUR",
                           charges=[Charge(billable_metric_id=calls.lago_id, charge_model="standard",
                                           properties={"amount": "1"})]))


def _customer(lago, external_id: str = "cust", subscriptions: int = 1) -> None:
    lago.customers.create(Customer(external_id=external_id, currency="EUR", timezone="UTC"))
    for n in range(subscriptions):
        lago.subscriptions.create(Subscription(external_customer_id=external_id, plan_code="pro",
                                               external_id=f"{external_id}-sub{n}", billing_time="anniversary"))


def _transactions(lago, wallet_id: str):
    return lago.wallet_transactions.find_all(wallet_id)["wallet_transactions"]


def _pay(lago, invoice_id: str):
    return lago.invoices.update(InvoicePaymentStatusChange(payment_status="succeeded"), invoice_id)


def test_paid_top_up_is_pending_until_its_invoice_is_paid(lago, clock):
    _catalog(lago)
    _customer(lago)
    wallet = lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1.5", paid_credits="20",
                                        granted_credits="10", currency="EUR", name="Prepaid"))
    # Granted credits settle at once; paid ones wait for their invoice.
    assert wallet.credits_balance == "10" and wallet.balance_cents == 1500
    transactions = _transactions(lago, wallet.lago_id)
    paid = next(t for t in transactions if t.transaction_status == "purchased")
    assert (paid.status, paid.transaction_type, paid.credit_amount, paid.amount) == ("pending", "inbound", "20", "30")
    invoice = lago.invoices.find(paid.lago_invoice_id)
    assert (invoice.invoice_type, invoice.status, invoice.payment_status) == ("credit", "finalized", "pending")
    assert invoice.fees_amount_cents == 3000 and invoice.taxes_amount_cents == 0 and invoice.total_amount_cents == 3000
    paid_invoice = _pay(lago, invoice.lago_id)
    assert paid_invoice.payment_status == "succeeded"
    wallet = lago.wallets.find(wallet.lago_id)
    assert wallet.credits_balance == "30" and wallet.balance_cents == 4500
    paid = next(t for t in _transactions(lago, wallet.lago_id) if t.transaction_status == "purchased")
    assert paid.status == "settled" and paid.settled_at is not None
    # Marking it paid again changes nothing.
    _pay(lago, invoice.lago_id)
    assert lago.wallets.find(wallet.lago_id).balance_cents == 4500


def test_consumption_after_taxes_and_coupons_granted_first_rate_1_5(lago, clock):
    clock.set("2026-11-10T12:00:00Z")
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    lago.coupons.create(Coupon(name="One euro", code="one", coupon_type="fixed_amount", amount_cents=100,
                               amount_currency="EUR", frequency="once", expiration="no_expiration"))
    _catalog(lago)
    _customer(lago)
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust", coupon_code="one"))
    wallet = lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1.5", paid_credits="20",
                                        granted_credits="10", currency="EUR"))
    top_up = next(t for t in _transactions(lago, wallet.lago_id) if t.transaction_status == "purchased")
    _pay(lago, top_up.lago_invoice_id)
    clock.set("2026-12-10T12:30:00Z")
    run_billing_clock(fan_out=False)
    invoice = next(i for i in lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
                   if i.invoice_type == "subscription")
    # 1001 − 100 (coupon) = 901; VAT 20 % = 180.2 → 180; 1081 after taxes, all paid by the wallet.
    assert (invoice.fees_amount_cents, invoice.coupons_amount_cents, invoice.taxes_amount_cents) == (1001, 100, 180)
    assert invoice.prepaid_credit_amount_cents == 1081
    assert invoice.total_amount_cents == 0 and invoice.payment_status == "succeeded"
    wallet = lago.wallets.find(wallet.lago_id)
    # 1081 / 150 = 7.206666… → 7.20667 credits, taken from the 10 granted first: 30 − 7.20667 = 22.79333,
    # worth 3418.9995 → 3419 cents = 4500 − 1081.
    assert wallet.credits_balance == "22.79333" and wallet.balance_cents == 3419
    assert wallet.consumed_credits == "7.20667"
    transactions = _transactions(lago, wallet.lago_id)
    granted = next(t for t in transactions if t.transaction_status == "granted")
    purchased = next(t for t in transactions if t.transaction_status == "purchased")
    assert granted.remaining_credit_amount == "2.79333" and purchased.remaining_credit_amount == "20"
    outbound = next(t for t in transactions if t.transaction_type == "outbound")
    assert (outbound.transaction_status, outbound.amount, outbound.credit_amount) == ("invoiced", "10.81", "7.20667")
    assert outbound.lago_invoice_id == invoice.lago_id
    # Later months (no coupon left): 1001 + 200 VAT = 1201 each, paid in full twice (3419 → 2218 → 1017),
    # then the wallet pays the 1017 it has left, never below zero, and 184 is due.
    for moment in ("2027-01-10T12:30:00Z", "2027-02-10T12:30:00Z", "2027-03-10T12:30:00Z"):
        clock.set(moment)
        run_billing_clock(fan_out=False)
    invoices = sorted((i for i in lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
                       if i.invoice_type == "subscription"), key=lambda i: i.issuing_date)
    assert [i.prepaid_credit_amount_cents for i in invoices] == [1081, 1201, 1201, 1017]
    assert [i.total_amount_cents for i in invoices] == [0, 0, 0, 184]
    for i in invoices:
        assert i.total_amount_cents == (i.fees_amount_cents - i.coupons_amount_cents + i.taxes_amount_cents
                                        - i.credit_notes_amount_cents - i.prepaid_credit_amount_cents)
    wallet = lago.wallets.find(wallet.lago_id)
    assert wallet.balance_cents == 0 and wallet.credits_balance == "0"


def test_two_invoices_consuming_one_wallet_concurrently(lago, clock, database_url):
    clock.set("2026-11-10T12:00:00Z")
    _catalog(lago, amount_cents=3000)
    _customer(lago, subscriptions=2)
    wallet = lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1", granted_credits="50",
                                        currency="EUR"))
    clock.set("2026-12-10T12:30:00Z")
    ids = [s.lago_id for s in lago.subscriptions.find_all({"external_customer_id": "cust"})["subscriptions"]]
    barrier = threading.Barrier(len(ids))
    errors = []

    def bill(subscription_id):
        try:
            barrier.wait()
            bill_subscription(subscription_id=subscription_id, at=clock.now())
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=bill, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    invoices = lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
    # 50.00 of credits for two invoices of 30.00: one is paid in full, the other for the 20.00 left.
    assert sorted(i.prepaid_credit_amount_cents for i in invoices) == [2000, 3000]
    assert sorted(i.total_amount_cents for i in invoices) == [0, 1000]
    wallet = lago.wallets.find(wallet.lago_id)
    assert wallet.balance_cents == 0 and wallet.credits_balance == "0"
    outbound = [t for t in _transactions(lago, wallet.lago_id) if t.transaction_type == "outbound"]
    assert sorted(t.amount for t in outbound) == ["20", "30"]


def test_threshold_rule_fires_once_for_a_burst_of_events(lago, clock, run_jobs):
    clock.set("2026-11-10T12:00:00Z")
    _catalog(lago, amount_cents=0)
    _customer(lago)
    wallet = lago.wallets.create(Wallet(
        external_customer_id="cust", rate_amount="1", granted_credits="10", currency="EUR",
        recurring_transaction_rules=[{"trigger": "threshold", "threshold_credits": "5", "method": "fixed",
                                      "granted_credits": "20"}]))
    assert wallet.recurring_transaction_rules.__root__[0].trigger == "threshold"
    for n in range(8):
        lago.events.create(Event(transaction_id=f"e{n}", external_subscription_id="cust-sub0", code="calls"))
    # 8 calls at 1.00: the ongoing balance is 10.00 − 8.00 = 2.00 ≤ 5 credits.
    run_jobs()
    for _ in range(3):
        check_wallet_thresholds()
    wallet = lago.wallets.find(wallet.lago_id)
    assert wallet.ongoing_usage_balance_cents == 800
    assert wallet.credits_balance == "30" and wallet.ongoing_balance_cents == 2200
    threshold = [t for t in _transactions(lago, wallet.lago_id) if t.source == "threshold"]
    assert len(threshold) == 1 and threshold[0].credit_amount == "20"
    # Another crossing (usage up to 26.00: ongoing 4.00) fires it once more.
    for n in range(8, 26):
        lago.events.create(Event(transaction_id=f"e{n}", external_subscription_id="cust-sub0", code="calls"))
    run_jobs()
    check_wallet_thresholds()
    threshold = [t for t in _transactions(lago, wallet.lago_id) if t.source == "threshold"]
    assert len(threshold) == 2


def test_expiry_voids_what_is_left_and_terminate_and_void(lago, clock):
    clock.set("2026-11-10T12:00:00Z")
    _catalog(lago)
    _customer(lago)
    wallet = lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="2", granted_credits="10",
                                        currency="EUR", expiration_at="2026-11-20T00:00:00Z"))
    created = lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, voided_credits="2.5"))
    voided = created["wallet_transactions"][0]
    assert (voided.transaction_type, voided.transaction_status, voided.amount) == ("outbound", "voided", "5")
    assert lago.wallets.find(wallet.lago_id).balance_cents == 1500
    with pytest.raises(LagoApiError) as error:
        lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, voided_credits="100"))
    assert error.value.status_code == 422
    clock.set("2026-11-19T23:00:00Z")
    run_billing_clock(fan_out=False)
    assert lago.wallets.find(wallet.lago_id).status == "active"
    clock.set("2026-11-20T00:30:00Z")
    run_billing_clock(fan_out=False)
    wallet = lago.wallets.find(wallet.lago_id)
    assert wallet.status == "terminated" and wallet.balance_cents == 0 and wallet.credits_balance == "0"
    assert [t.credit_amount for t in _transactions(lago, wallet.lago_id) if t.transaction_status == "voided"] == [
        "7.5", "2.5"]
    listed = lago.wallets.find_all({"external_customer_id": "cust"})["wallets"]
    assert [w.lago_id for w in listed] == [wallet.lago_id]
    other = lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1", granted_credits="1",
                                       currency="EUR"))
    assert lago.wallets.destroy(other.lago_id).status == "terminated"


def test_interval_rule_tops_up_monthly(lago, clock):
    clock.set("2026-11-10T12:00:00Z")
    _catalog(lago, amount_cents=0)  # its invoices are 0: nothing consumes the credits
    _customer(lago)
    wallet = lago.wallets.create(Wallet(
        external_customer_id="cust", rate_amount="1", currency="EUR",
        recurring_transaction_rules=[{"trigger": "interval", "interval": "monthly", "method": "fixed",
                                      "granted_credits": "5", "started_at": "2026-11-15T00:00:00Z"}]))
    for moment in ("2026-11-14T00:00:00Z", "2026-11-15T01:00:00Z", "2026-11-15T02:00:00Z", "2026-12-15T01:00:00Z"):
        clock.set(moment)
        run_billing_clock(fan_out=False)
    assert Decimal(lago.wallets.find(wallet.lago_id).credits_balance) == 10


def test_ongoing_balance_counts_usage_with_its_taxes_and_draft_invoices(lago, clock, run_jobs):
    """The worked example of docs/billing.md (Wallets, ongoing balance), every amount through the client."""
    clock.set("2026-11-10T12:00:00Z")
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    lago.taxes.create(Tax(name="Reduced", code="reduced", rate=5.5))
    metrics = {code: lago.billable_metrics.create(BillableMetric(name=code, code=code, aggregation_type="count_agg"))
               for code in ("calls", "exports", "setups")}
    lago.plans.create(Plan(name="Pro", code="pro", interval="monthly", amount_cents=1001, amount_currency="EUR",
                           charges=[Charge(billable_metric_id=metrics["calls"].lago_id, charge_model="standard",
                                           properties={"amount": "1"}),
                                    Charge(billable_metric_id=metrics["exports"].lago_id, charge_model="standard",
                                           properties={"amount": "0.45"}, tax_codes=["reduced"]),
                                    Charge(billable_metric_id=metrics["setups"].lago_id, charge_model="standard",
                                           properties={"amount": "2.5"}, pay_in_advance=True, invoiceable=True)]))
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC",
                                   billing_configuration=CustomerBillingConfiguration(invoice_grace_period=2)))
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub",
                                           billing_time="anniversary"))
    wallet = lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1", granted_credits="100",
                                        currency="EUR"))

    def send(code: str, count: int, prefix: str) -> None:
        for n in range(count):
            lago.events.create(Event(transaction_id=f"{prefix}-{code}-{n}", external_subscription_id="sub", code=code))

    send("calls", 3, "p1")
    run_jobs()
    clock.set("2026-12-10T12:30:00Z")
    run_billing_clock(fan_out=False)
    [draft] = lago.invoices.find_all({"external_customer_id": "cust", "status": "draft"})["invoices"]
    # 1001 + 300 = 1301, VAT 260.2 → 260: a draft of 1561 (grace period), not paid by the wallet yet.
    assert (draft.fees_amount_cents, draft.taxes_amount_cents, draft.total_amount_cents) == (1301, 260, 1561)
    send("calls", 7, "p2")
    send("exports", 3, "p2")
    send("setups", 1, "p2")
    run_jobs()
    # The pay-in-advance setup is invoiced at once (250 + VAT 50 = 300) and paid by the wallet.
    wallet = lago.wallets.find(wallet.lago_id)
    assert wallet.balance_cents == 9700
    # Usage: calls 700 + VAT 140; exports 135 + 5.5 % = 7.425 → 7; the setup is not counted again.
    # Ongoing usage = 700 + 135 + 140 + 7 + the draft's 1561 = 2543; ongoing balance = 9700 − 2543.
    assert wallet.ongoing_usage_balance_cents == 2543 and wallet.ongoing_balance_cents == 7157
    assert (wallet.credits_ongoing_usage_balance, wallet.credits_ongoing_balance) == ("25.43", "71.57")
    # The draft finalized (grace period over): the wallet pays it; the ongoing balance does not move.
    clock.set("2026-12-12T13:00:00Z")
    run_billing_clock(fan_out=False)
    paid = lago.invoices.find(draft.lago_id)
    assert (paid.status, paid.prepaid_credit_amount_cents, paid.total_amount_cents) == ("finalized", 1561, 0)
    wallet = lago.wallets.find(wallet.lago_id)
    assert (wallet.balance_cents, wallet.ongoing_usage_balance_cents, wallet.ongoing_balance_cents) == (
        8139, 982, 7157)


def test_the_check_looks_only_at_customers_whose_balance_may_have_moved(lago, org, clock, run_jobs):
    """Events, ledger movements and drafts ask for a customer's check; the others are not evaluated."""
    from billing.wallets.services import get_wallet

    clock.set("2026-11-10T12:00:00Z")
    _catalog(lago, amount_cents=0)
    wallets = {}
    for name in ("a", "b", "c"):
        _customer(lago, name)
        wallets[name] = lago.wallets.create(Wallet(external_customer_id=name, rate_amount="1", granted_credits="10",
                                                   currency="EUR")).lago_id
    run_jobs()
    check_wallet_thresholds()  # the new wallets were asked for

    def synced() -> dict[str, str]:
        return {name: get_wallet(organization_id=org.id, wallet_id=wallet_id).last_ongoing_balance_sync_at.isoformat()
                for name, wallet_id in wallets.items()}

    assert set(synced().values()) == {"2026-11-10T12:00:00+00:00"}
    assert check_wallet_thresholds().customers == 0  # nothing moved since
    # Events of a's subscription only: only a is evaluated (by the job the rollup asks for, or here).
    clock.set("2026-11-10T13:00:00Z")
    for n in range(3):
        lago.events.create(Event(transaction_id=f"a{n}", external_subscription_id="a-sub0", code="calls"))
    run_jobs()
    check_wallet_thresholds()
    assert synced() == {"a": "2026-11-10T13:00:00+00:00", "b": "2026-11-10T12:00:00+00:00",
                        "c": "2026-11-10T12:00:00+00:00"}
    assert lago.wallets.find(wallets["a"]).ongoing_balance_cents == 700
    # A ledger movement of b's wallet asks for b.
    clock.set("2026-11-10T14:00:00Z")
    lago.wallet_transactions.create(WalletTransaction(wallet_id=wallets["b"], voided_credits="1"))
    check = check_wallet_thresholds()
    assert (check.customers, check.fired) == (1, 0)
    assert synced()["b"] == "2026-11-10T14:00:00+00:00" and synced()["c"] == "2026-11-10T12:00:00+00:00"
