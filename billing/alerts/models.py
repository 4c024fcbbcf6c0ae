"""Usage alerts (Lago's usage monitoring): thresholds on a subscription's usage or a wallet's balance; what fired."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.catalog.models import BillableMetric
from billing.db import Base, new_id, utcnow
from billing.wallets.models import Wallet

# NOTE: Lago's alert types (lago-openapi AlertObject, WalletAlertObject). What each one measures is
# billing.alerts.evaluation.MEASURES; a type without a measure there is refused by the API (not_supported_yet).
SUBSCRIPTION_ALERT_TYPES = ("current_usage_amount", "billable_metric_current_usage_amount",
                            "billable_metric_current_usage_units", "lifetime_usage_amount")
METRIC_ALERT_TYPES = ("billable_metric_current_usage_amount", "billable_metric_current_usage_units")
WALLET_ALERT_TYPES = ("wallet_balance_amount", "wallet_credits_balance", "wallet_ongoing_balance_amount",
                      "wallet_credits_ongoing_balance")
DIRECTIONS = ("increasing", "decreasing")


class Alert(Base):
    """Thresholds on one measure of a subscription (by its external id, so it outlives plan changes) or a wallet."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("organization_id", "subscription_external_id", "code", name="uq_alerts_subscription_code"),
        UniqueConstraint("wallet_id", "code", name="uq_alerts_wallet_code"),
        Index("ix_alerts_org_subscription", "organization_id", "subscription_external_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    subscription_external_id: Mapped[str | None] = mapped_column(String(255))
    wallet_id: Mapped[str | None] = mapped_column(ForeignKey("wallets.id", ondelete="CASCADE"), index=True)
    billable_metric_id: Mapped[str | None] = mapped_column(ForeignKey("billable_metrics.id", ondelete="CASCADE"),
                                                           index=True)
    alert_type: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    direction: Mapped[str] = mapped_column(String(16), default="increasing")
    # The measure at the last evaluation (0 before the first), and the billing period it was read in.
    previous_value: Mapped[Decimal] = mapped_column(default=Decimal(0))
    period_start: Mapped[datetime | None]
    last_processed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    thresholds: Mapped[list[AlertThreshold]] = relationship(
        cascade="all, delete-orphan", order_by="AlertThreshold.value", lazy="selectin")
    billable_metric: Mapped[BillableMetric | None] = relationship(lazy="joined")
    wallet: Mapped[Wallet | None] = relationship(lazy="joined")


class AlertThreshold(Base):
    """A value that fires the alert once reached; the one `recurring` threshold fires again every `value` beyond
    the highest other threshold."""

    __tablename__ = "alert_thresholds"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    code: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[Decimal]
    recurring: Mapped[bool] = mapped_column(default=False)


class TriggeredAlert(Base):
    """One evaluation that crossed thresholds: what `alert.triggered` reported."""

    __tablename__ = "triggered_alerts"
    __table_args__ = (Index("ix_triggered_alerts_alert_time", "alert_id", "triggered_at"),
                      # The portal's and the usage widget's notices: this period's crossings of a subscription.
                      Index("ix_triggered_alerts_subscription_period", "subscription_id", "period_start"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    wallet_id: Mapped[str | None] = mapped_column(ForeignKey("wallets.id", ondelete="CASCADE"))
    period_start: Mapped[datetime | None]
    current_value: Mapped[Decimal]
    previous_value: Mapped[Decimal]
    # [{"code", "value", "recurring"}], value as a decimal string (Lago's crossed_thresholds).
    crossed_thresholds: Mapped[list] = mapped_column(default=list)
    triggered_at: Mapped[datetime] = mapped_column(default=utcnow)

    alert: Mapped[Alert] = relationship(lazy="joined")


class AlertCrossing(Base):
    """A threshold value crossed in one period (a wallet alert's: until the balance is back across it).

    Its key makes a crossing fire once: a rerun of a killed evaluation, or a measure that falls and rises
    again within the period, finds the row and reports nothing.
    """

    __tablename__ = "alert_crossings"

    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    triggered_alert_id: Mapped[str] = mapped_column(ForeignKey("triggered_alerts.id", ondelete="CASCADE"),
                                                    index=True)


class AlertCheckDue(Base):
    """A subscription (by external id) whose usage moved since its alerts were last evaluated."""

    __tablename__ = "alert_checks_due"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    subscription_external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
