"""Wallets (prepaid credits), their ledger of transactions, and recurring top-up rules."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.catalog.models import BillableMetric
from billing.customers.models import Customer
from billing.db import Base, new_id, utcnow

WALLET_STATUSES = ("active", "terminated")
RULE_INTERVALS = ("weekly", "monthly", "quarterly", "yearly")
# What `applies_to.fee_types` may name (Lago's wallet object).
FEE_TYPES = ("charge", "subscription", "commitment")


class Wallet(Base):
    """A customer's credits. `credits_balance` is what the settled inbound lots still hold."""

    __tablename__ = "wallets"
    __table_args__ = (
        Index("ix_wallets_org_customer", "organization_id", "customer_id"),
        # NOTE: Lago's wallet code is unique among the customer's active wallets (Wallet#unique_code_per_customer).
        Index("uq_wallets_customer_active_code", "customer_id", "code", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    name: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str | None] = mapped_column(String(255))
    priority: Mapped[int] = mapped_column(default=50)
    status: Mapped[str] = mapped_column(String(16), default="active")
    currency: Mapped[str] = mapped_column(String(3))
    rate_amount: Mapped[Decimal] = mapped_column()
    credits_balance: Mapped[Decimal] = mapped_column(default=Decimal(0))
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    consumed_credits: Mapped[Decimal] = mapped_column(default=Decimal(0))
    expiration_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]
    last_balance_sync_at: Mapped[datetime | None]
    last_consumed_credit_at: Mapped[datetime | None]
    # When `check_wallet_thresholds` last evaluated its ongoing balance (Lago's name).
    last_ongoing_balance_sync_at: Mapped[datetime | None]
    # True once `wallet.depleted_ongoing_balance` was sent; reset when the ongoing balance is positive again.
    depleted_notified: Mapped[bool] = mapped_column(default=False)
    # How many times the ongoing balance was depleted: each crossing's number (its email's key).
    depletions: Mapped[int] = mapped_column(default=0)
    # `applies_to`: the fees the wallet pays (none listed: all of them).
    allowed_fee_types: Mapped[list] = mapped_column(default=list)
    # Limits of one paid top-up, in minor units (None: no limit).
    paid_top_up_min_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    paid_top_up_max_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    # The default of its top-ups: their invoice is issued once paid (`open` until then).
    invoice_requires_successful_payment: Mapped[bool] = mapped_column(default=False)
    # Lago's item metadata: {key: text or null}; None when it has none (billing/validation.py, metadata).
    metadata_: Mapped[dict | None] = mapped_column("metadata")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(lazy="joined")
    rules: Mapped[list[RecurringTransactionRule]] = relationship(
        cascade="all, delete-orphan", order_by="RecurringTransactionRule.created_at", lazy="selectin")
    # `applies_to.billable_metric_codes`: the charges of these metrics (Lago's wallet targets).
    billable_metrics: Mapped[list[BillableMetric]] = relationship(secondary="wallet_targets", lazy="selectin",
                                                                  order_by="BillableMetric.code")


wallet_targets = Table(
    "wallet_targets", Base.metadata,
    Column("wallet_id", ForeignKey("wallets.id", ondelete="CASCADE"), primary_key=True),
    Column("billable_metric_id", ForeignKey("billable_metrics.id", ondelete="CASCADE"), primary_key=True,
           index=True),
)


class WalletTransaction(Base):
    """One movement of credits: inbound (purchased, granted) or outbound (invoiced, voided).

    A settled inbound transaction is a lot that consumption draws from (`remaining_credits`).
    """

    __tablename__ = "wallet_transactions"
    __table_args__ = (Index("ix_wallet_transactions_wallet", "wallet_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id", ondelete="CASCADE"))
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    transaction_type: Mapped[str] = mapped_column(String(16))  # inbound | outbound
    transaction_status: Mapped[str] = mapped_column(String(16))  # purchased | granted | voided | invoiced
    status: Mapped[str] = mapped_column(String(16))  # pending | settled | failed
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual | interval | threshold
    credit_amount: Mapped[Decimal] = mapped_column()
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    remaining_credits: Mapped[Decimal] = mapped_column(default=Decimal(0))
    name: Mapped[str | None] = mapped_column(String(255))
    metadata_: Mapped[list] = mapped_column("metadata", default=list)
    invoice_requires_successful_payment: Mapped[bool] = mapped_column(default=False)
    settled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    wallet: Mapped[Wallet] = relationship(lazy="joined")


class RecurringTransactionRule(Base):
    """An automatic top-up: every interval, or when the ongoing balance falls to a threshold."""

    __tablename__ = "recurring_transaction_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(16))  # interval | threshold
    interval: Mapped[str | None] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16), default="fixed")  # fixed | target
    threshold_credits: Mapped[Decimal | None]
    target_ongoing_balance: Mapped[Decimal | None]
    paid_credits: Mapped[Decimal] = mapped_column(default=Decimal(0))
    granted_credits: Mapped[Decimal] = mapped_column(default=Decimal(0))
    status: Mapped[str] = mapped_column(String(16), default="active")
    started_at: Mapped[datetime | None]
    expiration_at: Mapped[datetime | None]
    # interval: the next instant it tops up; threshold: False once fired, until the balance is above again.
    next_run_at: Mapped[datetime | None]
    armed: Mapped[bool] = mapped_column(default=True)
    transaction_name: Mapped[str | None] = mapped_column(String(255))
    transaction_metadata: Mapped[list] = mapped_column(default=list)
    # Its top-ups skip the wallet's paid top-up limits (a `target` one is otherwise raised to the minimum).
    ignore_paid_top_up_limits: Mapped[bool] = mapped_column(default=False)
    invoice_requires_successful_payment: Mapped[bool] = mapped_column(default=False)
    # A `target` rule grants free credits instead of buying them (None for `fixed`).
    grants_target_top_up: Mapped[bool | None]
    # After a declined threshold top-up: no other before this instant (cleared by a settled paid top-up).
    backoff_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WalletCheckDue(Base):
    """A customer whose wallets' ongoing balance may have moved since they were last checked.

    Written by whatever moves it (new events, found by the check itself; a ledger movement; a draft
    invoice; a wallet's settings) and taken away by the check of that customer, under its wallets'
    row locks: `check_wallet_thresholds` looks at these customers only (docs/billing.md, Wallets).
    """

    __tablename__ = "wallet_checks_due"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
