"""Wallet webhooks to a real receiver: wallet_transaction.created and .updated, wallet.depleted_ongoing_balance."""

from __future__ import annotations

from lago_python_client.models import Customer, Wallet, WalletTransaction
from lago_python_client.models.invoice import InvoicePaymentStatusChange

from billing.wallets.rules import check_wallet_thresholds
from billing.webhooks import services as webhooks


def test_wallet_webhooks(lago, org, clock, receiver, run_jobs):
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": receiver.url})
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC"))
    wallet = lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1", paid_credits="5",
                                        currency="EUR"))
    run_jobs()
    [created] = receiver.of_type("wallet_transaction.created")
    body = created.json["wallet_transaction"]
    assert (body["status"], body["transaction_status"], body["credit_amount"]) == ("pending", "purchased", "5")
    lago.invoices.update(InvoicePaymentStatusChange(payment_status="succeeded"), body["lago_invoice_id"])
    run_jobs()
    [updated] = receiver.of_type("wallet_transaction.updated")
    assert updated.json["wallet_transaction"]["status"] == "settled"
    # Nothing used, 5.00 left: not depleted. Voiding it all depletes the ongoing balance, reported once.
    check_wallet_thresholds()
    lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, voided_credits="5"))
    check_wallet_thresholds()
    check_wallet_thresholds()
    run_jobs()
    [depleted] = receiver.of_type("wallet.depleted_ongoing_balance")
    assert depleted.json["wallet"]["lago_id"] == wallet.lago_id
    assert depleted.json["wallet"]["ongoing_balance_cents"] == 0
