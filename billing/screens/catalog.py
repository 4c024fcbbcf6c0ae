"""The catalog as the screens show it: billable metrics and plans as plain rows read in one session,
and prices in plain words (`describe_charge`,
`describe_fee`, shared by admin and portal). Nothing here writes; the catalog services do.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from babel.numbers import format_currency, format_decimal
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.catalog.models import BillableMetric, Charge, Plan
from billing.db import read_only
from billing.errors import NotFound
from billing.money import format_money, parse_decimal
from billing.organizations.models import Organization
from billing.pagination import Page, paginate
from billing.pricing.prorated import MODELS as PRORATED_MODELS


@dataclass(frozen=True)
class MetricRow:
    id: str
    name: str
    code: str
    description: str | None
    aggregation_type: str
    field_name: str | None
    expression: str | None
    recurring: bool
    rounding_function: str | None
    rounding_precision: int | None
    filters: tuple[tuple[str, tuple[str, ...]], ...]  # (property key, allowed values)
    plan_codes: tuple[str, ...]  # plans with a charge on this metric: it is "in use"
    created_at: datetime

    @property
    def in_use(self) -> bool:
        return bool(self.plan_codes)

    @property
    def filters_text(self) -> str:
        """The filters as the form writes them: `key: value1, value2`, one per line."""
        return "\n".join(f"{key}: {', '.join(values)}" for key, values in self.filters)


def _live_metrics(organization_id: str):
    return select(BillableMetric).where(BillableMetric.organization_id == organization_id,
                                        BillableMetric.deleted_at.is_(None))


def _plan_codes(session: Session, metric_ids: list[str]) -> dict[str, tuple[str, ...]]:
    """Per metric, the codes of the plans whose live charges use it (overrides count as their plan)."""
    if not metric_ids:
        return {}
    rows = session.execute(
        select(Charge.billable_metric_id, Plan.code).join(Plan, Charge.plan_id == Plan.id)
        .where(Charge.billable_metric_id.in_(metric_ids), Charge.deleted_at.is_(None))
        .group_by(Charge.billable_metric_id, Plan.code).order_by(Plan.code))
    codes: dict[str, list[str]] = {}
    for metric_id, code in rows:
        codes.setdefault(metric_id, []).append(code)
    return {metric_id: tuple(found) for metric_id, found in codes.items()}


def _row(metric: BillableMetric, plan_codes: tuple[str, ...]) -> MetricRow:
    return MetricRow(
        id=metric.id, name=metric.name, code=metric.code, description=metric.description,
        aggregation_type=metric.aggregation_type, field_name=metric.field_name, expression=metric.expression,
        recurring=bool(metric.recurring), rounding_function=metric.rounding_function,
        rounding_precision=metric.rounding_precision,
        filters=tuple((f.key, tuple(str(v) for v in f.values)) for f in metric.filters),
        plan_codes=plan_codes, created_at=metric.created_at)


def metric_rows(*, organization_id: str, page: int = 1, per_page: int = 25) -> Page:
    """The organization's billable metrics, by name, as `MetricRow`s."""
    with read_only() as session:
        query = _live_metrics(organization_id).order_by(func.lower(BillableMetric.name), BillableMetric.code)
        found = paginate(session, query, page=page, per_page=per_page)
        plans = _plan_codes(session, [m.id for m in found.items])
        rows = [_row(m, plans.get(m.id, ())) for m in found.items]
    return Page(items=rows, current_page=found.current_page, per_page=found.per_page, total_count=found.total_count)


def metric_row(*, organization_id: str, code: str) -> MetricRow:
    """One metric of the organization; NotFound for another organization's, or a deleted one."""
    with read_only() as session:
        metric = session.scalar(_live_metrics(organization_id).where(BillableMetric.code == code))
        if metric is None:
            raise NotFound("billable_metric")
        return _row(metric, _plan_codes(session, [metric.id]).get(metric.id, ()))


def metric_codes(*, organization_id: str) -> list[str]:
    with read_only() as session:
        return list(session.scalars(_live_metrics(organization_id).with_only_columns(BillableMetric.code)
                                    .order_by(BillableMetric.code)))


# ---------------------------------------------------------------- plans as the screens show them


@dataclass(frozen=True)
class MetricOption:
    """A metric a charge may price, with its filter keys and values (for the charge filters editor)."""

    id: str
    code: str
    name: str
    aggregation_type: str
    filters: tuple[tuple[str, tuple[str, ...]], ...]
    recurring: bool = False

    def can_be_prorated(self, charge_model: str) -> bool:
        """Lago's rule (catalog.services.can_be_prorated): recurring, not weighted_sum, standard/graduated/volume."""
        return self.recurring and self.aggregation_type != "weighted_sum_agg" and charge_model in PRORATED_MODELS


@dataclass(frozen=True)
class ChargeFilterView:
    values: dict[str, list[str]]
    properties: dict[str, object]
    invoice_display_name: str | None

    @property
    def label(self) -> str:
        return self.invoice_display_name or " · ".join(
            f"{key}: {', '.join(values)}" for key, values in sorted(self.values.items()))


@dataclass(frozen=True)
class ChargeView:
    id: str
    parent_id: str | None  # the base plan's charge, for a charge of a subscription's overridden plan
    billable_metric_id: str
    metric_code: str
    metric_name: str
    charge_model: str
    properties: dict[str, object]
    filters: tuple[ChargeFilterView, ...]
    min_amount_cents: int
    invoiceable: bool
    pay_in_advance: bool
    invoice_display_name: str | None
    prorated: bool = False

    @property
    def name(self) -> str:
        return self.invoice_display_name or self.metric_name

    def describe(self, currency: str, interval: str | None = None) -> str:
        return describe_charge({"charge_model": self.charge_model, "properties": self.properties,
                                "min_amount_cents": self.min_amount_cents, "prorated": self.prorated},
                               currency, self.metric_name, interval=interval)

    def describe_filters(self, currency: str) -> list[tuple[str, str]]:
        """(label, price in words) per filter of the charge."""
        return [(f.label, describe_charge({"charge_model": self.charge_model, "properties": f.properties,
                                           "prorated": self.prorated}, currency, self.metric_name))
                for f in self.filters]


@dataclass(frozen=True)
class PlanView:
    id: str
    parent_id: str | None  # set on a subscription's overridden (child) plan
    code: str
    name: str
    invoice_display_name: str | None
    description: str | None
    interval: str
    amount_cents: int
    currency: str
    pay_in_advance: bool
    trial_period: Decimal
    charges: tuple[ChargeView, ...]
    live_subscriptions: int
    created_at: datetime
    overridden_subscriptions: int = 0  # live subscriptions on an overridden (child) copy of this plan

    @property
    def in_use(self) -> bool:
        return self.live_subscriptions > 0

    @property
    def fee_text(self) -> str:
        return describe_fee(amount_cents=self.amount_cents, currency=self.currency, interval=self.interval,
                            pay_in_advance=self.pay_in_advance)


def _live_plans(organization_id: str):
    return select(Plan).where(Plan.organization_id == organization_id, Plan.deleted_at.is_(None),
                              Plan.parent_id.is_(None))


def _live_subscription_counts(session: Session, plan_ids: list[str]) -> dict[str, int]:
    """Live subscriptions per plan; a subscription on an overridden (child) plan counts for its parent."""
    from billing.subscriptions.models import LIVE_STATUSES, Subscription

    if not plan_ids:
        return {}
    base = func.coalesce(Plan.parent_id, Plan.id)
    rows = session.execute(
        select(base, func.count(Subscription.id)).join(Plan, Subscription.plan_id == Plan.id)
        .where(base.in_(plan_ids), Subscription.status.in_(LIVE_STATUSES)).group_by(base))
    return {plan_id: count for plan_id, count in rows}


def plan_view_of(plan: Plan, live_subscriptions: int = 0) -> PlanView:
    """A loaded plan (with its charges) as plain data."""
    charges = tuple(
        ChargeView(id=c.id, parent_id=c.parent_id, billable_metric_id=c.billable_metric_id,
                   metric_code=c.billable_metric.code, metric_name=c.billable_metric.name,
                   charge_model=c.charge_model, properties=copy.deepcopy(dict(c.properties or {})),
                   filters=tuple(ChargeFilterView(values=copy.deepcopy(dict(f.values or {})),
                                                  properties=copy.deepcopy(dict(f.properties or {})),
                                                  invoice_display_name=f.invoice_display_name) for f in c.filters),
                   min_amount_cents=c.min_amount_cents or 0, invoiceable=bool(c.invoiceable),
                   pay_in_advance=bool(c.pay_in_advance), invoice_display_name=c.invoice_display_name,
                   prorated=bool(c.prorated))
        for c in plan.charges)
    return PlanView(id=plan.id, parent_id=plan.parent_id, code=plan.code, name=plan.name,
                    invoice_display_name=plan.invoice_display_name, description=plan.description,
                    interval=plan.interval, amount_cents=plan.amount_cents, currency=plan.amount_currency,
                    pay_in_advance=bool(plan.pay_in_advance), trial_period=Decimal(plan.trial_period or 0),
                    charges=charges, live_subscriptions=live_subscriptions, created_at=plan.created_at)


def plan_rows(*, organization_id: str, page: int = 1, per_page: int = 25) -> Page:
    """The organization's plans (not the subscriptions' overridden copies), by name, as `PlanView`s."""
    with read_only() as session:
        query = _live_plans(organization_id).order_by(func.lower(Plan.name), Plan.code)
        found = paginate(session, query, page=page, per_page=per_page)
        counts = _live_subscription_counts(session, [p.id for p in found.items])
        rows = [plan_view_of(p, counts.get(p.id, 0)) for p in found.items]
    return Page(items=rows, current_page=found.current_page, per_page=found.per_page, total_count=found.total_count)


def plan_view(*, organization_id: str, code: str) -> PlanView:
    """One plan of the organization; NotFound for another organization's, or a deleted one."""
    with read_only() as session:
        plan = session.scalar(_live_plans(organization_id).where(Plan.code == code))
        if plan is None:
            raise NotFound("plan")
        view = plan_view_of(plan, _live_subscription_counts(session, [plan.id]).get(plan.id, 0))
        return replace(view, overridden_subscriptions=_overridden_subscription_count(session, plan.id))


def _overridden_subscription_count(session: Session, plan_id: str) -> int:
    """Live subscriptions whose plan is an overridden copy of the plan (what a cascaded edit reaches)."""
    from billing.subscriptions.models import LIVE_STATUSES, Subscription

    return session.scalar(select(func.count(Subscription.id)).join(Plan, Subscription.plan_id == Plan.id)
                          .where(Plan.parent_id == plan_id, Subscription.status.in_(LIVE_STATUSES))) or 0


def plan_options(*, organization_id: str) -> list[PlanView]:
    """Every plan of the organization, by name (for a plan select)."""
    with read_only() as session:
        plans = session.scalars(_live_plans(organization_id).order_by(func.lower(Plan.name), Plan.code))
        return [plan_view_of(p) for p in plans]


def metric_options(*, organization_id: str) -> list[MetricOption]:
    """The metrics a charge may price, by name."""
    with read_only() as session:
        metrics = session.scalars(_live_metrics(organization_id).order_by(func.lower(BillableMetric.name),
                                                                          BillableMetric.code))
        return [MetricOption(id=m.id, code=m.code, name=m.name, aggregation_type=m.aggregation_type,
                             filters=tuple((f.key, tuple(str(v) for v in f.values)) for f in m.filters),
                             recurring=bool(m.recurring))
                for m in metrics]


# ---------------------------------------------------------------- prices in plain words

PER_INTERVAL = {"weekly": "week", "monthly": "month", "quarterly": "quarter", "semiannual": "half-year",
                "yearly": "year"}
LOCALE = "en_US"


def price_text(amount: Decimal, currency: str) -> str:
    """A price with all its digits and at least the currency's: "€0.005", "€5.00", "¥5"."""
    # NOTE: babel rounds to the currency's minor unit unless told not to (billing.money.format_price
    # does, so €0.005 reads "€0.00" there): a unit price is an exact decimal (house rule 1).
    return format_currency(amount, currency, locale=LOCALE, decimal_quantization=False)


def default_currency(*, organization_id: str) -> str:
    """The organization's default currency (what a new plan starts with)."""
    with read_only() as session:
        return session.scalar(select(Organization.default_currency).where(Organization.id == organization_id)) or ""


def describe_fee(*, amount_cents: int, currency: str, interval: str, pay_in_advance: bool) -> str:
    """The subscription fee in words: "€29.00 per month, billed in advance"."""
    period = PER_INTERVAL.get(interval, interval)
    if not amount_cents:
        return "No subscription fee"
    when = "in advance" if pay_in_advance else f"at the end of the {period}"
    return f"{format_money(amount_cents, currency, LOCALE)} per {period}, billed {when}"


def describe_charge(charge: Mapping[str, object], currency: str, metric_name: str, *,
                    interval: str | None = None) -> str:
    """A charge's price in plain words, e.g. "First 1,000 API calls free, then €0.01 each".

    `charge` is Lago-shaped (`charge_model`, `properties`, optional `min_amount_cents` and `prorated`);
    amounts are shown exactly (no rounding to the currency's minor unit: unit prices may be finer).
    """
    model = str(charge.get("charge_model") or "")
    properties = charge.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    words = _Words(currency, metric_name)
    try:
        text = _DESCRIBERS[model](words, properties)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        text = f"Priced by the {model.replace('_', ' ') or 'unknown'} model"
    minimum = charge.get("min_amount_cents")
    if isinstance(minimum, int) and not isinstance(minimum, bool) and minimum > 0:
        per = PER_INTERVAL.get(interval or "", "billing period")
        text += f"; at least {format_money(minimum, currency, LOCALE)} per {per}"
    if charge.get("prorated") is True:
        text += f", prorated: each {words.one} is billed for the days it is held in the period"
    return text[:1].upper() + text[1:]


class _Words:
    """Numbers, prices and the metric's name as a countable noun, for one currency and one metric."""

    def __init__(self, currency: str, metric_name: str):
        self.currency = currency
        name = " ".join((metric_name or "").split())
        if len(name) > 1 and name[0].isupper() and name[1].islower():
            name = name[0].lower() + name[1:]  # "Storage" -> "storage", "API calls" stays
        self.name = name or "units"
        last = name.rsplit(" ", 1)[-1]
        if name.isupper() and " " not in name:
            self.many = self.one = name  # a unit of measure: "GB", "TB"
        elif len(last) > 2 and last.endswith("s") and not last.endswith("ss"):
            self.many, self.one = name, name[:-1]  # "API calls" / "API call"
        elif name:
            self.many, self.one = f"units of {name}", f"unit of {name}"
        else:
            self.many, self.one = "units", "unit"

    def money(self, amount: Decimal) -> str:
        return price_text(amount, self.currency)

    @staticmethod
    def number(value: Decimal | int) -> str:
        return format_decimal(value, locale=LOCALE, decimal_quantization=False)

    def percent(self, rate: Decimal) -> str:
        return f"{self.number(rate)}%"

    def count(self, value: Decimal | int, *, one: str | None = None, many: str | None = None) -> str:
        one, many = one or self.one, many or self.many
        return f"{self.number(value)} {many}" if value != 1 else one

    def first(self, value: Decimal | int, *, one: str | None = None, many: str | None = None) -> str:
        """ "first 1,000 API calls", "first API call" """
        return f"first {self.count(value, one=one, many=many)}"


def _amount(properties: Mapping[str, object], key: str) -> Decimal:
    value = parse_decimal(properties.get(key, 0) if properties.get(key) is not None else 0)
    if value is None or isinstance(properties.get(key), bool | float):
        raise ValueError(key)
    return value


def _tiers(properties: Mapping[str, object], key: str, price_key: str) -> list[tuple[Decimal, Decimal | None,
                                                                                       Decimal, Decimal]]:
    """(from, to or None, price, flat) per range."""
    ranges = properties[key]
    if not isinstance(ranges, list) or not ranges:
        raise ValueError(key)
    tiers = []
    for item in ranges:
        to = None if item.get("to_value") is None else _amount(item, "to_value")
        tiers.append((_amount(item, "from_value"), to, _amount(item, price_key), _amount(item, "flat_amount")))
    return tiers


def _plus_flat(words: _Words, flat: Decimal) -> str:
    return f" + {words.money(flat)} flat" if flat else ""


def _standard(words: _Words, properties: Mapping[str, object]) -> str:
    amount = _amount(properties, "amount")
    return f"{words.money(amount)} per {words.one}" if amount else f"{words.many} are free"


def _package(words: _Words, properties: Mapping[str, object]) -> str:
    amount, size = _amount(properties, "amount"), _amount(properties, "package_size")
    free = _amount(properties, "free_units")
    text = f"{words.money(amount)} per {words.one if size == 1 else words.count(size)}"
    if free:
        text += f" (first {words.number(free)} free)"
    return text


def _graduated(words: _Words, properties: Mapping[str, object]) -> str:
    tiers = _tiers(properties, "graduated_ranges", "per_unit_amount")
    if len(tiers) == 1:
        _from, _to, price, flat = tiers[0]
        if not price and not flat:
            return f"{words.many} are free"
        each = f"{words.money(price)} per {words.one}" if price else ""
        return (each + _plus_flat(words, flat)) if each else f"{words.money(flat)} flat"

    def cost(price: Decimal, flat: Decimal, *, at: bool) -> str:
        if not price and not flat:
            return "free"
        if not price:
            return f"{words.money(flat)} flat"
        return ("at " if at else "") + f"{words.money(price)} each" + _plus_flat(words, flat)

    first_to = tiers[0][1]
    parts = [f"{words.first(first_to)} {cost(*tiers[0][2:], at=True)}"]
    for _from, to, price, flat in tiers[1:]:
        part = f"then {cost(price, flat, at=False)}"
        parts.append(part if to is None else f"{part} up to {words.number(to)}")
    return ", ".join(parts)


def _volume(words: _Words, properties: Mapping[str, object]) -> str:
    tiers = _tiers(properties, "volume_ranges", "per_unit_amount")

    def cost(price: Decimal, flat: Decimal) -> str:
        if not price and not flat:
            return "free"
        if not price:
            return f"{words.money(flat)} flat"
        return f"{words.money(price)} per {words.one}" + _plus_flat(words, flat)

    if len(tiers) == 1:
        return cost(*tiers[0][2:]) if any(tiers[0][2:]) else f"{words.many} are free"
    parts = [f"{cost(*tiers[0][2:])} up to {words.number(tiers[0][1])}"]
    lower = tiers[0][1]
    for _from, to, price, flat in tiers[1:]:
        upper = "" if to is None else f" up to {words.number(to)}"
        parts.append(f"{cost(price, flat)} for all {words.many} above {words.number(lower)}{upper}")
        lower = to
    return "; ".join(parts)


def _graduated_percentage(words: _Words, properties: Mapping[str, object]) -> str:
    tiers = _tiers(properties, "graduated_percentage_ranges", "rate")
    _from, first_to, rate, flat = tiers[0]
    text = f"{words.percent(rate)}{_plus_flat(words, flat)} of {words.name}"
    if len(tiers) == 1:
        return text
    parts = [f"{text} up to {words.number(first_to)}"]
    lower = first_to
    for _from, to, rate, flat in tiers[1:]:
        upper = f" above {words.number(lower)}" if to is None else f" up to {words.number(to)}"
        parts.append(f"then {words.percent(rate)}{_plus_flat(words, flat)}{upper}")
        lower = to
    return ", ".join(parts)


def _percentage(words: _Words, properties: Mapping[str, object]) -> str:
    text = f"{words.percent(_amount(properties, 'rate'))} of {words.name}"
    fixed = _amount(properties, "fixed_amount")
    if fixed:
        text += f" + {words.money(fixed)} per transaction"
    free_events = _amount(properties, "free_units_per_events")
    free_total = _amount(properties, "free_units_per_total_aggregation")
    if free_events:
        free = f"{words.first(free_events, one='transaction', many='transactions')} free"
        text += f" ({free}, up to {words.number(free_total)})" if free_total else f" ({free})"
    elif free_total:
        text += f" (first {words.number(free_total)} free)"
    minimum = properties.get("per_transaction_min_amount")
    maximum = properties.get("per_transaction_max_amount")
    limits = ([f"min {words.money(_amount(properties, 'per_transaction_min_amount'))}"] if minimum is not None else [])
    limits += [f"max {words.money(_amount(properties, 'per_transaction_max_amount'))}"] if maximum is not None else []
    if limits:
        text += f", {', '.join(limits)} per transaction"
    return text


def _dynamic(words: _Words, properties: Mapping[str, object]) -> str:
    return "priced per event by the amount sent"


_DESCRIBERS = {"standard": _standard, "package": _package, "graduated": _graduated, "volume": _volume,
               "graduated_percentage": _graduated_percentage, "percentage": _percentage, "dynamic": _dynamic}
