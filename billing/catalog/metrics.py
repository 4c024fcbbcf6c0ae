"""Billable metrics: create, update, read, delete; a change of how events are derived re-derives them."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, joinedload, selectinload

from billing.audit.services import record
from billing.catalog.models import BillableMetric, BillableMetricFilter, Charge
from billing.db import read_only, unit_of_work, utcnow
from billing.errors import NotFound, ValidationFailed
from billing.metering.aggregation import AGGREGATIONS, NEEDS_FIELD, RECURRING_AGGREGATIONS
from billing.metering.expression import ExpressionError, Value, parse_expression
from billing.metering.rollups import rederive_metric_events, request_rollup
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.validation import MAX_STRING, Checker, parse_datetime


def _metric_query(organization_id: str):
    return (select(BillableMetric)
            .where(BillableMetric.organization_id == organization_id, BillableMetric.deleted_at.is_(None))
            .options(selectinload(BillableMetric.filters)))


def find_metric(session: Session, organization_id: str, code: str) -> BillableMetric | None:
    return session.scalar(_metric_query(organization_id).where(BillableMetric.code == code))


def _get_metric_in(session: Session, organization_id: str, code: str) -> BillableMetric:
    metric = find_metric(session, organization_id, code)
    if metric is None:
        raise NotFound("billable_metric")
    return metric


def _metric_in_use(session: Session, metric: BillableMetric) -> bool:
    return bool(session.scalar(select(exists().where(Charge.billable_metric_id == metric.id,
                                                      Charge.deleted_at.is_(None)))))


_DERIVATION_FIELDS = ("aggregation_type", "field_name", "expression", "filters")


def _apply_metric(session: Session, metric: BillableMetric, data: Mapping[str, object], *, creating: bool,
                  nulls_clear: bool = False) -> bool:
    """Validate and apply `data`; True when what the metric makes of its events changed.

    API.md: in the API an explicit null means "not sent" (the client sends them) and "" clears a
    field; a full form (admin) sends every field, so there a null clears too (`nulls_clear`).
    """
    check = Checker(data)

    def sent(field: str) -> bool:
        return field in data and (nulls_clear or data[field] is not None)

    name = check.string("name", required=creating)
    code = check.string("code", required=creating)
    description = check.text("description")
    aggregation_type = check.choice("aggregation_type", AGGREGATIONS, required=creating)
    field_name = check.string("field_name")
    expression = check.string("expression", max_length=1000)
    recurring = check.boolean("recurring")
    weighted_interval = check.choice("weighted_interval", ("seconds",))
    rounding_function = check.choice("rounding_function", ("round", "ceil", "floor"))
    rounding_precision = check.integer("rounding_precision", minimum=None)
    if rounding_precision is not None and not -15 <= rounding_precision <= 15:
        check.fail("rounding_precision", "value_is_out_of_range")
    filters = data.get("filters")
    if filters is not None and not (isinstance(filters, list) and all(
            isinstance(f, Mapping) and isinstance(f.get("key"), str) and f.get("key")
            and isinstance(f.get("values"), list) and f["values"] and all(isinstance(v, str) for v in f["values"])
            for f in filters) and len({f["key"] for f in filters}) == len(filters)):
        check.fail("filters", "invalid_format")
    elif filters is not None and any(len(text) > MAX_STRING for f in filters for text in (f["key"], *f["values"])):
        check.fail("filters", "value_is_too_long")

    def effective(field: str):
        return data[field] if sent(field) else getattr(metric, field)

    kind = aggregation_type or metric.aggregation_type
    has_expression = bool(expression if sent("expression") else metric.expression)
    if expression:
        try:
            parse_expression(expression)
        except ExpressionError:
            check.fail("expression", "invalid_expression")
    # NOTE: Lago's rules: count needs no field and takes no expression; the others aggregate a
    # field or an expression; only sum, unique count, weighted sum (and custom) may be recurring.
    if kind == "count_agg" and has_expression:
        check.fail("expression", "not_compatible_with_aggregation_type")
    if kind in NEEDS_FIELD and not effective("field_name") and not has_expression:
        check.fail("field_name", "value_is_mandatory")
    if kind == "custom_agg" and not has_expression:
        check.fail("expression", "value_is_mandatory")
    if kind == "weighted_sum_agg" and not (weighted_interval or metric.weighted_interval):
        weighted_interval = "seconds"  # Lago's only interval, and its default
    if (recurring if recurring is not None else metric.recurring) and kind not in RECURRING_AGGREGATIONS:
        check.fail("recurring", "not_compatible_with_aggregation_type")
    if code and code != metric.code:
        clash = find_metric(session, metric.organization_id, code)
        if clash is not None and clash.id != metric.id:
            check.fail("code", "value_already_exist")
    if not creating and _metric_in_use(session, metric):
        # NOTE: Lago refuses to change how a metric in use by a plan aggregates; its name,
        # description, rounding and filters may still change. An empty string clears a field.
        for field in ("code", "aggregation_type", "field_name", "expression", "recurring"):
            if sent(field) and (None if data[field] == "" else data[field]) != getattr(metric, field):
                check.fail(field, "billable_metric_in_use")
    check.done()
    before = (metric.aggregation_type, metric.field_name, metric.expression,
              sorted((f.key, tuple(f.values)) for f in metric.filters))
    for field, value in (("name", name), ("code", code), ("aggregation_type", aggregation_type),
                         ("recurring", recurring), ("weighted_interval", weighted_interval)):
        if value is not None:
            setattr(metric, field, value)
    for field, value in (("description", description), ("rounding_function", rounding_function),
                         ("rounding_precision", rounding_precision), ("field_name", field_name),
                         ("expression", expression)):
        if sent(field):
            setattr(metric, field, value)
    if metric.aggregation_type == "count_agg":
        metric.field_name = None
    if metric.aggregation_type != "weighted_sum_agg":
        metric.weighted_interval = None
    if filters is not None:
        metric.filters = [BillableMetricFilter(key=f["key"], values=list(dict.fromkeys(f["values"])))
                          for f in filters]
    after = (metric.aggregation_type, metric.field_name, metric.expression,
             sorted((f.key, tuple(f.values)) for f in metric.filters))
    return creating or before != after


def _terms(metric: BillableMetric) -> dict[str, object]:
    """What the audit trail compares of a metric: how it reads its events (filters by property key) and its name."""
    return {
        "name": metric.name, "code": metric.code, "description": metric.description,
        "aggregation_type": metric.aggregation_type, "field_name": metric.field_name,
        "expression": metric.expression, "recurring": metric.recurring,
        "weighted_interval": metric.weighted_interval, "rounding_function": metric.rounding_function,
        "rounding_precision": metric.rounding_precision,
        "filters": {f.key: list(f.values) for f in sorted(metric.filters, key=lambda f: f.key)},
    }


def _record_metric(session: Session, metric: BillableMetric, action: str, before: dict | None,
                   after: dict | None, *, rederived: int | None = None) -> None:
    """One entry; `rederived`: the events the change made the metric read again (their usage follows)."""
    if rederived:
        after = {**(after or {}), "events_rederived": rederived}
    record(session, organization_id=metric.organization_id, action=action, object_type="billable_metric",
           object_id=metric.id, object_label=metric.name, before=before, after=after)


def create_billable_metric(*, organization_id: str, data: Mapping[str, object]) -> BillableMetric:
    with unit_of_work() as uow:
        metric = BillableMetric(organization_id=organization_id, recurring=False)
        _apply_metric(uow.session, metric, data, creating=True)
        uow.session.add(metric)
        uow.session.flush()
        # Events may have arrived before their metric: they now count.
        rederived = rederive_metric_events(uow.session, metric, organization_id=organization_id, code=metric.code)
        uow.session.refresh(metric)
        _record_metric(uow.session, metric, "billable_metric.created", None, _terms(metric), rederived=rederived)
        uow.after_commit(request_rollup)
        return metric


def update_billable_metric(*, organization_id: str, code: str, data: Mapping[str, object],
                           nulls_clear: bool = False) -> BillableMetric:
    with unit_of_work() as uow:
        metric = _get_metric_in(uow.session, organization_id, code)
        before = _terms(metric)
        with uow.session.no_autoflush:
            rederive = _apply_metric(uow.session, metric, data, creating=False, nulls_clear=nulls_clear)
        metric.updated_at = utcnow()
        uow.session.flush()
        rederived = None
        if rederive:
            rederived = rederive_metric_events(uow.session, metric, organization_id=organization_id,
                                               code=metric.code)
            uow.after_commit(request_rollup)
        uow.session.refresh(metric)
        _record_metric(uow.session, metric, "billable_metric.updated", before, _terms(metric), rederived=rederived)
        return metric


def get_billable_metric(*, organization_id: str, code: str) -> BillableMetric:
    with read_only() as session:
        return _get_metric_in(session, organization_id, code)


def list_billable_metrics(*, organization_id: str, page: int = 1, per_page: int = 20) -> Page:
    with read_only() as session:
        query = _metric_query(organization_id).order_by(BillableMetric.created_at.desc(), BillableMetric.id)
        return paginate(session, query, page=page, per_page=per_page)


def delete_billable_metric(*, organization_id: str, code: str) -> BillableMetric:
    """Soft-delete a metric; the charges that use it are removed from their plans (as Lago)."""
    with unit_of_work() as uow:
        metric = _get_metric_in(uow.session, organization_id, code)
        before = _terms(metric)
        now = utcnow()
        plan_codes = set()
        # The plans joined in the same statement: a metric priced in many overrides (one plan each) would
        # otherwise load each charge's plan with a statement of its own.
        for charge in uow.session.scalars(select(Charge).options(joinedload(Charge.plan)).where(
                Charge.billable_metric_id == metric.id, Charge.deleted_at.is_(None))):
            charge.deleted_at = now
            plan_codes.add(charge.plan.code)
        metric.deleted_at = now
        uow.session.flush()
        rederived = rederive_metric_events(uow.session, None, organization_id=organization_id, code=metric.code)
        # The deleted metric as it was, and the plans (overrides included) that lost its charge.
        _record_metric(uow.session, metric, "billable_metric.deleted", {**before, "charged_on": sorted(plan_codes)},
                       None, rederived=rederived)
        return metric


def evaluate_expression(*, expression: object, event: object) -> Value:
    """Lago's evaluate_expression: the expression's value on one event (`code`, `timestamp`, `properties`).

    Refused as Lago does: no expression (`value_is_mandatory`), one that does not parse (`invalid_expression`),
    an event it cannot be evaluated on (`invalid_event`). The event's timestamp defaults to now.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ValidationFailed({"expression": ["value_is_mandatory"]})
    try:
        parsed = parse_expression(expression.strip())
    except ExpressionError:
        raise ValidationFailed({"expression": ["invalid_expression"]}) from None
    event = event if event is not None else {}
    properties = event.get("properties") if isinstance(event, Mapping) else None
    if not isinstance(event, Mapping) or not isinstance(properties or {}, Mapping):
        raise ValidationFailed({"event": ["invalid_event"]})
    raw_timestamp = event.get("timestamp")
    moment = runtime.clock.now() if raw_timestamp is None else parse_datetime(raw_timestamp)
    if moment is None:
        raise ValidationFailed({"event": ["invalid_event"]})
    code = event.get("code")
    try:
        return parsed.evaluate(properties=properties or {}, timestamp=Decimal(int(moment.timestamp())),
                               code=str(code) if code is not None else None)
    except ExpressionError:
        raise ValidationFailed({"event": ["invalid_event"]}) from None
