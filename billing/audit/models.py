from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base, utcnow


class AuditEntry(Base):
    """One change, as it was made: never updated nor deleted (on PostgreSQL a trigger refuses both)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_org_at", "organization_id", "at"),
        Index("ix_audit_log_object", "organization_id", "object_type", "object_id"),
    )

    # A counter, not a uuid: entries written in the same instant (one transaction) keep their order.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who: an account manager (id, email), an API key (id, prefix) or the system (jobs, the CLI).
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(36))
    actor_label: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(36))
    object_label: Mapped[str] = mapped_column(String(255))
    # The changed fields only, `{field: [before, after]}` (nested fields dotted); amounts in `currency`.
    changes: Mapped[dict] = mapped_column(default=dict)
    currency: Mapped[str | None] = mapped_column(String(3))
