"""The catalog as the screens show it: billable metrics and plans as plain rows read in one session (the
`wording` package puts their prices in words). Nothing here writes; the catalog services do.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.catalog.models import BillableMetric, Charge, Plan
from billing.db import read_only
from billing.errors import NotFound
from billing.organizations.models import Organization
from billing.pagination import Page, paginate
from billing.pricing.prorated import MODELS as PRORATED_MODELS
from billing.subscriptions.models import LIVE_STATUSES, Subscription


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


@dataclass(frozen=True)
class ThresholdView:
    id: str
    amount_cents: int
    recurring: bool
    threshold_display_name: str | None


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
    usage_thresholds: tuple[ThresholdView, ...] = ()  # progressive billing: non-recurring by amount, then recurring

    @property
    def in_use(self) -> bool:
        return self.live_subscriptions > 0


def _live_plans(organization_id: str):
    return select(Plan).where(Plan.organization_id == organization_id, Plan.deleted_at.is_(None),
                              Plan.parent_id.is_(None))


def _live_subscription_counts(session: Session, plan_ids: list[str]) -> dict[str, int]:
    """Live subscriptions per plan; a subscription on an overridden (child) plan counts for its parent."""
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
                    charges=charges, live_subscriptions=live_subscriptions, created_at=plan.created_at,
                    usage_thresholds=tuple(ThresholdView(id=t.id, amount_cents=t.amount_cents, recurring=t.recurring,
                                                         threshold_display_name=t.threshold_display_name)
                                           for t in plan.usage_thresholds if t.deleted_at is None))


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


def default_currency(*, organization_id: str) -> str:
    """The organization's default currency (what a new plan starts with)."""
    with read_only() as session:
        return session.scalar(select(Organization.default_currency).where(Organization.id == organization_id)) or ""
