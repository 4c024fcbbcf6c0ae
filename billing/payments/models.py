"""The payment core's tables: connected providers, saved payment methods, payments, refunds, receipts,
and the provider events already applied.

A `Payment` is one attempt to collect (or one payment recorded by hand): what it pays (an invoice; a
payment request later), how (a provider and its code, or `manual`), for how much, and where it stands.
The invoice's `payment_status` and `total_paid_amount_cents` move only through these rows
(billing.payments.services), so that what an invoice shows as paid is always the sum of its payments.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, new_id, utcnow
from billing.invoicing.models import Invoice

# NOTE: Lago's normalized payment_status (lago-openapi PaymentObject.yaml) plus `requires_action`, shown
# as `processing` in Lago's field (docs/payments.md, Statuses).
PAYMENT_STATUSES = ("pending", "processing", "requires_action", "succeeded", "failed")
OPEN_PAYMENT_STATUSES = ("pending", "processing", "requires_action")
FINAL_PAYMENT_STATUSES = ("succeeded", "failed")
PAYMENT_TYPES = ("provider", "manual")

_OPEN_PAYMENT = "status IN ('pending', 'processing', 'requires_action') AND invoice_id IS NOT NULL"
_OPEN_REQUEST_PAYMENT = "status IN ('pending', 'processing', 'requires_action') AND payment_request_id IS NOT NULL"
PAYMENT_REQUEST_STATUSES = ("pending", "succeeded", "failed")


class PaymentProviderAccount(Base):
    """A payment provider an organization has connected, with its settings sealed (billing.payments.secrets)."""

    __tablename__ = "payment_providers"
    __table_args__ = (UniqueConstraint("organization_id", "code", name="uq_payment_providers_org_code"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))  # stripe, adyen, gocardless, fake
    # The settings as one sealed JSON document (API keys, webhook secret, API base): never stored in clear.
    sealed_settings: Mapped[str] = mapped_column(Text)
    # What may be shown of the settings: non-secret values in clear, secrets as "…last4".
    visible_settings: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProviderCustomer(Base):
    """The customer's id at one of the providers it has been linked to (Lago's payment_provider_customers).

    The customer row holds the id at its current provider only; this one per (customer, provider code) keeps
    the others, so that a customer moved back to a provider is linked to the customer it already has there,
    and a method saved at an old provider can still be detached there.
    """

    __tablename__ = "payment_provider_customers"
    __table_args__ = (UniqueConstraint("customer_id", "provider_code", name="uq_payment_provider_customers_code"),
                      Index("ix_payment_provider_customers_org", "organization_id", "customer_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    provider_code: Mapped[str] = mapped_column(String(255))
    provider_kind: Mapped[str] = mapped_column(String(32))
    provider_customer_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SavedPaymentMethod(Base):
    """A customer's payment method saved at a provider (Lago's payment method), as much as may be shown."""

    __tablename__ = "payment_methods"
    __table_args__ = (
        UniqueConstraint("customer_id", "provider_code", "provider_method_id", name="uq_payment_methods_provider_id"),
        Index("ix_payment_methods_customer", "organization_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    provider_code: Mapped[str] = mapped_column(String(255))
    provider_kind: Mapped[str] = mapped_column(String(32))
    provider_method_id: Mapped[str] = mapped_column(String(255))
    method_type: Mapped[str] = mapped_column(String(32), default="card")
    brand: Mapped[str | None] = mapped_column(String(32))
    last4: Mapped[str | None] = mapped_column(String(4))
    exp_month: Mapped[int | None]
    exp_year: Mapped[int | None]
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    """One attempt to collect an amount, or one payment recorded by hand."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_org_created", "organization_id", "created_at"),
        Index("ix_payments_invoice", "invoice_id"),
        Index("ix_payments_provider_payment", "organization_id", "provider_code", "provider_payment_id"),
        # One attempt in flight per invoice: a second job, a double click or a webhook race collide here.
        Index("uq_payments_one_open_per_invoice", "invoice_id", unique=True,
              sqlite_where=text(_OPEN_PAYMENT), postgresql_where=text(_OPEN_PAYMENT)),
        Index("uq_payments_one_open_per_request", "payment_request_id", unique=True,
              sqlite_where=text(_OPEN_REQUEST_PAYMENT), postgresql_where=text(_OPEN_REQUEST_PAYMENT)),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    # A payment request's payment pays every invoice the request groups (invoice_id is then None).
    payment_request_id: Mapped[str | None] = mapped_column(ForeignKey("payment_requests.id"), index=True)
    payable_type: Mapped[str] = mapped_column(String(32), default="Invoice")  # Invoice | PaymentRequest
    payment_type: Mapped[str] = mapped_column(String(16), default="provider")  # provider | manual
    provider_kind: Mapped[str | None] = mapped_column(String(32))
    provider_code: Mapped[str | None] = mapped_column(String(255))
    provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    provider_method_id: Mapped[str | None] = mapped_column(String(255))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    provider_status: Mapped[str | None] = mapped_column(String(64))  # the provider's own word
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(1000))
    next_action_url: Mapped[str | None] = mapped_column(String(2000))
    reference: Mapped[str | None] = mapped_column(String(255))  # a manual payment's reference
    off_session: Mapped[bool] = mapped_column(default=True)
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def idempotency_key(self) -> str:
        """The key every call to the provider for this attempt carries: one charge per Tally payment."""
        return f"tally-payment-{self.id}"


class PaymentReceipt(Base):
    """The receipt of a succeeded payment (Lago's payment receipt), numbered per organization."""

    __tablename__ = "payment_receipts"
    __table_args__ = (UniqueConstraint("payment_id", name="uq_payment_receipts_payment"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


REFUND_KEY_PREFIX = "tally-refund-"


class Refund(Base):
    """Money given back through the provider that took a payment, for a credit note."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("credit_note_id", name="uq_refunds_credit_note"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    credit_note_id: Mapped[str] = mapped_column(ForeignKey("credit_notes.id"))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    provider_code: Mapped[str] = mapped_column(String(255))
    provider_refund_id: Mapped[str | None] = mapped_column(String(255))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def idempotency_key(self) -> str:
        return f"{REFUND_KEY_PREFIX}{self.id}"

    @staticmethod
    def id_in_reference(reference: str | None) -> str | None:
        """The refund id a provider echoes back with its refund's events: the idempotency key Tally sent (Adyen's
        merchantReference) or the id itself (the refund's metadata `tally_refund_id`: Stripe); None for anything
        else, as Tally's ids are UUIDs."""
        if not reference:
            return None
        try:
            return str(uuid.UUID(reference.removeprefix(REFUND_KEY_PREFIX)))
        except ValueError:
            return None


class AppliedProviderEvent(Base):
    """An inbound provider event already applied: a redelivered one is acknowledged and skipped."""

    __tablename__ = "payment_provider_events"
    __table_args__ = (UniqueConstraint("organization_id", "provider_code", "event_id", name="uq_provider_events"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    provider_code: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentRequest(Base):
    """A request that a customer pay several overdue invoices of one currency at once (Lago's payment request):
    made by hand (`POST /payment_requests`, the admin's "Request payment now", the portal's "Pay all") or by a
    dunning campaign's attempt. One payment settles them all."""

    __tablename__ = "payment_requests"
    __table_args__ = (Index("ix_payment_requests_org_customer", "organization_id", "customer_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    email: Mapped[str | None] = mapped_column(String(255))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_status: Mapped[str] = mapped_column(String(16), default="pending")
    # Set when a dunning campaign's attempt made it (billing.dunning).
    dunning_attempt_id: Mapped[str | None] = mapped_column(ForeignKey("dunning_attempts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    invoices: Mapped[list[Invoice]] = relationship(secondary="payment_request_invoices", lazy="selectin",
                                                   order_by="Invoice.issuing_date")


class PaymentRequestInvoice(Base):
    __tablename__ = "payment_request_invoices"

    payment_request_id: Mapped[str] = mapped_column(ForeignKey("payment_requests.id", ondelete="CASCADE"),
                                                    primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), primary_key=True, index=True)
