"""Fee estimates: what one event would add to a charge's fees (Lago's estimate_fees), and price differences."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing import pricing
from billing.catalog.models import Charge
from billing.db import (
    read_snapshot,
)
from billing.errors import NotFound, ValidationFailed
from billing.metering.aggregation import (
    Fact,
    GroupUsage,
    MetricSpec,
    Partial,
    UniqueTally,
    daily_units,
)
from billing.metering.aggregation import units as aggregated_units
from billing.metering.facts import derive, metric_reading
from billing.metering.period_usage import (
    ProrationDays,
    filter_of,
    hypothetical_input,
    is_prorated,
    metric_spec,
    per_event_inputs,
    proration_days,
    usage_by_filter,
)
from billing.metering.services import MAX_BATCH, parse_event
from billing.money import to_minor
from billing.pricing import prorated as prorated_pricing
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import (
    current_period,
)
from billing.subscriptions.services import find_subscription


@dataclass(frozen=True)
class FeeEstimate:
    charge: Charge
    subscription: Subscription
    units: Decimal
    amount_cents: int
    unit_amount: Decimal
    events_count: int
    transaction_id: str | None = None


# NOTE: Lago's instant estimates cover the pay-in-advance charges of these models only
# (lago-api Fees::EstimateInstant::PayInAdvanceService).
INSTANT_CHARGE_MODELS = frozenset({"standard", "percentage"})


def estimate_instant_fees(*, organization_id: str, raw_events: object) -> list[FeeEstimate]:
    """Lago's instant estimates: what each event would add now to its pay-in-advance standard or percentage charges.

    Events are sent without a timestamp (they happen now) and may omit `transaction_id`; a batch is all or nothing
    (at most MAX_BATCH events, errors keyed by the event's index). Nothing is stored.
    """
    if not isinstance(raw_events, list) or not raw_events:
        raise ValidationFailed({"events": ["no_events"]})
    if len(raw_events) > MAX_BATCH:
        raise ValidationFailed({"events": ["too_many_events"]})
    estimates: list[FeeEstimate] = []
    errors: dict[str, object] = {}
    for index, raw in enumerate(raw_events):
        if not isinstance(raw, Mapping):
            errors[str(index)] = {"event": ["invalid_type"]}
            continue
        event = {**raw, "timestamp": None, "transaction_id": raw.get("transaction_id") or str(uuid.uuid4())}
        try:
            estimates.extend(estimate_fees(organization_id=organization_id, raw_event=event, instant=True))
        except ValidationFailed as failure:  # an unknown subscription is a 404, as Lago's
            errors[str(index)] = failure.details
    if errors:
        raise ValidationFailed(errors)
    return estimates


def estimate_fees(*, organization_id: str, raw_event: object, instant: bool = False) -> list[FeeEstimate]:
    """What one more event would add to the current period's fees, per charge of its metric (nothing is stored).

    The estimate is the difference the event makes: price(units with it) − price(units without it),
    so graduated or package pricing and the period's usage so far are taken into account.
    """
    event, reasons = parse_event(raw_event)
    if reasons:
        raise ValidationFailed(reasons)
    with read_snapshot() as session:
        subscription = find_subscription(session, organization_id, event.external_subscription_id)
        if subscription is None or subscription.status != "active":
            raise NotFound("subscription")
        charges = [c for c in subscription.plan.charges if c.billable_metric.code == event.code]
        if instant:
            charges = [c for c in charges if c.pay_in_advance and c.charge_model in INSTANT_CHARGE_MODELS]
            if not charges:
                raise ValidationFailed({"code": ["does_not_match_an_instant_charge"]})
        if not charges:
            raise NotFound("charge")
        period = current_period(subscription, event.timestamp)
        start = max(period.start, subscription.started_at)
        currency = subscription.plan.amount_currency
        estimates = []
        for charge in charges:
            metric = charge.billable_metric
            spec = metric_spec(metric)
            days = proration_days(subscription, start, period.end) if is_prorated(charge) else None
            fact = derive(metric_reading(metric), code=event.code, properties=event.properties,
                          timestamp=event.timestamp)
            group = usage_by_filter(session, subscription, charge, start, period.end, days)[
                filter_of(charge, fact.group_key)]
            charge_filter = next((f for f in charge.filters if f.id == filter_of(charge, fact.group_key)), None)
            properties = charge_filter.properties if charge_filter else charge.properties
            inputs = {} if days is not None else per_event_inputs(
                session, subscription, charge, charge_filter, properties, start, period.end)
            hypothetical = Fact(id=2**62, timestamp=event.timestamp, value=fact.value, unique_value=fact.unique_value,
                                operation=fact.operation, group_key=fact.group_key)
            difference = price_difference(
                charge_model=charge.charge_model, spec=spec, properties=properties, group=group, fact=hypothetical,
                start=start, end=period.end, currency=currency, days=days, inputs=inputs,
                event_inputs={name: hypothetical_input(name, metric, fact, event) for name in inputs})
            estimates.append(FeeEstimate(
                charge=charge, subscription=subscription, units=difference.units,
                amount_cents=difference.amount_cents, unit_amount=difference.unit_amount, events_count=1,
                transaction_id=event.transaction_id))
        return estimates


@dataclass(frozen=True)
class PriceDifference:
    units: Decimal
    amount_cents: int
    unit_amount: Decimal


def price_difference(*, charge_model: str, spec: MetricSpec, properties: Mapping[str, object], group: GroupUsage,
                     fact: Fact, start: datetime, end: datetime, currency: str, days: ProrationDays | None = None,
                     inputs: Mapping[str, list[Decimal]] | None = None,
                     event_inputs: Mapping[str, Decimal] | None = None,
                     paid_units: Decimal | None = None) -> PriceDifference:
    """What one event adds to a charge's price over [start, end): price(usage + event) − price(usage). Pure.

    `group`: the usage without the event (left unchanged); `inputs`: the per-event data of the
    models that price events one by one, without the event, and `event_inputs` the event's own.
    Each price is rounded once to the minor unit before the difference (docs/billing.md).
    Used for fee estimates and for pay-in-advance fees (billing.invoicing.advance).
    `paid_units`: the units paid for already (a pay-in-advance charge's highest total of the period):
    units below it are not billed again, so an event only bills what it raises the total above it.
    """
    with_event = GroupUsage()
    with_event.merge(group)
    with_event.during.add(fact)
    day = days.day_of(fact.timestamp) if days is not None else None
    if day is not None:
        with_event.days.setdefault(day, Partial()).add(fact)
    if fact.unique_value is not None:
        with_event.unique_during.setdefault(fact.unique_value, UniqueTally()).add(fact)
        if day is not None:
            with_event.unique_days.setdefault(day, {}).setdefault(fact.unique_value, UniqueTally()).add(fact)
    units_before = aggregated_units(spec, group, start, end)
    units_after = aggregated_units(spec, with_event, start, end)
    if paid_units is not None:
        units_before, units_after = max(units_before, paid_units), max(units_after, paid_units)
    if days is not None:
        before = prorated_pricing.price(charge_model, daily_units(spec, group, days.days), units_before,
                                        days.period_days, properties)
        after = prorated_pricing.price(charge_model, daily_units(spec, with_event, days.days), units_after,
                                       days.period_days, properties)
    else:
        inputs = dict(inputs or {})
        with_inputs = {name: [*values, (event_inputs or {})[name]] for name, values in inputs.items()}
        before = pricing.price(charge_model, units_before, properties, currency=currency, **inputs)
        after = pricing.price(charge_model, units_after, properties, currency=currency, **with_inputs)
    return PriceDifference(units=units_after - units_before,
                           amount_cents=to_minor(after.amount, currency) - to_minor(before.amount, currency),
                           unit_amount=after.unit_amount)
