from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base, utcnow


class Event(Base):
    """One usage fact, stored as sent; (organization, transaction_id) is its idempotency key forever."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("organization_id", "transaction_id", name="uq_events_org_transaction_id"),
        Index("ix_events_org_subscription_code_ts", "organization_id", "external_subscription_id", "code", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    transaction_id: Mapped[str] = mapped_column(String(255))
    external_subscription_id: Mapped[str] = mapped_column(String(255))
    # Resolved at ingestion; None when no subscription matched (the event is kept, not lost).
    subscription_id: Mapped[str | None] = mapped_column(String(36))
    code: Mapped[str] = mapped_column(String(255))
    timestamp: Mapped[datetime]
    properties: Mapped[dict] = mapped_column(default=dict)
    precise_total_amount_cents: Mapped[Decimal | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
