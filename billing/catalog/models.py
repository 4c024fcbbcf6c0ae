from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, new_id, utcnow

if TYPE_CHECKING:  # annotations only: the two model modules refer to each other (SQLAlchemy resolves the names)
    from billing.customers.models import Customer

AGGREGATION_TYPES = (
    "count_agg", "sum_agg", "max_agg", "unique_count_agg", "latest_agg", "weighted_sum_agg", "custom_agg",
)
PLAN_INTERVALS = ("weekly", "monthly", "quarterly", "semiannual", "yearly")


class BillableMetric(Base):
    __tablename__ = "billable_metrics"
    __table_args__ = (
        Index("uq_billable_metrics_org_code", "organization_id", "code", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    aggregation_type: Mapped[str] = mapped_column(String(32))
    field_name: Mapped[str | None] = mapped_column(String(255))
    weighted_interval: Mapped[str | None] = mapped_column(String(16))
    expression: Mapped[str | None] = mapped_column(Text)
    recurring: Mapped[bool] = mapped_column(default=False)
    rounding_function: Mapped[str | None] = mapped_column(String(8))
    rounding_precision: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    filters: Mapped[list[BillableMetricFilter]] = relationship(
        back_populates="billable_metric", cascade="all, delete-orphan", order_by="BillableMetricFilter.key",
        lazy="selectin")


class BillableMetricFilter(Base):
    """A property key of the metric's events and its allowed values, usable by charge filters."""

    __tablename__ = "billable_metric_filters"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    billable_metric_id: Mapped[str] = mapped_column(ForeignKey("billable_metrics.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    values: Mapped[list] = mapped_column(default=list)

    billable_metric: Mapped[BillableMetric] = relationship(back_populates="filters")


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        # Child plans (overrides for one subscription) share their parent's code.
        Index("uq_plans_org_code", "organization_id", "code", unique=True,
              sqlite_where=text("deleted_at IS NULL AND parent_id IS NULL"),
              postgresql_where=text("deleted_at IS NULL AND parent_id IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    interval: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_currency: Mapped[str] = mapped_column(String(3))
    pay_in_advance: Mapped[bool] = mapped_column(default=False)
    trial_period: Mapped[Decimal] = mapped_column(default=Decimal(0))
    bill_charges_monthly: Mapped[bool] = mapped_column(default=False)
    minimum_commitment_cents: Mapped[int | None] = mapped_column(BigInteger)
    # Lago's item metadata: {key: text or null}; None when it has none (billing/validation.py, metadata).
    metadata_: Mapped[dict | None] = mapped_column("metadata")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    taxes: Mapped[list[Tax]] = relationship(secondary="plans_taxes", lazy="selectin", order_by="Tax.code")
    parent: Mapped[Plan | None] = relationship(remote_side="Plan.id", foreign_keys=[parent_id])
    charges: Mapped[list[Charge]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="Charge.created_at", lazy="selectin",
        primaryjoin="and_(Charge.plan_id == Plan.id, Charge.deleted_at.is_(None))")
    usage_thresholds: Mapped[list[UsageThreshold]] = relationship(
        order_by="(UsageThreshold.recurring, UsageThreshold.amount_cents)", lazy="selectin",
        primaryjoin="and_(UsageThreshold.plan_id == Plan.id, UsageThreshold.deleted_at.is_(None))",
        viewonly=True)  # written through UsageThreshold rows (billing.catalog.usage_thresholds)

    @property
    def yearly_amount_cents(self) -> int:
        per_year = {"weekly": 52, "monthly": 12, "quarterly": 4, "semiannual": 2, "yearly": 1}
        return self.amount_cents * per_year[self.interval]


class UsageThreshold(Base):
    """A lifetime usage amount that issues a progressive billing invoice when crossed (Lago's usage threshold).

    Non-recurring thresholds fire once each; the plan's one recurring threshold fires each time lifetime usage
    passes another multiple of its amount beyond the largest non-recurring one (docs/billing.md, Progressive
    billing). Removed thresholds keep their row (`deleted_at`): invoices that applied them still point at it.
    """

    __tablename__ = "usage_thresholds"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    threshold_display_name: Mapped[str | None] = mapped_column(String(255))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    recurring: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]


class Charge(Base):
    __tablename__ = "charges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    billable_metric_id: Mapped[str] = mapped_column(ForeignKey("billable_metrics.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("charges.id"))
    # Lago's charge code: names the charge within its plan (unique among the plan's live charges; a child
    # plan's copy carries its parent charge's code).
    code: Mapped[str | None] = mapped_column(String(255))
    charge_model: Mapped[str] = mapped_column(String(32))
    properties: Mapped[dict] = mapped_column(default=dict)
    pay_in_advance: Mapped[bool] = mapped_column(default=False)
    # A pay-in-advance charge bills the events with a higher id (those stored once it was in advance).
    pay_in_advance_from_event_id: Mapped[int | None] = mapped_column(BigInteger)
    invoiceable: Mapped[bool] = mapped_column(default=True)
    prorated: Mapped[bool] = mapped_column(default=False)
    # Lago's `regroup_paid_fees`: None (fees without invoice stay so) or "invoice" (the paid ones are grouped
    # on one invoice when the period is billed): only for pay-in-advance charges that are not invoiceable.
    regroup_paid_fees: Mapped[str | None] = mapped_column(String(16))
    min_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    taxes: Mapped[list[Tax]] = relationship(secondary="charges_taxes", lazy="selectin", order_by="Tax.code")
    plan: Mapped[Plan] = relationship(back_populates="charges", foreign_keys=[plan_id])
    billable_metric: Mapped[BillableMetric] = relationship(lazy="joined")
    filters: Mapped[list[ChargeFilter]] = relationship(
        back_populates="charge", cascade="all, delete-orphan", order_by="ChargeFilter.created_at", lazy="selectin")


class ChargeFilter(Base):
    """Prices the subset of a charge's events whose properties match `values`, with its own properties."""

    __tablename__ = "charge_filters"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    charge_id: Mapped[str] = mapped_column(ForeignKey("charges.id", ondelete="CASCADE"), index=True)
    values: Mapped[dict] = mapped_column(default=dict)
    properties: Mapped[dict] = mapped_column(default=dict)
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    charge: Mapped[Charge] = relationship(back_populates="filters")


# ---------------------------------------------------------------- taxes

# A tax applies to a customer, a plan or a charge through these links (Lago's customers_taxes,
# plans_taxes, charges_taxes); `applied_to_organization` makes it the organization's default.
customers_taxes = Table(
    "customers_taxes", Base.metadata,
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("tax_id", ForeignKey("taxes.id", ondelete="CASCADE"), primary_key=True, index=True),
)
plans_taxes = Table(
    "plans_taxes", Base.metadata,
    Column("plan_id", ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True),
    Column("tax_id", ForeignKey("taxes.id", ondelete="CASCADE"), primary_key=True, index=True),
)
charges_taxes = Table(
    "charges_taxes", Base.metadata,
    Column("charge_id", ForeignKey("charges.id", ondelete="CASCADE"), primary_key=True),
    Column("tax_id", ForeignKey("taxes.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tax(Base):
    __tablename__ = "taxes"
    __table_args__ = (UniqueConstraint("organization_id", "code", name="uq_taxes_org_code"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    rate: Mapped[Decimal] = mapped_column(default=Decimal(0))  # a percentage: 20 means 20 %
    description: Mapped[str | None] = mapped_column(Text)
    applied_to_organization: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# ---------------------------------------------------------------- coupons

COUPON_TYPES = ("fixed_amount", "percentage")
COUPON_FREQUENCIES = ("once", "recurring", "forever")
COUPON_EXPIRATIONS = ("no_expiration", "time_limit")


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        Index("uq_coupons_org_code", "organization_id", "code", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    coupon_type: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    amount_currency: Mapped[str | None] = mapped_column(String(3))
    percentage_rate: Mapped[Decimal | None]
    frequency: Mapped[str] = mapped_column(String(16), default="once")
    frequency_duration: Mapped[int | None]
    expiration: Mapped[str] = mapped_column(String(16), default="no_expiration")
    expiration_at: Mapped[datetime | None]
    reusable: Mapped[bool] = mapped_column(default=True)
    limited_plans: Mapped[bool] = mapped_column(default=False)
    limited_billable_metrics: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    terminated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    plans: Mapped[list[Plan]] = relationship(secondary="coupon_plans", lazy="selectin")
    billable_metrics: Mapped[list[BillableMetric]] = relationship(secondary="coupon_billable_metrics",
                                                                  lazy="selectin")


coupon_plans = Table(
    "coupon_plans", Base.metadata,
    Column("coupon_id", ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True),
    Column("plan_id", ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True, index=True),
)
coupon_billable_metrics = Table(
    "coupon_billable_metrics", Base.metadata,
    Column("coupon_id", ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True),
    Column("billable_metric_id", ForeignKey("billable_metrics.id", ondelete="CASCADE"), primary_key=True,
           index=True),
)


class AppliedCoupon(Base):
    """A coupon given to one customer, with the terms it was given with (they may override the coupon's)."""

    __tablename__ = "applied_coupons"
    __table_args__ = (Index("ix_applied_coupons_customer", "customer_id", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    amount_cents_remaining: Mapped[int | None] = mapped_column(BigInteger)
    amount_currency: Mapped[str | None] = mapped_column(String(3))
    percentage_rate: Mapped[Decimal | None]
    frequency: Mapped[str] = mapped_column(String(16))
    frequency_duration: Mapped[int | None]
    frequency_duration_remaining: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    terminated_at: Mapped[datetime | None]

    coupon: Mapped[Coupon] = relationship(lazy="joined")
    customer: Mapped[Customer] = relationship(lazy="joined")


# ---------------------------------------------------------------- add-ons

# An add-on's own taxes (Lago's add_ons_taxes): they apply to its one-off fees before the customer's.
add_ons_taxes = Table(
    "add_ons_taxes", Base.metadata,
    Column("add_on_id", ForeignKey("add_ons.id", ondelete="CASCADE"), primary_key=True),
    Column("tax_id", ForeignKey("taxes.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class AddOn(Base):
    """A one-off item (setup fee, consulting hour...) billed on one-off invoices (Lago's add-on).

    Deleting one keeps the row (`deleted_at`): invoices already issued still point at it, and its
    code is free again for a new add-on.
    """

    __tablename__ = "add_ons"
    __table_args__ = (
        Index("uq_add_ons_org_code", "organization_id", "code", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    taxes: Mapped[list[Tax]] = relationship(secondary="add_ons_taxes", lazy="selectin", order_by="Tax.code")

    @property
    def invoice_name(self) -> str:
        return self.invoice_display_name or self.name
