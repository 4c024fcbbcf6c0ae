"""Usage of a subscription's period, charge by charge: what invoices, wallets and the screens read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, defaultload, joinedload

from billing import pricing
from billing.catalog.models import BillableMetric, Charge, ChargeFilter, Plan
from billing.customers.models import Customer
from billing.db import (
    read_snapshot,
)
from billing.errors import NotFound
from billing.invoicing.models import Invoice, InvoiceSubscription
from billing.metering import projection
from billing.metering.aggregation import (
    PRORATABLE_AGGREGATIONS,
    GroupUsage,
    MetricSpec,
    daily_units,
    group_values,
    matching_filter,
)
from billing.metering.aggregation import units as aggregated_units
from billing.metering.services import EventInput
from billing.metering.store import event_store
from billing.metering.usage import UsageQuery
from billing.money import to_minor
from billing.ports import runtime
from billing.pricing import prorated as prorated_pricing
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import (
    charges_period_at,
    current_charges_period,
    local_date,
    local_day_cuts,
)
from billing.subscriptions.services import find_subscription, recurring_since
from billing.validation import MAX_PERIODS, Checker


@dataclass(frozen=True)
class UsageLine:
    """One fee's worth of a charge: the events of one charge filter, or those matching none (`charge_filter` None)."""

    charge_filter: ChargeFilter | None
    units: Decimal
    events_count: int
    amount: Decimal  # major units, unrounded
    amount_cents: int
    unit_amount: Decimal
    prorated_units: Decimal | None = None  # a prorated charge's units, each for the share of days it was held


@dataclass(frozen=True)
class ChargeUsage:
    charge: Charge
    units: Decimal
    events_count: int
    lines: list[UsageLine]

    @property
    def amount_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def default_line(self) -> UsageLine:
        return next(line for line in self.lines if line.charge_filter is None)

    @property
    def prorated_units(self) -> Decimal | None:
        if not self.lines or self.lines[0].prorated_units is None:
            return None
        return sum((line.prorated_units or Decimal(0) for line in self.lines), Decimal(0))


@dataclass(frozen=True)
class Usage:
    subscription: Subscription
    from_datetime: datetime
    to_datetime: datetime  # exclusive
    currency: str
    charges: list[ChargeUsage]
    # Read with `charts=True`: per charge id (but unique counts), the bars of a chart, one per local day of
    # [from, to): its events (count) or its values summed (the others).
    charts: Mapping[str, list[tuple[date, Decimal]]] = field(default_factory=dict)

    @property
    def amount_cents(self) -> int:
        return sum(c.amount_cents for c in self.charges)


def metric_spec(metric: BillableMetric) -> MetricSpec:
    return MetricSpec(aggregation_type=metric.aggregation_type, recurring=metric.recurring,
                      rounding_function=metric.rounding_function, rounding_precision=metric.rounding_precision)


def is_prorated(charge: Charge) -> bool:
    """Whether the charge bills each unit for the days it was held (validation only lets valid ones be)."""
    return bool(charge.prorated) and charge.charge_model in prorated_pricing.MODELS and \
        charge.billable_metric.recurring and charge.billable_metric.aggregation_type in PRORATABLE_AGGREGATIONS


@dataclass(frozen=True)
class ProrationDays:
    cuts: list[datetime]  # the local midnights inside [start, end)
    period_days: int  # days of the full (charges) period

    @property
    def days(self) -> int:
        return len(self.cuts) + 1

    def day_of(self, moment: datetime) -> int:
        return sum(1 for cut in self.cuts if cut <= moment)


def proration_days(subscription: Subscription, start: datetime, end: datetime) -> ProrationDays:
    """The local days of [start, end) and of the full period it belongs to, in the customer's timezone."""
    return ProrationDays(cuts=local_day_cuts(start, end, subscription.customer.applicable_timezone),
                         period_days=charges_period_at(subscription, start).days)


def _usage_query(subscription: Subscription, charge: Charge, start: datetime, end: datetime,
                 days: ProrationDays | None = None) -> UsageQuery:
    metric = charge.billable_metric
    return UsageQuery(code=metric.code, start=start, end=end,
                      before_start=recurring_since(subscription) if metric.recurring else None,
                      unique=metric.aggregation_type == "unique_count_agg",
                      latest=metric.aggregation_type == "latest_agg",
                      day_cuts=tuple(days.cuts) if days is not None else None)


def _charge_days(subscription: Subscription, charge: Charge, start: datetime, end: datetime) -> ProrationDays | None:
    return proration_days(subscription, start, end) if is_prorated(charge) else None


def usage_by_filter(session: Session, subscription: Subscription, charge: Charge, start: datetime,
                     end: datetime, days: ProrationDays | None = None,
                     groups: dict[str, GroupUsage] | None = None) -> dict[str | None, GroupUsage]:
    """The charge's usage over [start, end) per charge filter id (None: events matching no filter).

    `groups`: the charge's usage per filter group when the caller read it already (group_usages).
    """
    if groups is None:
        [groups] = event_store().subscription_usages(session, organization_id=subscription.organization_id, requests=[
            (subscription.external_id, _usage_query(subscription, charge, start, end, days))])
    by_filter: dict[str | None, GroupUsage] = {f.id: GroupUsage() for f in charge.filters}
    by_filter[None] = GroupUsage()
    for key, group in groups.items():
        by_filter[filter_of(charge, key)].merge(group)
    return by_filter


def hypothetical_input(name: str, metric: BillableMetric, fact, event: EventInput) -> Decimal:
    if name == "event_amounts_cents":
        return event.precise_total_amount_cents or Decimal(0)
    return Decimal(1) if metric.aggregation_type == "count_agg" else (fact.value or Decimal(0))


def filter_of(charge: Charge, key: str) -> str | None:
    """The id of the charge filter an event's filter group belongs to (None: no filter, or none matches)."""
    if not charge.filters:
        return None
    return matching_filter(group_values(key), [(f.id, f.values) for f in charge.filters])


def charge_usage(session: Session, subscription: Subscription, charge: Charge, start: datetime,
                 end: datetime, groups: dict[str, GroupUsage] | None = None) -> ChargeUsage:
    """Units and price of one charge over [start, end) of one subscription's events, per charge filter.

    A prorated charge keeps its full units in `units` and bills `prorated_units` (docs/billing.md).
    `groups`: its usage per filter group when the caller read it already (usage_between).
    """
    spec = metric_spec(charge.billable_metric)
    days = _charge_days(subscription, charge, start, end)
    by_filter = usage_by_filter(session, subscription, charge, start, end, days, groups)
    currency = subscription.plan.amount_currency
    total = GroupUsage()
    lines = []
    for charge_filter in [*charge.filters, None]:
        group = by_filter[charge_filter.id if charge_filter else None]
        total.merge(group)
        units = aggregated_units(spec, group, start, end)
        properties = charge_filter.properties if charge_filter else charge.properties
        if days is not None:
            result = prorated_pricing.price(charge.charge_model, daily_units(spec, group, days.days), units,
                                            days.period_days, properties)
        else:
            inputs = per_event_inputs(session, subscription, charge, charge_filter, properties, start, end)
            result = pricing.price(charge.charge_model, units, properties, currency=currency, **inputs)
        lines.append(UsageLine(charge_filter=charge_filter, units=units, events_count=group.during.events_count,
                               amount=result.amount, amount_cents=to_minor(result.amount, currency),
                               unit_amount=result.unit_amount,
                               prorated_units=result.units if days is not None else None))
    return ChargeUsage(charge=charge, units=aggregated_units(spec, total, start, end),
                       events_count=total.during.events_count, lines=lines)


def per_event_inputs(session: Session, subscription: Subscription, charge: Charge,
                      charge_filter: ChargeFilter | None, properties: Mapping[str, object], start: datetime,
                      end: datetime) -> dict[str, list[Decimal]]:
    """Per-event data for the models that price events one by one (percentage, dynamic), read raw.

    Only those models pay for this scan; every other model is priced from the rollups' units.
    """
    needed = pricing.required_inputs(charge.charge_model, properties)
    if not needed & {pricing.EVENT_VALUES, pricing.EVENT_AMOUNTS_CENTS}:
        return {}
    metric = charge.billable_metric
    wanted = charge_filter.id if charge_filter else None
    rows = sorted(event_store().metric_events(
        session, organization_id=subscription.organization_id, external_subscription_id=subscription.external_id,
        code=metric.code, start=start, end=end), key=lambda row: (row.timestamp, row.id))
    mine = [row for row in rows if filter_of(charge, row.group_key) == wanted]
    inputs: dict[str, list[Decimal]] = {}
    if pricing.EVENT_VALUES in needed:
        # A counted event weighs 1; the others weigh their value (docs/billing.md: percentage).
        inputs["event_values"] = [Decimal(1) if metric.aggregation_type == "count_agg" else (r.value or Decimal(0))
                                  for r in mine]
    if pricing.EVENT_AMOUNTS_CENTS in needed:
        inputs["event_amounts_cents"] = [r.precise_total_amount_cents or Decimal(0) for r in mine]
    return inputs


def usage_between(session: Session, subscription: Subscription, start: datetime, end: datetime, *,
                  charts: bool = False) -> Usage:
    """The subscription's usage of [start, end), priced; with `charts`, each charge's bars per local day too.

    NOTE: every charge's events are read in one go (one statement on PostgreSQL), then priced one by one. The
    bars come from the same read: a charted charge's query is split at the customer's local midnights as a
    prorated charge's is (`UsageQuery.day_cuts`), which changes none of its totals. A day's unique count does not
    add up to the period's (a value seen on two days counts once): unique counts get no chart.
    """
    charges = subscription.plan.charges
    cuts = tuple(local_day_cuts(start, end, subscription.customer.applicable_timezone)) if charts else ()
    charted = {charge.id for charge in charges
               if charts and charge.billable_metric.aggregation_type != "unique_count_agg"}
    queries = []
    for charge in charges:
        days = _charge_days(subscription, charge, start, end)
        query = _usage_query(subscription, charge, start, end, days)
        queries.append(replace(query, day_cuts=cuts) if charge.id in charted and days is None else query)
    groups = event_store().subscription_usages(session, organization_id=subscription.organization_id,
                                               requests=[(subscription.external_id, query) for query in queries])
    usages = [charge_usage(session, subscription, charge, start, end, charge_groups)
              for charge, charge_groups in zip(charges, groups, strict=True)]
    bars = {charge.id: _chart(subscription, charge, start, len(cuts), charge_groups)
            for charge, charge_groups in zip(charges, groups, strict=True) if charge.id in charted}
    return Usage(subscription=subscription, from_datetime=start, to_datetime=end,
                 currency=subscription.plan.amount_currency, charges=usages, charts=bars)


def _chart(subscription: Subscription, charge: Charge, start: datetime, cuts_count: int,
           groups: Mapping[str, GroupUsage]) -> list[tuple[date, Decimal]]:
    """A charge's bars, from its groups read split by local day: events (count) or values summed (the others)."""
    first = local_date(start, subscription.customer.applicable_timezone)
    days = [first + timedelta(days=index) for index in range(cuts_count + 1)]
    counts = charge.billable_metric.aggregation_type == "count_agg"
    totals = [Decimal(0)] * len(days)
    for group in groups.values():
        for index, partial in group.days.items():
            totals[index] += Decimal(partial.events_count) if counts else partial.value_sum
    return list(zip(days, totals, strict=True))


def charges_usages(session: Session, reads: Sequence[tuple[Subscription, Charge, datetime, datetime]],
                   ) -> list[dict[str, GroupUsage]]:
    """The usage per filter group of each (subscription, charge, [start, end)), many subscriptions read together.

    For billing a batch: one statement per organization on PostgreSQL, and the same metric and range of
    several subscriptions read once for all of them (`usage.subscription_usages`). Each answer is what
    `charge_usage(..., groups=...)` takes.
    """
    indexes_of: dict[str, list[int]] = {}
    for index, (subscription, *_) in enumerate(reads):
        indexes_of.setdefault(subscription.organization_id, []).append(index)
    answers: list[dict[str, GroupUsage]] = [{} for _ in reads]
    for organization_id, indexes in indexes_of.items():
        requests = []
        for index in indexes:
            subscription, charge, start, end = reads[index]
            requests.append((subscription.external_id, _usage_query(
                subscription, charge, start, end, _charge_days(subscription, charge, start, end))))
        for index, groups in zip(indexes, event_store().subscription_usages(
                session, organization_id=organization_id, requests=requests), strict=True):
            answers[index] = groups
    return answers


# What usage reads of a subscription, in ONE statement: each selectin load was a round trip, and
# they were most of current_usage's time once its usage statement was cached. Usage neither reads
# nor shows taxes, so they are not loaded at all.
_CHARGES = joinedload(Subscription.plan).joinedload(Plan.charges)
USAGE_LOADING = (defaultload(Subscription.customer).lazyload(Customer.taxes),
                  joinedload(Subscription.plan).lazyload(Plan.taxes),
                  joinedload(Subscription.plan).lazyload(Plan.usage_thresholds),
                  _CHARGES.lazyload(Charge.taxes),
                  _CHARGES.joinedload(Charge.filters),
                  _CHARGES.joinedload(Charge.billable_metric).joinedload(BillableMetric.filters))


def _customer_subscription(session: Session, organization_id: str, external_customer_id: str,
                           external_subscription_id: str) -> Subscription:
    subscription = find_subscription(session, organization_id, external_subscription_id, USAGE_LOADING)
    if subscription is None or subscription.customer.external_id != external_customer_id:
        raise NotFound("subscription")
    return subscription


def current_usage(*, organization_id: str, external_customer_id: str, external_subscription_id: str) -> Usage:
    """Usage of the subscription's current billing period so far (not yet invoiced)."""
    with read_snapshot() as session:
        subscription = _customer_subscription(session, organization_id, external_customer_id,
                                              external_subscription_id)
        if subscription.status != "active":
            raise NotFound("subscription", "no_active_subscription")
        return usage_for_current_period(session, subscription)


def usage_for_current_period(session: Session, subscription: Subscription, *, charts: bool = False) -> Usage:
    period = current_charges_period(subscription)
    start = max(period.start, subscription.started_at or period.start)
    return usage_between(session, subscription, start, period.end, charts=charts)


def past_usage(*, organization_id: str, external_customer_id: str, external_subscription_id: str,
               billable_metric_code: str | None = None, periods_count: object = None) -> list[tuple[Usage, str]]:
    """Usage of the subscription's invoiced periods, newest first, as it was billed (one entry per invoice)."""
    check = Checker({"periods_count": periods_count})
    periods_count = check.integer("periods_count", minimum=1, maximum=MAX_PERIODS)
    check.done()
    with read_snapshot() as session:
        subscription = _customer_subscription(session, organization_id, external_customer_id,
                                              external_subscription_id)
        usages = []
        for usage, invoice_id in invoiced_usages(session, subscription, periods_count=periods_count or MAX_PERIODS):
            if billable_metric_code:
                usage = Usage(subscription=usage.subscription, from_datetime=usage.from_datetime,
                              to_datetime=usage.to_datetime, currency=usage.currency,
                              charges=[c for c in usage.charges
                                       if c.charge.billable_metric.code == billable_metric_code])
            usages.append((usage, invoice_id))
        return usages


def invoiced_usages(session: Session, subscription: Subscription, *, periods_count: int) -> list[tuple[Usage, str]]:
    """The usage of the subscription's last `periods_count` invoiced periods, newest first, each with its invoice
    (a voided invoice's period is not one): Lago's past_usage, and the portal's usage history."""
    links = session.scalars(select(InvoiceSubscription).join(Invoice).where(
        InvoiceSubscription.subscription_id == subscription.id, Invoice.status != "voided",
    ).order_by(InvoiceSubscription.from_datetime.desc()).limit(periods_count)).all()
    return [(usage_between(session, subscription, link.charges_from_datetime or link.from_datetime,
                           link.charges_to_datetime or link.to_datetime), link.invoice_id) for link in links]


@dataclass(frozen=True)
class ProjectedLine:
    line: UsageLine
    projected_units: Decimal
    projected_amount_cents: int


@dataclass(frozen=True)
class ProjectedCharge:
    usage: ChargeUsage
    lines: list[ProjectedLine]

    @property
    def projected_units(self) -> Decimal:
        return sum((line.projected_units for line in self.lines), Decimal(0))

    @property
    def projected_amount_cents(self) -> int:
        return sum(line.projected_amount_cents for line in self.lines)


@dataclass(frozen=True)
class ProjectedUsage:
    """The current period's usage so far and what it will be at its end at today's pace (Lago's projected usage)."""

    usage: Usage
    charges: list[ProjectedCharge]

    @property
    def projected_amount_cents(self) -> int:
        return sum(c.projected_amount_cents for c in self.charges)


def projected_usage(*, organization_id: str, external_customer_id: str,
                    external_subscription_id: str) -> ProjectedUsage:
    """Usage of the subscription's current period so far, each charge filter's line projected to the period's end
    at today's pace (`metering.projection`), priced by its own properties as the invoice will price it."""
    now = runtime.clock.now()
    usage = current_usage(organization_id=organization_id, external_customer_id=external_customer_id,
                          external_subscription_id=external_subscription_id)
    elapsed, period = now - usage.from_datetime, usage.to_datetime - usage.from_datetime
    charges = []
    for charge_usage in usage.charges:
        charge, metric = charge_usage.charge, charge_usage.charge.billable_metric
        lines = []
        for line in charge_usage.lines:
            units = projection.projected_units(line.units, aggregation_type=metric.aggregation_type,
                                               recurring=metric.recurring, elapsed=elapsed, period=period)
            amount = projection.projected_amount(
                charge_model=charge.charge_model,
                properties=line.charge_filter.properties if line.charge_filter else charge.properties,
                units=line.units, amount=line.amount, aggregation_type=metric.aggregation_type,
                recurring=metric.recurring, elapsed=elapsed, period=period, currency=usage.currency)
            lines.append(ProjectedLine(line=line, projected_units=units,
                                       projected_amount_cents=to_minor(amount, usage.currency)))
        charges.append(ProjectedCharge(usage=charge_usage, lines=lines))
    return ProjectedUsage(usage=usage, charges=charges)
