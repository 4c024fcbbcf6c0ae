"""Payments as the admin screens and the operator command show them: connected providers with the URL each
must post its events to, a customer's provider link and saved methods, an invoice's payments.

Plain data read in one session each, scoped to one organization (and one customer or invoice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, urlencode

from sqlalchemy import select

from billing.customers.models import Customer
from billing.db import read_only
from billing.errors import NotFound
from billing.invoicing.models import Invoice
from billing.payments import customers as payment_customers
from billing.payments import providers
from billing.payments.collection import payments_of_invoice
from billing.payments.models import OPEN_PAYMENT_STATUSES
from billing.ports import runtime


def inbound_webhook_url(*, organization_id: str, kind: str, code: str) -> str:
    """Where the provider must send its events for this organization's provider `code` (registered at the
    provider: Stripe's dashboard, Developers > Webhooks)."""
    return f"{runtime.base_url}/webhooks/{quote(kind, safe='')}/{organization_id}?{urlencode({'code': code})}"


@dataclass(frozen=True)
class ProviderRow:
    provider: providers.ConnectedProvider
    webhook_url: str


def provider_rows(*, organization_id: str) -> list[ProviderRow]:
    """The organization's connected providers, oldest first, each with its inbound webhook URL."""
    return [ProviderRow(p, inbound_webhook_url(organization_id=organization_id, kind=p.kind, code=p.code))
            for p in providers.list_providers(organization_id=organization_id)]


@dataclass(frozen=True)
class MethodRow:
    id: str
    method_type: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool  # the default of its own provider (charged only while that provider is the customer's)
    provider_code: str
    provider_kind: str
    current: bool  # saved with the customer's current provider: the only ones charged


@dataclass(frozen=True)
class CustomerPayments:
    """A customer's link to a payment provider (Lago's billing_configuration) and its saved methods."""

    external_id: str
    provider_kind: str | None
    provider_code: str | None
    provider_customer_id: str | None
    sync_with_provider: bool
    error: str | None
    methods: list[MethodRow]
    # The customer's id at each provider it has been linked to (moving back to one links that customer again).
    provider_customers: dict[str, str] = field(default_factory=dict)

    @property
    def previous_provider_customers(self) -> dict[str, str]:
        return {code: id_ for code, id_ in self.provider_customers.items() if code != self.provider_code}

    @property
    def linked(self) -> bool:
        return bool(self.provider_code and self.provider_customer_id)


def customer_payments(*, organization_id: str, customer_id: str) -> CustomerPayments:
    with read_only() as session:
        customer = session.scalar(select(Customer).where(
            Customer.organization_id == organization_id, Customer.id == customer_id, Customer.deleted_at.is_(None)))
        if customer is None:
            raise NotFound("customer")
        code = customer.payment_provider_code if customer.payment_provider else None
        methods = [MethodRow(id=m.id, method_type=m.method_type, brand=m.brand, last4=m.last4, exp_month=m.exp_month,
                             exp_year=m.exp_year, is_default=m.is_default, provider_code=m.provider_code,
                             provider_kind=m.provider_kind, current=m.provider_code == code)
                   for m in payment_customers.methods_of(session, organization_id, customer_id)]
        return CustomerPayments(external_id=customer.external_id, provider_kind=customer.payment_provider,
                                provider_code=customer.payment_provider_code,
                                provider_customer_id=customer.payment_provider_customer_id,
                                sync_with_provider=bool(customer.sync_with_provider),
                                error=customer.payment_provider_error, methods=methods,
                                provider_customers=payment_customers.provider_customers_of(session, customer))


@dataclass(frozen=True)
class PaymentRow:
    id: str
    created_at: datetime
    paid_at: datetime | None
    amount_cents: int
    currency: str
    status: str
    payment_type: str  # manual | provider
    provider_code: str | None
    provider_payment_id: str | None
    reference: str | None
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True)
class InvoicePayments:
    """An invoice's payments, and what the invoice page may offer: a manual payment, a new charge."""

    payments: list[PaymentRow]
    due_amount_cents: int
    in_flight: bool  # an attempt is still waiting for the provider: nothing else may start
    customer_has_provider: bool


def invoice_payments(*, organization_id: str, invoice_id: str) -> InvoicePayments:
    with read_only() as session:
        invoice = session.scalar(select(Invoice).where(Invoice.organization_id == organization_id,
                                                       Invoice.id == invoice_id))
        if invoice is None:
            raise NotFound("invoice")
        rows = [PaymentRow(id=p.id, created_at=p.created_at, paid_at=p.paid_at, amount_cents=p.amount_cents,
                           currency=p.currency, status=p.status, payment_type=p.payment_type,
                           provider_code=p.provider_code, provider_payment_id=p.provider_payment_id,
                           reference=p.reference, error_code=p.error_code, error_message=p.error_message)
                for p in payments_of_invoice(session, invoice.id) if p.organization_id == organization_id]
        customer = invoice.customer
        return InvoicePayments(payments=rows, due_amount_cents=invoice.total_due_amount_cents,
                               in_flight=any(p.status in OPEN_PAYMENT_STATUSES for p in rows),
                               customer_has_provider=bool(customer.payment_provider_code
                                                          and customer.payment_provider_customer_id))
