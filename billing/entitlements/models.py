"""Features (what an application lets a customer do), their privileges, and the values plans and subscriptions give.

An entitlement ties one feature to either a plan (the plan's values) or a subscription's external id (that
subscription's overrides, kept across plan changes, as Lago keys them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, new_id, utcnow

VALUE_TYPES = ("boolean", "integer", "string", "select")


class Feature(Base):
    __tablename__ = "entitlement_features"
    __table_args__ = (
        Index("uq_entitlement_features_org_code", "organization_id", "code", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    privileges: Mapped[list[Privilege]] = relationship(
        back_populates="feature", cascade="all, delete-orphan", order_by="Privilege.position", lazy="selectin",
        passive_deletes=True)


class Privilege(Base):
    """One setting of a feature (`max_seats`: integer, `provider`: select of google/okta...)."""

    __tablename__ = "entitlement_privileges"
    __table_args__ = (UniqueConstraint("feature_id", "code", name="uq_entitlement_privileges_feature_code"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    feature_id: Mapped[str] = mapped_column(ForeignKey("entitlement_features.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    value_type: Mapped[str] = mapped_column(String(16), default="string")
    config: Mapped[dict] = mapped_column(default=dict)
    position: Mapped[int] = mapped_column(default=0)  # the order the feature lists them in
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    feature: Mapped[Feature] = relationship(back_populates="privileges")


class Entitlement(Base):
    """A feature given by a plan (`plan_id`) or overridden for a subscription (`subscription_external_id`)."""

    __tablename__ = "entitlement_entitlements"
    __table_args__ = (
        Index("uq_entitlements_plan_feature", "plan_id", "feature_id", unique=True,
              sqlite_where=text("plan_id IS NOT NULL"), postgresql_where=text("plan_id IS NOT NULL")),
        Index("uq_entitlements_subscription_feature", "organization_id", "subscription_external_id", "feature_id",
              unique=True, sqlite_where=text("subscription_external_id IS NOT NULL"),
              postgresql_where=text("subscription_external_id IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    feature_id: Mapped[str] = mapped_column(ForeignKey("entitlement_features.id", ondelete="CASCADE"), index=True)
    plan_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    subscription_external_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    feature: Mapped[Feature] = relationship(lazy="joined")
    values: Mapped[list[EntitlementValue]] = relationship(
        back_populates="entitlement", cascade="all, delete-orphan", lazy="selectin", passive_deletes=True)


class EntitlementValue(Base):
    """A privilege's value in one entitlement, stored as text and read back by the privilege's value_type."""

    __tablename__ = "entitlement_values"
    __table_args__ = (
        UniqueConstraint("entitlement_id", "privilege_id", name="uq_entitlement_values_entitlement_privilege"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    entitlement_id: Mapped[str] = mapped_column(ForeignKey("entitlement_entitlements.id", ondelete="CASCADE"),
                                                index=True)
    privilege_id: Mapped[str] = mapped_column(ForeignKey("entitlement_privileges.id", ondelete="CASCADE"), index=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    entitlement: Mapped[Entitlement] = relationship(back_populates="values")
    privilege: Mapped[Privilege] = relationship(lazy="joined")

