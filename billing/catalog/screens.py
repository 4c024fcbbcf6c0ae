"""Billable metrics as the admin screens show them: plain rows read in one session, and a dry run of
an expression on a sample event. Nothing here writes; the catalog services do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.catalog.models import BillableMetric, Charge, Plan
from billing.db import read_only
from billing.errors import NotFound
from billing.metering.aggregation import epoch_seconds
from billing.metering.expression import ExpressionError, parse_expression
from billing.money import decimal_str
from billing.pagination import Page, paginate

MAX_SAMPLE_LENGTH = 10_000


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


# ---------------------------------------------------------------- trying an expression


@dataclass(frozen=True)
class ExpressionTrial:
    """What an expression makes of one sample event: a value, or why it cannot say.

    `problem` is an ExpressionError code (invalid_expression, missing_property, not_a_number, ...),
    or one of the sample's own: no_expression, invalid_json, not_an_object, sample_too_long.
    """

    value: str | None = None
    kind: str | None = None  # number | text | boolean
    problem: str | None = None
    detail: str | None = None  # the property or operand named, or the parser's message
    position: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def try_expression(*, expression: str, sample_properties: str, code: str, at: datetime) -> ExpressionTrial:
    """Evaluate `expression` on an event with these JSON properties, sent at `at`; never raises for bad input."""
    expression = (expression or "").strip()
    if not expression:
        return ExpressionTrial(problem="no_expression")
    try:
        parsed = parse_expression(expression)
    except ExpressionError as failure:
        return ExpressionTrial(problem=failure.code, detail=_reason(failure), position=failure.position)
    properties, problem = _sample(sample_properties)
    if problem is not None:
        return problem
    try:
        value = parsed.evaluate(properties=properties, timestamp=epoch_seconds(at), code=code or None)
    except ExpressionError as failure:
        return ExpressionTrial(problem=failure.code, detail=failure.detail or _reason(failure),
                               position=failure.position)
    if isinstance(value, bool):
        return ExpressionTrial(value="true" if value else "false", kind="boolean")
    if isinstance(value, Decimal):
        return ExpressionTrial(value=decimal_str(value), kind="number")
    return ExpressionTrial(value=str(value), kind="text")


def _sample(text: str) -> tuple[Mapping[str, object], ExpressionTrial | None]:
    text = (text or "").strip() or "{}"
    if len(text) > MAX_SAMPLE_LENGTH:
        return {}, ExpressionTrial(problem="sample_too_long")
    try:
        properties = json.loads(text)
    except json.JSONDecodeError as failure:
        return {}, ExpressionTrial(problem="invalid_json", detail=f"line {failure.lineno}, column {failure.colno}")
    except (ValueError, RecursionError):
        return {}, ExpressionTrial(problem="invalid_json")
    if not isinstance(properties, dict):
        return {}, ExpressionTrial(problem="not_an_object")
    return properties, None


def _reason(failure: ExpressionError) -> str:
    """The parser's message without its leading code (`invalid_expression: ...`)."""
    message = failure.message
    prefix = f"{failure.code}: "
    return message[len(prefix):] if message.startswith(prefix) else message
