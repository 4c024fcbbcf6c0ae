from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from billing.catalog.models import Plan
from billing.customers.models import Customer
from billing.db import Base, new_id, utcnow

STATUSES = ("pending", "active", "terminated", "canceled")
LIVE_STATUSES = ("pending", "active")


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        # One live subscription per external_id in an organization; ended ones keep theirs
        # (a downgrade's next subscription shares the external_id while pending: issue 4).
        Index("ix_subscriptions_org_external_id", "organization_id", "external_id"),
        Index("uq_subscriptions_active_external_id", "organization_id", "external_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        Index("ix_subscriptions_org_ending", "organization_id", "ending_at"),  # the admin list's "ending soon"
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    billing_time: Mapped[str] = mapped_column(String(16), default="calendar")
    subscription_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ending_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    trial_ended_at: Mapped[datetime | None]
    previous_subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    on_termination_credit_note: Mapped[str | None] = mapped_column(String(16))
    on_termination_invoice: Mapped[str] = mapped_column(String(16), default="generate")
    # Usage billed before Tally (Lago's lifetime usage `external_historical_usage_amount_cents`): counted in the
    # lifetime usage that usage thresholds compare against.
    historical_usage_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(lazy="joined")
    plan: Mapped[Plan] = relationship(lazy="joined")

    @validates("subscription_at", "started_at", "ending_at", "terminated_at", "canceled_at", "trial_ended_at")
    def _to_the_second(self, _key: str, moment: datetime | None) -> datetime | None:
        # NOTE: the API shows a subscription's instants to the second (Lago's format): an event stamped with
        # the very second shown as `started_at` must belong to it, so what is stored is what is shown.
        return moment.replace(microsecond=0) if moment is not None else None
