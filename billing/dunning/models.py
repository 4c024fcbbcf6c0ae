"""Dunning campaigns: when and how often an organization asks its customers to pay what is overdue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, new_id, utcnow

_LIVE_DEFAULT = "applied_to_organization AND deleted_at IS NULL"
_LIVE_CODE = "deleted_at IS NULL"


class DunningCampaign(Base):
    """How to chase a customer: from which overdue amount (per currency), how many times, how far apart,
    and the reminder's words (an account manager's subject and message, with placeholders)."""

    __tablename__ = "dunning_campaigns"
    __table_args__ = (
        Index("uq_dunning_campaigns_org_code", "organization_id", "code", unique=True,
              sqlite_where=text(_LIVE_CODE), postgresql_where=text(_LIVE_CODE)),
        # One default campaign per organization (Lago's applied_to_organization).
        Index("uq_dunning_campaigns_org_default", "organization_id", unique=True,
              sqlite_where=text(_LIVE_DEFAULT), postgresql_where=text(_LIVE_DEFAULT)),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(1000))
    max_attempts: Mapped[int] = mapped_column(default=3)
    days_between_attempts: Mapped[int] = mapped_column(default=3)
    bcc_emails: Mapped[list] = mapped_column(default=list)
    applied_to_organization: Mapped[bool] = mapped_column(default=False, server_default=false())
    reminder_subject: Mapped[str] = mapped_column(String(255))
    reminder_message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    thresholds: Mapped[list[DunningCampaignThreshold]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="DunningCampaignThreshold.currency")


class DunningCampaignThreshold(Base):
    """The overdue amount, in one currency, from which a campaign starts asking."""

    __tablename__ = "dunning_campaign_thresholds"
    __table_args__ = (UniqueConstraint("dunning_campaign_id", "currency", name="uq_dunning_thresholds_currency"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    dunning_campaign_id: Mapped[str] = mapped_column(ForeignKey("dunning_campaigns.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(BigInteger)


class DunningAttempt(Base):
    """One attempt of a campaign on a customer: the payment requests it made, once.

    The unique (customer, cycle, attempt) is what makes an attempt happen exactly once when two workers or
    two clock runs race: the second one's insert collides and it does nothing. `cycle` is the customer's
    `dunning_cycle` when the attempt was made: a reset (the campaign changed, everything was paid) starts a
    new cycle, so attempt 1 may happen again in it.
    """

    __tablename__ = "dunning_attempts"
    __table_args__ = (UniqueConstraint("customer_id", "cycle", "attempt", name="uq_dunning_attempts_once"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    dunning_campaign_id: Mapped[str] = mapped_column(ForeignKey("dunning_campaigns.id"))
    cycle: Mapped[int] = mapped_column(default=0)
    attempt: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
