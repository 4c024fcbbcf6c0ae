"""Links to Tally's hosted payment pages, as Lago's API hands them out: where a customer adds a payment
method (`checkout_url`), pays an invoice or pays a wallet top-up's invoice (`payment_url`).

A link is signed and expires (billing.links); the page it opens reads the invoice again, so a link handed
out here never charges by itself. Refusals follow Lago's codes (lago-api
Customers::GenerateCheckoutUrlService, Invoices::Payments::GeneratePaymentUrlService,
WalletTransactions::Payments::GeneratePaymentUrlService): 422 `validation_errors` on `base`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import links
from billing.customers.models import Customer
from billing.customers.services import get_customer_in
from billing.db import read_only
from billing.errors import NotFound, ValidationFailed
from billing.invoicing.models import Invoice
from billing.invoicing.queries import get_invoice_in
from billing.payments.models import PaymentProviderAccount
from billing.wallets.models import WalletTransaction


@dataclass(frozen=True)
class PaymentLink:
    """A hosted page's address, with what Lago's answer names beside it."""

    url: str
    customer: Customer
    invoice: Invoice | None = None
    wallet_transaction: WalletTransaction | None = None


def _refuse(code: str) -> ValidationFailed:
    return ValidationFailed({"base": [code]})


def _check_provider(session: Session, customer: Customer) -> None:
    """The customer names a provider the organization still has connected."""
    if not customer.payment_provider or not customer.payment_provider_code:
        raise _refuse("no_linked_payment_provider")
    connected = session.scalar(select(PaymentProviderAccount.id).where(
        PaymentProviderAccount.organization_id == customer.organization_id,
        PaymentProviderAccount.code == customer.payment_provider_code))
    if connected is None:
        raise _refuse("missing_payment_provider")


def _check_payable(invoice: Invoice) -> None:
    # NOTE: Lago refuses a draft, voided or paid invoice; Tally also refuses one with nothing left to pay
    # (a partial manual payment may have paid it all). An `open` credit purchase is payable: it is a wallet
    # top-up waiting for its payment (docs/billing.md, Wallets).
    if invoice.status not in ("finalized", "open") or invoice.payment_status == "succeeded" \
            or invoice.total_due_amount_cents <= 0:
        raise _refuse("invalid_invoice_status_or_payment_status")


def customer_checkout_url(*, organization_id: str, external_customer_id: str) -> PaymentLink:
    """The page where the customer adds a payment method at their provider (Lago's `checkout_url`)."""
    with read_only() as session:
        customer = get_customer_in(session, organization_id, external_customer_id)
        _check_provider(session, customer)
    return PaymentLink(url=links.setup_url(customer_id=customer.id, organization_id=organization_id),
                       customer=customer)


def _invoice_link(session: Session, invoice: Invoice) -> PaymentLink:
    customer = invoice.customer
    _check_provider(session, customer)
    _check_payable(invoice)
    return PaymentLink(url=links.pay_url(invoice_id=invoice.id, organization_id=invoice.organization_id),
                       customer=customer, invoice=invoice)


def invoice_payment_url(*, organization_id: str, invoice_id: str) -> PaymentLink:
    """The page where the customer pays this invoice (Lago's `POST /invoices/:id/payment_url`)."""
    with read_only() as session:
        return _invoice_link(session, get_invoice_in(session, organization_id, invoice_id))


def wallet_transaction_payment_url(*, organization_id: str, wallet_transaction_id: str) -> PaymentLink:
    """The page where the customer pays the invoice of a credit purchase still waiting for its payment."""
    with read_only() as session:
        transaction = session.scalar(select(WalletTransaction).where(
            WalletTransaction.organization_id == organization_id, WalletTransaction.id == wallet_transaction_id))
        if transaction is None:
            raise NotFound("wallet_transaction")
        if transaction.transaction_status != "purchased":
            raise _refuse("wallet_transaction_not_purchased")
        if transaction.status == "settled":
            raise _refuse("wallet_transaction_already_settled")
        if transaction.invoice_id is None:
            raise _refuse("wallet_transaction_has_no_attached_invoice")
        link = _invoice_link(session, get_invoice_in(session, organization_id, transaction.invoice_id))
        return PaymentLink(url=link.url, customer=link.customer, invoice=link.invoice, wallet_transaction=transaction)
