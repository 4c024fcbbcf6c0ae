from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.catalog.models import UsageThreshold
from billing.customers.models import Customer
from billing.db import Base, new_id, utcnow

# closed: an empty invoice not finalized (the customer's finalize_zero_amount_invoice: skip)
INVOICE_STATUSES = ("draft", "finalized", "voided", "closed")
PAYMENT_STATUSES = ("pending", "succeeded", "failed")
FEE_PAYMENT_STATUSES = ("pending", "succeeded", "failed", "refunded")


_OVERDUE_SWEEP = "status = 'finalized' AND payment_status != 'succeeded' AND NOT payment_overdue"


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_org_customer", "organization_id", "customer_id", "created_at"),
        Index("ix_invoices_overdue_sweep", "payment_due_date", sqlite_where=text(_OVERDUE_SWEEP),
              postgresql_where=text(_OVERDUE_SWEEP)),
        # The admin's invoices list in its default order, and its (and the customers list's) overdue filter.
        Index("ix_invoices_org_issuing", "organization_id", "issuing_date", "created_at", "id"),
        Index("ix_invoices_org_overdue", "organization_id", "customer_id", sqlite_where=text("payment_overdue"),
              postgresql_where=text("payment_overdue")),
        # The invoices list sorted by amount (either direction; migration 0041, with the searches' trigram indexes).
        Index("ix_invoices_org_amount", "organization_id", "total_amount_cents", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    invoice_type: Mapped[str] = mapped_column(String(32), default="subscription")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    payment_status: Mapped[str] = mapped_column(String(16), default="pending")
    # Past its payment_due_date and still unpaid (set by the hourly overdue sweep, cleared when paid or voided).
    payment_overdue: Mapped[bool] = mapped_column(default=False, server_default=false())
    currency: Mapped[str] = mapped_column(String(3))
    number: Mapped[str] = mapped_column(String(64))
    sequential_id: Mapped[int | None]
    issuing_date: Mapped[date] = mapped_column(Date)
    payment_due_date: Mapped[date] = mapped_column(Date)
    net_payment_term: Mapped[int] = mapped_column(default=0)
    # Totals in the order of docs/billing.md (Invoices), each in minor units.
    fees_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    coupons_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    sub_total_excluding_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    sub_total_including_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_notes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    prepaid_credit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    progressive_billing_credit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_paid_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # What credit notes took off the amount due (their offset_amount_cents): settled, neither paid nor credited.
    offset_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    file_key: Mapped[str | None] = mapped_column(String(255))
    # Lago's invoice metadata: up to 5 `{id, key, value, created_at}` (billing/invoicing/invoice_metadata.py).
    metadata_: Mapped[list] = mapped_column("metadata", default=list)
    # Both parties as the PDF prints them, kept at finalization (billing/invoicing/parties.py); None for a draft.
    parties: Mapped[dict | None]
    finalized_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(lazy="joined")
    fees: Mapped[list[Fee]] = relationship(back_populates="invoice", cascade="all, delete-orphan",
                                           order_by="Fee.position", lazy="selectin")
    invoice_subscriptions: Mapped[list[InvoiceSubscription]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", lazy="selectin")
    applied_taxes: Mapped[list[InvoiceAppliedTax]] = relationship(
        cascade="all, delete-orphan", order_by="InvoiceAppliedTax.tax_code", lazy="selectin")
    credits: Mapped[list[Credit]] = relationship(cascade="all, delete-orphan", order_by="Credit.position",
                                                 lazy="selectin", foreign_keys="Credit.invoice_id")
    # Read only for progressive billing invoices (the serializer asks no other invoice for them).
    applied_usage_thresholds: Mapped[list[AppliedUsageThreshold]] = relationship(
        order_by="AppliedUsageThreshold.crossed_amount_cents", lazy="select", viewonly=True)

    @property
    def subscription_ids(self) -> list[str]:
        """The subscriptions the invoice bills: its periods', or a progressive billing invoice's fees'."""
        ids = [link.subscription_id for link in self.invoice_subscriptions]
        if self.invoice_type == "progressive_billing":
            ids += [f.subscription_id for f in self.fees if f.subscription_id and f.subscription_id not in ids]
        return list(dict.fromkeys(ids))

    @property
    def total_due_amount_cents(self) -> int:
        if self.status != "finalized":
            return 0 if self.status in ("voided", "closed") else self.total_amount_cents
        return max(self.total_amount_cents - self.total_paid_amount_cents - self.offset_amount_cents, 0)


class InvoiceSubscription(Base):
    """Links an invoice to the subscription period it bills.

    The unique constraint is what makes billing exactly-once: a second run of the clock, a rerun
    of a killed job or two workers racing all collide here instead of issuing a second invoice.
    """

    __tablename__ = "invoice_subscriptions"
    __table_args__ = (
        UniqueConstraint("subscription_id", "boundary", name="uq_invoice_subscriptions_boundary"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    invoicing_reason: Mapped[str] = mapped_column(String(32))
    boundary: Mapped[datetime]  # the instant this billing was due (billing.subscriptions.schedule)
    from_datetime: Mapped[datetime]
    to_datetime: Mapped[datetime]
    charges_from_datetime: Mapped[datetime | None]
    charges_to_datetime: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    invoice: Mapped[Invoice] = relationship(back_populates="invoice_subscriptions")


class Fee(Base):
    __tablename__ = "fees"
    __table_args__ = (
        # One fee per (pay-in-advance charge, event): a rerun or a concurrent job of
        # `bill_advance_charges` collides here instead of billing an event twice.
        UniqueConstraint("charge_id", "pay_in_advance_event_id", name="uq_fees_charge_advance_event"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # None: a pay-in-advance fee of a charge that is not invoiceable (Lago's fee without invoice).
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    charge_id: Mapped[str | None] = mapped_column(ForeignKey("charges.id"))
    charge_filter_id: Mapped[str | None] = mapped_column(ForeignKey("charge_filters.id"))
    # A one-off fee's add-on (kept when the add-on is deleted: it is soft-deleted).
    add_on_id: Mapped[str | None] = mapped_column(ForeignKey("add_ons.id"), index=True)
    fee_type: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(default=0)
    item_code: Mapped[str] = mapped_column(String(255), default="")  # plan, metric or add-on code at billing time
    item_name: Mapped[str | None] = mapped_column(String(255))  # the item's own name, when the line shows another
    description: Mapped[str] = mapped_column(String(255), default="")  # the line's name on the invoice
    # Free text shown under the line (Lago's fee `description`, set on one-off fees).
    line_description: Mapped[str | None] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_amount_cents: Mapped[Decimal] = mapped_column(default=Decimal(0))
    amount_currency: Mapped[str] = mapped_column(String(3))
    # The fee's share of the invoice's coupons (exact, spread pro rata: billing.invoicing.totals).
    precise_coupons_amount_cents: Mapped[Decimal] = mapped_column(default=Decimal(0))
    # Taxes on (amount − coupons): per fee for display; the invoice rounds them per tax, not per fee.
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_precise_amount_cents: Mapped[Decimal] = mapped_column(default=Decimal(0))
    taxes_rate: Mapped[Decimal] = mapped_column(default=Decimal(0))
    units: Mapped[Decimal] = mapped_column(default=Decimal(0))
    total_aggregated_units: Mapped[Decimal] = mapped_column(default=Decimal(0))
    events_count: Mapped[int] = mapped_column(default=0)
    precise_unit_amount: Mapped[Decimal] = mapped_column(default=Decimal(0))
    pay_in_advance: Mapped[bool] = mapped_column(default=False)
    invoiceable: Mapped[bool] = mapped_column(default=True)
    # A fee without invoice is paid on its own (Lago's fee `payment_status`, set by `PUT /fees/:id`); a fee
    # on an invoice follows its invoice's.
    payment_status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    succeeded_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    # The event a pay-in-advance fee bills (its id and transaction id); None for every other fee.
    pay_in_advance_event_id: Mapped[int | None] = mapped_column(BigInteger)
    event_transaction_id: Mapped[str | None] = mapped_column(String(255))
    from_datetime: Mapped[datetime | None]
    to_datetime: Mapped[datetime | None]
    amount_details: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    invoice: Mapped[Invoice | None] = relationship(back_populates="fees")
    applied_taxes: Mapped[list[FeeAppliedTax]] = relationship(
        cascade="all, delete-orphan", order_by="FeeAppliedTax.tax_code", lazy="selectin")

    @property
    def sub_total_excluding_taxes_precise_amount_cents(self) -> Decimal:
        return Decimal(self.amount_cents) - self.precise_coupons_amount_cents


class FeeAppliedTax(Base):
    """A tax on one fee, as it was when the fee was billed (the tax may change or go later)."""

    __tablename__ = "fee_applied_taxes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    fee_id: Mapped[str] = mapped_column(ForeignKey("fees.id", ondelete="CASCADE"), index=True)
    tax_id: Mapped[str | None] = mapped_column(ForeignKey("taxes.id", ondelete="SET NULL"))
    tax_code: Mapped[str] = mapped_column(String(255))
    tax_name: Mapped[str] = mapped_column(String(255))
    tax_rate: Mapped[Decimal] = mapped_column(default=Decimal(0))
    tax_description: Mapped[str | None] = mapped_column(String(1024))
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_amount_cents: Mapped[Decimal] = mapped_column(default=Decimal(0))
    amount_currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InvoiceAppliedTax(Base):
    """One tax of an invoice: its taxable base (`fees_amount_cents`, after coupons) and amount, rounded once."""

    __tablename__ = "invoice_applied_taxes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    tax_id: Mapped[str | None] = mapped_column(ForeignKey("taxes.id", ondelete="SET NULL"))
    tax_code: Mapped[str] = mapped_column(String(255))
    tax_name: Mapped[str] = mapped_column(String(255))
    tax_rate: Mapped[Decimal] = mapped_column(default=Decimal(0))
    tax_description: Mapped[str | None] = mapped_column(String(1024))
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    fees_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Credit(Base):
    """What an applied coupon (before taxes) or a credit note (after taxes) took off an invoice."""

    __tablename__ = "credits"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    applied_coupon_id: Mapped[str | None] = mapped_column(ForeignKey("applied_coupons.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    coupon_code: Mapped[str] = mapped_column(String(255), default="")
    coupon_name: Mapped[str] = mapped_column(String(255), default="")
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_currency: Mapped[str] = mapped_column(String(3))
    before_taxes: Mapped[bool] = mapped_column(default=True)
    # What earlier progressive billing invoices of the period billed, taken off this one (before taxes).
    progressive_billing_invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    # A credit note's balance used by this invoice (after taxes); then applied_coupon_id is None.
    credit_note_id: Mapped[str | None] = mapped_column(ForeignKey("credit_notes.id"), index=True)
    # This use ended the applied coupon (a refresh of the draft that used it revives it).
    ended_coupon: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_credit_note(self) -> bool:
        return self.credit_note_id is not None

    @property
    def is_progressive_billing(self) -> bool:
        return self.progressive_billing_invoice_id is not None


class AppliedUsageThreshold(Base):
    """A usage threshold crossed by a subscription, and the progressive billing invoice it issued.

    The unique constraint makes each crossing bill once: a rerun of the check, a killed job or two workers
    racing collide here (the whole invoice rolls back with the losing insert).
    """

    __tablename__ = "applied_usage_thresholds"
    __table_args__ = (
        UniqueConstraint("subscription_id", "usage_threshold_id", "crossed_amount_cents",
                         name="uq_applied_usage_thresholds_crossing"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    usage_threshold_id: Mapped[str] = mapped_column(ForeignKey("usage_thresholds.id"), index=True)
    # The lifetime usage level crossed: the threshold's amount, or for a recurring one the multiple passed.
    crossed_amount_cents: Mapped[int] = mapped_column(BigInteger)
    # The subscription's lifetime usage when the crossing was billed.
    lifetime_usage_amount_cents: Mapped[int] = mapped_column(BigInteger)
    # The charges period the progressive invoice billed (its start): what the period-end invoice deducts.
    period_start: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    usage_threshold: Mapped[UsageThreshold] = relationship(lazy="joined")


CREDIT_NOTE_REASONS = ("duplicated_charge", "product_unsatisfactory", "order_change", "order_cancellation",
                       "fraudulent_charge", "other")
REFUND_STATUSES = ("pending", "succeeded", "failed")


class CreditNote(Base):
    """Money given back on a finalized invoice: credited to the customer's balance and/or refunded."""

    __tablename__ = "credit_notes"
    __table_args__ = (
        UniqueConstraint("invoice_id", "sequential_id", name="uq_credit_notes_invoice_sequence"),
        # The credit for the unused days of a terminated subscription's advance fee: issued once, however
        # often the termination (or the finalization that issues it) runs.
        UniqueConstraint("terminated_subscription_id", name="uq_credit_notes_terminated_subscription"),
        Index("ix_credit_notes_org_issuing", "organization_id", "issuing_date", "created_at", "id"),  # admin list
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    sequential_id: Mapped[int]
    number: Mapped[str] = mapped_column(String(80))
    issuing_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="finalized")
    credit_status: Mapped[str | None] = mapped_column(String(16))  # available | consumed | voided
    refund_status: Mapped[str | None] = mapped_column(String(16))  # pending | succeeded | failed
    reason: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(1024))
    currency: Mapped[str] = mapped_column(String(3))
    sub_total_excluding_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    coupons_adjustment_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_rate: Mapped[Decimal] = mapped_column(default=Decimal(0))
    total_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    balance_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    offset_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # off the amount due
    file_key: Mapped[str | None] = mapped_column(String(255))
    # Set on the automatic credit note of a terminated (or upgraded) subscription's unused advance fee.
    terminated_subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    # Lago's item metadata: {key: text or null}; None when it has none (billing/validation.py, metadata).
    metadata_: Mapped[dict | None] = mapped_column("metadata")
    # Both parties as the PDF prints them, kept when issued (billing/invoicing/parties.py).
    parties: Mapped[dict | None]
    voided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    invoice: Mapped[Invoice] = relationship(lazy="joined")
    customer: Mapped[Customer] = relationship(lazy="joined")
    items: Mapped[list[CreditNoteItem]] = relationship(cascade="all, delete-orphan", order_by="CreditNoteItem.position",
                                                       lazy="selectin")
    applied_taxes: Mapped[list[CreditNoteAppliedTax]] = relationship(
        cascade="all, delete-orphan", order_by="CreditNoteAppliedTax.tax_code", lazy="selectin")


class CreditNoteItem(Base):
    """The part of one fee a credit note gives back (before coupons and taxes)."""

    __tablename__ = "credit_note_items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    credit_note_id: Mapped[str] = mapped_column(ForeignKey("credit_notes.id", ondelete="CASCADE"), index=True)
    fee_id: Mapped[str] = mapped_column(ForeignKey("fees.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_amount_cents: Mapped[Decimal] = mapped_column(default=Decimal(0))
    amount_currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    fee: Mapped[Fee] = relationship(lazy="joined")


class CreditNoteAppliedTax(Base):
    """One tax given back by a credit note: its base (items after coupons) and amount, rounded once."""

    __tablename__ = "credit_note_applied_taxes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    credit_note_id: Mapped[str] = mapped_column(ForeignKey("credit_notes.id", ondelete="CASCADE"), index=True)
    tax_id: Mapped[str | None] = mapped_column(ForeignKey("taxes.id", ondelete="SET NULL"))
    tax_code: Mapped[str] = mapped_column(String(255))
    tax_name: Mapped[str] = mapped_column(String(255))
    tax_rate: Mapped[Decimal] = mapped_column(default=Decimal(0))
    tax_description: Mapped[str | None] = mapped_column(String(1024))
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    base_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
