"""A customer's usage, period by period (the portal's usage history): the invoiced periods as they were billed
(`period_usage.invoiced_usages`, Lago's past_usage) and the current period so far with its estimate at today's
pace (`metering.projection`), as plain data. Every read is scoped to one organization and one customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from billing.db import read_snapshot
from billing.metering.period_usage import USAGE_LOADING, Usage, invoiced_usages, usage_for_current_period
from billing.metering.projection import projected_amount
from billing.money import to_minor
from billing.ports import runtime
from billing.screens.overview import CHART_BAR_SPAN, _find_customer
from billing.subscriptions.periods import local_date
from billing.subscriptions.services import customer_subscriptions

PERIODS_SHOWN = 12  # a year of monthly periods


@dataclass(frozen=True)
class MetricUsage:
    name: str
    code: str
    units: Decimal
    amount_cents: int
    projected_amount_cents: int | None = None  # the current period only


@dataclass(frozen=True)
class PeriodUsage:
    first_day: date
    last_day: date
    amount_cents: int
    metrics: tuple[MetricUsage, ...]
    invoice_id: str | None  # None: the current period, not invoiced yet
    projected_amount_cents: int | None = None  # the current period only
    bar_height: Decimal = Decimal(0)  # of the chart's drawing height (overview.CHART_BAR_SPAN)
    projected_bar_height: Decimal = Decimal(0)

    @property
    def is_current(self) -> bool:
        return self.invoice_id is None


@dataclass(frozen=True)
class SubscriptionHistory:
    external_id: str
    plan_name: str
    currency: str
    periods: tuple[PeriodUsage, ...]  # oldest first, the current period last

    @property
    def current(self) -> PeriodUsage | None:
        return next((p for p in self.periods if p.is_current), None)


def usage_history(*, organization_id: str, customer_id: str, periods: int = PERIODS_SHOWN) -> list[SubscriptionHistory]:
    """Each subscription's last invoiced periods and, when it is active, its current period with an estimate."""
    now = runtime.clock.now()
    histories = []
    with read_snapshot() as session:  # one snapshot: the periods add up to the same events
        customer = _find_customer(session, organization_id, customer_id)
        timezone = customer.applicable_timezone
        for subscription in customer_subscriptions(session, customer_id, USAGE_LOADING):
            if subscription.status == "pending":
                continue
            rows = [_period(usage, invoice_id, timezone) for usage, invoice_id in
                    invoiced_usages(session, subscription, periods_count=periods)]
            if subscription.status == "active":
                rows.insert(0, _current(usage_for_current_period(session, subscription), now, timezone))
            if rows:
                plan = subscription.plan
                histories.append(SubscriptionHistory(
                    external_id=subscription.external_id, plan_name=plan.invoice_display_name or plan.name,
                    currency=plan.amount_currency, periods=_with_bars(list(reversed(rows)))))
    return histories


def _days(usage: Usage, timezone: str) -> tuple[date, date]:
    # The period's end is exclusive: its last day is the local day of the instant before it.
    return local_date(usage.from_datetime, timezone), local_date(usage.to_datetime - timedelta(microseconds=1),
                                                                 timezone)


def _period(usage: Usage, invoice_id: str, timezone: str) -> PeriodUsage:
    first, last = _days(usage, timezone)
    metrics = tuple(MetricUsage(name=c.charge.billable_metric.name, code=c.charge.billable_metric.code,
                                units=c.units, amount_cents=c.amount_cents) for c in usage.charges)
    return PeriodUsage(first_day=first, last_day=last, amount_cents=usage.amount_cents, metrics=metrics,
                       invoice_id=invoice_id)


def _current(usage: Usage, now: datetime, timezone: str) -> PeriodUsage:
    first, last = _days(usage, timezone)
    elapsed, period = now - usage.from_datetime, usage.to_datetime - usage.from_datetime
    metrics = []
    for charge_usage in usage.charges:
        charge, metric = charge_usage.charge, charge_usage.charge.billable_metric
        # Each charge filter's line is priced by its own properties, as the invoice will price it.
        projected = sum((to_minor(projected_amount(
            charge_model=charge.charge_model,
            properties=line.charge_filter.properties if line.charge_filter else charge.properties,
            units=line.units, amount=line.amount, aggregation_type=metric.aggregation_type,
            recurring=metric.recurring, elapsed=elapsed, period=period, currency=usage.currency), usage.currency)
            for line in charge_usage.lines), 0)
        metrics.append(MetricUsage(name=metric.name, code=metric.code, units=charge_usage.units,
                                   amount_cents=charge_usage.amount_cents, projected_amount_cents=projected))
    return PeriodUsage(first_day=first, last_day=last, amount_cents=usage.amount_cents, metrics=tuple(metrics),
                       invoice_id=None, projected_amount_cents=sum(m.projected_amount_cents or 0 for m in metrics))


def _with_bars(rows: list[PeriodUsage]) -> tuple[PeriodUsage, ...]:
    """The periods with their bars' heights, the highest amount (or estimate) drawn to the chart's full height."""
    peak = max((max(p.amount_cents, p.projected_amount_cents or 0) for p in rows), default=0)

    def height(cents: int) -> Decimal:
        return (CHART_BAR_SPAN * max(cents, 0) / peak).quantize(Decimal("0.01")) if peak > 0 else Decimal(0)

    return tuple(PeriodUsage(**{**p.__dict__, "bar_height": height(p.amount_cents),
                                "projected_bar_height": height(p.projected_amount_cents or 0)}) for p in rows)
