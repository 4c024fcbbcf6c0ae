"""The catalog: billable metrics and plans with their charges."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session, selectinload

from billing import pricing
from billing.catalog.models import PLAN_INTERVALS, BillableMetric, BillableMetricFilter, Charge, ChargeFilter, Plan
from billing.catalog.taxes import taxes_for_codes
from billing.db import read_only, unit_of_work, utcnow
from billing.errors import NotFound, ValidationFailed
from billing.invoicing.models import Fee
from billing.metering.aggregation import AGGREGATIONS, NEEDS_FIELD, RECURRING_AGGREGATIONS
from billing.metering.expression import ExpressionError, parse_expression
from billing.metering.models import Event
from billing.metering.rollups import rederive_metric_events, request_rollup
from billing.pagination import Page, paginate
from billing.pricing.prorated import MODELS as PRORATED_MODELS
from billing.subscriptions.models import LIVE_STATUSES, Subscription
from billing.validation import MAX_STRING, Checker

# ---------------------------------------------------------------- billable metrics


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


def create_billable_metric(*, organization_id: str, data: Mapping[str, object]) -> BillableMetric:
    with unit_of_work() as uow:
        metric = BillableMetric(organization_id=organization_id, recurring=False)
        _apply_metric(uow.session, metric, data, creating=True)
        uow.session.add(metric)
        uow.session.flush()
        # Events may have arrived before their metric: they now count.
        rederive_metric_events(uow.session, metric, organization_id=organization_id, code=metric.code)
        uow.session.refresh(metric)
        uow.after_commit(request_rollup)
        return metric


def update_billable_metric(*, organization_id: str, code: str, data: Mapping[str, object],
                           nulls_clear: bool = False) -> BillableMetric:
    with unit_of_work() as uow:
        metric = _get_metric_in(uow.session, organization_id, code)
        with uow.session.no_autoflush:
            rederive = _apply_metric(uow.session, metric, data, creating=False, nulls_clear=nulls_clear)
        metric.updated_at = utcnow()
        uow.session.flush()
        if rederive:
            rederive_metric_events(uow.session, metric, organization_id=organization_id, code=metric.code)
            uow.after_commit(request_rollup)
        uow.session.refresh(metric)
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
        now = utcnow()
        for charge in uow.session.scalars(select(Charge).where(Charge.billable_metric_id == metric.id,
                                                                Charge.deleted_at.is_(None))):
            charge.deleted_at = now
        metric.deleted_at = now
        uow.session.flush()
        rederive_metric_events(uow.session, None, organization_id=organization_id, code=metric.code)
        return metric


# ---------------------------------------------------------------- plans


def _plan_query(organization_id: str):
    return (select(Plan)
            .where(Plan.organization_id == organization_id, Plan.deleted_at.is_(None), Plan.parent_id.is_(None))
            .options(selectinload(Plan.charges).selectinload(Charge.filters)))


def find_plan(session: Session, organization_id: str, code: str) -> Plan | None:
    return session.scalar(_plan_query(organization_id).where(Plan.code == code))


def _get_plan_in(session: Session, organization_id: str, code: str) -> Plan:
    plan = find_plan(session, organization_id, code)
    if plan is None:
        raise NotFound("plan")
    return plan


def _plan_in_use(session: Session, plan: Plan) -> bool:
    return bool(session.scalar(select(exists().where(Subscription.plan_id == plan.id))))


def _apply_charges(session: Session, plan: Plan, charges: object, errors: dict[str, object]) -> None:
    if not isinstance(charges, list):
        errors["charges"] = ["invalid_type"]
        return
    existing = {c.id: c for c in plan.charges}
    kept: list[Charge] = []
    for index, raw in enumerate(charges):
        check = Checker(raw)
        if not isinstance(raw, Mapping):
            errors[f"charges.{index}"] = ["invalid_type"]
            continue
        charge = existing.get(raw.get("id")) if raw.get("id") else None
        if raw.get("id") and charge is None:
            check.fail("id", "charge_not_found")
        metric_id = raw.get("billable_metric_id") or (charge.billable_metric_id if charge else None)
        metric = None
        if metric_id is None:
            check.fail("billable_metric_id", "value_is_mandatory")
        else:
            metric = session.scalar(select(BillableMetric).where(
                BillableMetric.id == str(metric_id), BillableMetric.organization_id == plan.organization_id,
                BillableMetric.deleted_at.is_(None)))
            if metric is None:
                check.fail("billable_metric_id", "billable_metric_not_found")
        charge_model = check.choice("charge_model", tuple(pricing.CHARGE_MODELS), required=charge is None)
        charge_model = charge_model or (charge.charge_model if charge else None)
        properties = raw.get("properties", charge.properties if charge else {})
        if charge_model:
            for field, reasons in pricing.validate_properties(charge_model, properties or {}).items():
                for reason in reasons:
                    check.fail(f"properties.{field}", reason)
        check.numbers_in_range("properties", properties)
        if metric is not None and charge_model:
            # NOTE: Lago's pairing rules: dynamic prices the events' own amounts, so only with
            # sum_agg; percentage needs values to take a rate of, so not latest_agg (docs/billing.md).
            if (charge_model == "dynamic" and metric.aggregation_type != "sum_agg") or (
                    charge_model == "percentage" and metric.aggregation_type == "latest_agg"):
                check.fail("charge_model", "invalid_aggregation_type_or_charge_model")
        pay_in_advance = check.boolean("pay_in_advance")
        in_advance = pay_in_advance if pay_in_advance is not None else bool(charge and charge.pay_in_advance)
        prorated = check.boolean("prorated")
        if (prorated if prorated is not None else bool(charge and charge.prorated)) and metric is not None \
                and charge_model and not can_be_prorated(metric, charge_model):
            check.fail("prorated", "invalid_billable_metric_or_charge_model")
        if in_advance and metric is not None and charge_model:
            _check_pay_in_advance(check, metric, charge_model, raw, charge, prorated)
        invoiceable = check.boolean("invoiceable")
        regroup = check.choice("regroup_paid_fees", REGROUP_PAID_FEES)
        # An explicit null is "not sent" in the API (API.md); "" clears it.
        regroup_sent = raw.get("regroup_paid_fees") is not None
        regroup_now = regroup if regroup_sent else (charge.regroup_paid_fees if charge else None)
        invoiceable_now = invoiceable if invoiceable is not None else (charge.invoiceable if charge else True)
        if regroup_now and not (in_advance and not invoiceable_now):
            # NOTE: lago-api `Charge#validate_regroup_paid_fees`: only a pay-in-advance charge that is not
            # invoiceable has paid fees to regroup.
            check.fail("regroup_paid_fees", "only_compatible_with_pay_in_advance_and_non_invoiceable")
        min_amount_cents = check.amount_cents("min_amount_cents")
        display = check.string("invoice_display_name")
        filters = _charge_filters(raw.get("filters"), metric, charge_model, check) if "filters" in raw else None
        if check.errors:
            errors[f"charges.{index}"] = check.errors
            continue
        if charge is None:
            charge = Charge(billable_metric_id=metric.id, charge_model=charge_model)
            plan.charges.append(charge)
        charge.billable_metric = metric
        charge.charge_model = charge_model
        charge.properties = dict(properties or {})
        charge.pay_in_advance = in_advance
        if not in_advance:
            charge.pay_in_advance_from_event_id = None
        if prorated is not None:
            charge.prorated = prorated
        if invoiceable is not None:
            charge.invoiceable = invoiceable
        if regroup_sent:
            charge.regroup_paid_fees = regroup
        if min_amount_cents is not None:
            charge.min_amount_cents = min_amount_cents
        if "invoice_display_name" in raw:
            charge.invoice_display_name = display
        if raw.get("tax_codes") is not None:
            # NOTE: a charge's taxes replace the plan's for its fees (docs/billing.md, Taxes).
            charge.taxes = taxes_for_codes(session, plan.organization_id, raw["tax_codes"],
                                           f"charges.{index}.tax_codes")
        if filters is not None:
            kept_filters = _keep_filter_ids(charge.filters, filters)
            _forget_removed_filters(session, [f for f in charge.filters if f not in kept_filters])
            charge.filters = kept_filters
        kept.append(charge)
    if errors:
        return
    _mark_advance_start(session, plan.organization_id, kept)
    _discard_charges(session, plan, [c for c in plan.charges if c not in kept])


def _mark_advance_start(session: Session, organization_id: str, charges: list[Charge]) -> None:
    """A charge that turns pay-in-advance bills the events stored from now on, not the earlier ones.

    The flush bumps the catalog version, which (on PostgreSQL) holds the organization's catalog lock
    until commit: no ingestion of the organization is in flight, so every later event gets a
    higher id than the highest read here (billing.metering.catalog_cache).
    """
    starting = [c for c in charges if c.pay_in_advance and c.pay_in_advance_from_event_id is None]
    if not starting:
        return
    session.flush()
    high = session.scalar(select(func.coalesce(func.max(Event.id), 0)).where(
        Event.organization_id == organization_id))
    for charge in starting:
        charge.pay_in_advance_from_event_id = high


ADVANCE_AGGREGATIONS = ("count_agg", "sum_agg", "unique_count_agg")
REGROUP_PAID_FEES = ("invoice",)  # Lago's only grouping: one invoice of the paid fees per billing


def _check_pay_in_advance(check: Checker, metric: BillableMetric, charge_model: str, raw: Mapping,
                          charge: Charge | None, prorated: bool | None) -> None:
    """Lago's rules for a pay-in-advance charge (a fee per event; docs/billing.md, Pay-in-advance charges).

    NOTE: only aggregations whose running total an event can raise (count, sum, unique count;
    not max, latest, weighted sum, custom), not the volume model (one price for all units, so an
    event would reprice the earlier ones), and no spending minimum (it is for charges in arrears).
    Sources: docs/billing.md, Pricing (pay in advance); Lago docs "Spending minimums"
    (https://getlago.com/docs/guide/plans/charges/spending-minimum); Lago changelog "Weighted sum
    aggregation" (https://getlago.com/changelog/weighted-sum-aggregation-type: billed at period end).
    """
    if metric.aggregation_type not in ADVANCE_AGGREGATIONS or charge_model == "volume":
        check.fail("pay_in_advance", "invalid_aggregation_type_or_charge_model")
    minimum = raw.get("min_amount_cents", charge.min_amount_cents if charge else 0)
    if isinstance(minimum, int) and not isinstance(minimum, bool) and minimum > 0:
        check.fail("min_amount_cents", "not_compatible_with_pay_in_advance")
    if (prorated if prorated is not None else bool(charge and charge.prorated)) and charge_model != "standard":
        # NOTE: in advance, only `standard` can be prorated (lago-api `Charge#validate_prorated`: "for
        # pay_in_advance, price model cannot be package, graduated, percentage and volume").
        check.fail("prorated", "invalid_billable_metric_or_charge_model")


def can_be_prorated(metric: BillableMetric, charge_model: str) -> bool:
    """Lago's rule for `prorated`: a recurring metric (not weighted_sum), priced standard, graduated or volume.

    NOTE: lago-api `Charge#validate_prorated` (in arrears: standard, volume, graduated; weighted_sum
    excluded, it is time-weighted already); Lago docs "Prorated vs Full",
    https://getlago.com/docs/guide/plans/charges/prorated-vs-full. In advance only standard
    (`_check_pay_in_advance`).
    """
    return bool(metric.recurring) and metric.aggregation_type != "weighted_sum_agg" \
        and charge_model in PRORATED_MODELS


def _discard_charges(session: Session, plan: Plan, charges: list[Charge]) -> None:
    """Soft-delete: the rows stay for the fees of old invoices and for the child plans' copies."""
    if not charges:
        return
    now = utcnow()
    for charge in charges:
        charge.deleted_at = now
    # Taking them out of `plan.charges` would delete the rows (delete-orphan): the collection is read
    # again instead, and its join leaves deleted charges out.
    session.flush()
    session.expire(plan, ["charges"])


def _keep_filter_ids(existing: list[ChargeFilter], wanted: list[ChargeFilter]) -> list[ChargeFilter]:
    """A filter sent again with the same values is the same filter (its id, and its past fees, stay)."""
    by_values = {_values_key(f.values): f for f in existing}
    kept = []
    for new in wanted:
        old = by_values.pop(_values_key(new.values), None)
        if old is None:
            kept.append(new)
        else:
            old.properties, old.invoice_display_name = new.properties, new.invoice_display_name
            kept.append(old)
    return kept


def _forget_removed_filters(session: Session, removed: list[ChargeFilter]) -> None:
    """Past fees of a removed filter keep their description and values; only the link goes."""
    ids = [f.id for f in removed if f.id]
    if ids:
        session.execute(update(Fee).where(Fee.charge_filter_id.in_(ids)).values(charge_filter_id=None))


def _values_key(values: Mapping[str, list[str]]) -> tuple:
    return tuple(sorted((key, tuple(sorted(allowed))) for key, allowed in values.items()))


def _charge_filters(raw: object, metric: BillableMetric | None, charge_model: str | None,
                    check: Checker) -> list[ChargeFilter]:
    """Charge filters from the API: `values` must name the metric's filter keys and allowed values."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(f, Mapping) for f in raw):
        check.fail("filters", "invalid_type")
        return []
    allowed = {f.key: set(f.values) for f in metric.filters} if metric else {}
    filters = []
    for index, item in enumerate(raw):
        values = item.get("values")
        if not isinstance(values, Mapping) or not values or not all(
                isinstance(v, list) and v and all(isinstance(x, str) for x in v) for v in values.values()):
            check.fail(f"filters.{index}.values", "invalid_format")
            continue
        if any(key not in allowed or not set(wanted) <= allowed[key] for key, wanted in values.items()):
            check.fail(f"filters.{index}.values", "invalid_filter_values")  # not the metric's keys and values
            continue
        properties = item.get("properties") or {}
        if charge_model:
            for field, reasons in pricing.validate_properties(charge_model, properties).items():
                for reason in reasons:
                    check.fail(f"filters.{index}.properties.{field}", reason)
        check.numbers_in_range(f"filters.{index}.properties", properties)
        display = item.get("invoice_display_name")
        filters.append(ChargeFilter(values={k: list(v) for k, v in values.items()}, properties=dict(properties),
                                    invoice_display_name=display if isinstance(display, str) else None))
    return filters


def _apply_plan(session: Session, plan: Plan, data: Mapping[str, object], *, creating: bool) -> None:
    check = Checker(data)
    name = check.string("name", required=creating)
    code = check.string("code", required=creating)
    interval = check.choice("interval", PLAN_INTERVALS, required=creating)
    amount_cents = check.amount_cents("amount_cents", required=creating)
    currency = check.currency("amount_currency", required=creating)
    pay_in_advance = check.boolean("pay_in_advance")
    trial_period = check.days("trial_period", fractional=True)
    commitment = None
    if isinstance(data.get("minimum_commitment"), Mapping):
        commitment = Checker(data["minimum_commitment"]).amount_cents("amount_cents")
        if commitment is None:
            check.fail("minimum_commitment", "invalid_amount_cents")
    elif data.get("minimum_commitment") is not None:
        check.fail("minimum_commitment", "invalid_type")
    bill_charges_monthly = check.boolean("bill_charges_monthly")
    description = check.text("description")
    display = check.string("invoice_display_name")
    if code and code != plan.code:
        clash = find_plan(session, plan.organization_id, code)
        if clash is not None and clash.id != plan.id:
            check.fail("code", "value_already_exist")
    in_use = not creating and _plan_in_use(session, plan)
    if in_use:
        for field in ("amount_currency", "interval"):
            if data.get(field) is not None and data[field] != getattr(plan, field):
                check.fail(field, "plan_in_use")
    errors: dict[str, object] = dict(check.errors)
    if "charges" in data and data["charges"] is not None:
        _apply_charges(session, plan, data["charges"], errors)
    if errors:
        raise ValidationFailed(errors)
    for field, value in (("name", name), ("code", code), ("interval", interval), ("amount_cents", amount_cents),
                         ("amount_currency", currency), ("bill_charges_monthly", bill_charges_monthly),
                         ("pay_in_advance", pay_in_advance), ("trial_period", trial_period)):
        if value is not None:
            setattr(plan, field, value)
    if "description" in data:
        plan.description = description
    if "invoice_display_name" in data:
        plan.invoice_display_name = display
    if data.get("tax_codes") is not None:
        plan.taxes = taxes_for_codes(session, plan.organization_id, data["tax_codes"])
    if "minimum_commitment" in data:
        plan.minimum_commitment_cents = commitment


def create_child_plan(session: Session, parent: Plan, overrides: Mapping[str, object],
                      previous: Plan | None = None) -> Plan:
    """A plan for one subscription: the parent's terms with `overrides` (Lago's plan_overrides) on top.

    Charges are copied and keep a link to their parent charge; an override names the parent
    charge by `id`. Raises ValidationFailed (nothing written) when an override is invalid.
    """
    parent = _locked_plan(session, parent.id)  # not while a cascade changes it, nor from a stale copy
    if previous is not None:
        previous = _fresh_plan(session, previous.id)
    check = Checker(overrides)
    amount_cents = check.amount_cents("amount_cents")
    trial_period = check.days("trial_period", fractional=True)
    # Overrides sent again keep what was overridden before unless they change it (Lago updates the
    # subscription's plan copy in place).
    template = previous or parent
    commitment = template.minimum_commitment_cents
    if isinstance(overrides.get("minimum_commitment"), Mapping):
        commitment = Checker(overrides["minimum_commitment"]).amount_cents("amount_cents")
        if commitment is None:
            check.fail("minimum_commitment", "invalid_amount_cents")
    name = check.string("name")
    display = check.string("invoice_display_name")
    description = check.text("description")
    raw_charges = overrides.get("charges") or []
    if not isinstance(raw_charges, list) or not all(isinstance(c, Mapping) for c in raw_charges):
        check.fail("charges", "invalid_type")
        raw_charges = []
    by_parent = {c.id: c for c in parent.charges}
    errors: dict[str, object] = dict(check.errors)
    charge_overrides: dict[str, Mapping[str, object]] = {}
    for index, raw in enumerate(raw_charges):
        parent_charge = by_parent.get(str(raw.get("id")))
        if parent_charge is None:
            errors[f"charges.{index}"] = {"id": ["charge_not_found"]}
            continue
        charge_check = Checker(raw)
        charge_check.amount_cents("min_amount_cents")
        if raw.get("properties") is not None:
            for field, reasons in pricing.validate_properties(parent_charge.charge_model, raw["properties"]).items():
                for reason in reasons:
                    charge_check.fail(f"properties.{field}", reason)
            charge_check.numbers_in_range("properties", raw["properties"])
        if "filters" in raw:
            _charge_filters(raw.get("filters"), parent_charge.billable_metric, parent_charge.charge_model,
                            charge_check)
        if charge_check.errors:
            errors[f"charges.{index}"] = charge_check.errors
        charge_overrides[parent_charge.id] = raw
    if errors:
        raise ValidationFailed({"plan_overrides": errors})
    child = Plan(
        organization_id=parent.organization_id, parent_id=parent.id, code=parent.code,
        name=name or template.name, invoice_display_name=display or template.invoice_display_name,
        description=description or template.description, interval=parent.interval,
        amount_cents=template.amount_cents if amount_cents is None else amount_cents,
        amount_currency=parent.amount_currency, pay_in_advance=parent.pay_in_advance,
        trial_period=template.trial_period if trial_period is None else trial_period,
        bill_charges_monthly=parent.bill_charges_monthly, minimum_commitment_cents=commitment,
        taxes=(taxes_for_codes(session, parent.organization_id, overrides["tax_codes"], "plan_overrides.tax_codes")
               if overrides.get("tax_codes") is not None else list(template.taxes)))
    earlier = {c.parent_id: c for c in previous.charges} if previous else {}
    for parent_charge in parent.charges:
        override = charge_overrides.get(parent_charge.id, {})
        charge = _child_charge(parent_charge, earlier.get(parent_charge.id, parent_charge), override)
        if override.get("tax_codes") is not None:
            charge.taxes = taxes_for_codes(session, parent.organization_id, override["tax_codes"],
                                           "plan_overrides.charges.tax_codes")
        child.charges.append(charge)
    session.add(child)
    session.flush()
    return child


def _child_charge(parent_charge: Charge, source: Charge, override: Mapping[str, object]) -> Charge:
    """A child plan's copy of `parent_charge`: `source` (the parent charge, or the child's earlier copy) with
    `override` (already validated) on top."""
    charge = Charge(
        billable_metric_id=source.billable_metric_id, billable_metric=source.billable_metric,
        parent_id=parent_charge.id,
        charge_model=source.charge_model,
        properties=copy.deepcopy(dict(override.get("properties") or source.properties)),
        pay_in_advance=source.pay_in_advance, pay_in_advance_from_event_id=source.pay_in_advance_from_event_id,
        invoiceable=source.invoiceable, prorated=source.prorated, regroup_paid_fees=source.regroup_paid_fees,
        min_amount_cents=(override["min_amount_cents"] if override.get("min_amount_cents") is not None
                          else source.min_amount_cents),
        invoice_display_name=override.get("invoice_display_name") or source.invoice_display_name,
        taxes=list(source.taxes))
    charge.filters = (_charge_filters(override.get("filters"), source.billable_metric, source.charge_model,
                                      Checker({})) if "filters" in override else
                      [_copy_filter(f) for f in source.filters])
    return charge


def _copy_filter(charge_filter: ChargeFilter) -> ChargeFilter:
    return ChargeFilter(values=copy.deepcopy(dict(charge_filter.values)),
                        properties=copy.deepcopy(dict(charge_filter.properties)),
                        invoice_display_name=charge_filter.invoice_display_name)


def create_plan(*, organization_id: str, data: Mapping[str, object]) -> Plan:
    with unit_of_work() as uow:
        plan = Plan(organization_id=organization_id, pay_in_advance=False, bill_charges_monthly=False)
        with uow.session.no_autoflush:
            _apply_plan(uow.session, plan, data, creating=True)
        uow.session.add(plan)
        uow.session.flush()
        return _reload_plan(uow.session, plan.id)


def update_plan(*, organization_id: str, code: str, data: Mapping[str, object],
                cascade_updates: object = None) -> Plan:
    """Edit a plan; with `cascade_updates` (a boolean, as sent), the edit also reaches the overridden plans
    of its live subscriptions wherever they still hold the parent's value (Lago's, docs/billing.md)."""
    check = Checker({"cascade_updates": cascade_updates})
    cascade = bool(check.boolean("cascade_updates"))
    check.done()
    with unit_of_work() as uow:
        plan = _locked_plan(uow.session, _get_plan_in(uow.session, organization_id, code).id)
        before = _PlanTerms.of(plan)
        with uow.session.no_autoflush:
            _apply_plan(uow.session, plan, data, creating=False)
        plan.updated_at = utcnow()
        uow.session.flush()
        if cascade:
            _cascade_to_children(uow.session, plan, before)
            uow.session.flush()
        return _reload_plan(uow.session, plan.id)


def _locked_plan(session: Session, plan_id: str) -> Plan:
    """The plan read afresh under a row lock: an edit of a plan and the overrides built from it wait for each
    other, so no child plan is built from a parent (or an earlier child) that a cascade is changing."""
    session.execute(select(Plan.id).where(Plan.id == plan_id).with_for_update())
    return _fresh_plan(session, plan_id)


def _fresh_plan(session: Session, plan_id: str) -> Plan:
    return session.scalar(select(Plan).where(Plan.id == plan_id)
                          .options(selectinload(Plan.charges).selectinload(Charge.filters))
                          .execution_options(populate_existing=True))


# ---------------------------------------------------------------- cascading a parent's edit to its children


@dataclass(frozen=True)
class _ChargeTerms:
    """What a parent charge said before an edit: a child still saying it did not override it."""

    charge_model: str
    properties: dict
    filters: dict[tuple, dict]  # the filter's values (as _values_key) -> its properties

    @classmethod
    def of(cls, charge: Charge) -> _ChargeTerms:
        return cls(charge_model=charge.charge_model, properties=copy.deepcopy(dict(charge.properties or {})),
                   filters={_values_key(f.values): copy.deepcopy(dict(f.properties or {})) for f in charge.filters})


@dataclass(frozen=True)
class _PlanTerms:
    amount_cents: int
    charges: dict[str, _ChargeTerms]  # by the parent charge's id

    @classmethod
    def of(cls, plan: Plan) -> _PlanTerms:
        return cls(amount_cents=plan.amount_cents, charges={c.id: _ChargeTerms.of(c) for c in plan.charges})


def _cascade_to_children(session: Session, parent: Plan, before: _PlanTerms) -> None:
    """Carry an edit of `parent` to the child plans of its live subscriptions, value by value.

    NOTE: Lago's cascade_updates (docs/billing.md, "Plan overrides"): a child value equal to the parent's
    value *before* the edit was inherited and follows the edit; any other value was overridden and stays.
    What cascades: the subscription fee, charges added and removed, and each charge's properties and
    filters; a change of charge model does not. Children of ended subscriptions keep their terms.
    """
    children = session.scalars(
        select(Plan).where(Plan.parent_id == parent.id, Plan.deleted_at.is_(None),
                           exists().where(Subscription.plan_id == Plan.id, Subscription.status.in_(LIVE_STATUSES)))
        .options(selectinload(Plan.charges).selectinload(Charge.filters))).all()
    now = utcnow()
    current = {c.id: c for c in parent.charges}
    for child in children:
        if child.amount_cents == before.amount_cents:
            child.amount_cents = parent.amount_cents
        copies = {c.parent_id: c for c in child.charges}
        dropped = []
        for charge_id, old in before.charges.items():
            child_charge = copies.get(charge_id)
            if child_charge is None:
                continue  # the child never had it (added to the parent without cascading)
            if charge_id not in current:
                dropped.append(child_charge)
            else:
                _cascade_charge(session, child_charge, old, current[charge_id])
        _discard_charges(session, child, dropped)
        for charge_id, charge in current.items():
            if charge_id not in before.charges:
                child.charges.append(_child_charge(charge, charge, {}))
        child.updated_at = now


def _cascade_charge(session: Session, child: Charge, old: _ChargeTerms, new: Charge) -> None:
    if child.charge_model != new.charge_model:
        return  # NOTE: Lago leaves a child charge alone when its model is not the parent's new one
    if child.charge_model == old.charge_model and child.properties == old.properties:
        child.properties = copy.deepcopy(dict(new.properties))
    wanted = {_values_key(f.values): f for f in new.filters}
    kept: list[ChargeFilter] = []
    removed: list[ChargeFilter] = []
    for charge_filter in child.filters:
        key = _values_key(charge_filter.values)
        if key in old.filters and key not in wanted:
            removed.append(charge_filter)  # inherited from the parent, which dropped it
            continue
        if key in old.filters and charge_filter.properties == old.filters[key]:
            charge_filter.properties = copy.deepcopy(dict(wanted[key].properties))
            charge_filter.invoice_display_name = wanted[key].invoice_display_name
        kept.append(charge_filter)
    held = {_values_key(f.values) for f in child.filters}
    # A filter new to the parent joins the child unless the child has one of its own for the same values;
    # one the child's overrides removed stays removed.
    kept.extend(_copy_filter(f) for key, f in wanted.items() if key not in old.filters and key not in held)
    if removed:
        _forget_removed_filters(session, removed)
    child.filters = kept


def _reload_plan(session: Session, plan_id: str) -> Plan:
    session.expire_all()
    return session.scalar(select(Plan).where(Plan.id == plan_id).options(
        selectinload(Plan.charges).selectinload(Charge.filters)))


def get_plan(*, organization_id: str, code: str) -> Plan:
    with read_only() as session:
        return _get_plan_in(session, organization_id, code)


def list_plans(*, organization_id: str, page: int = 1, per_page: int = 20) -> Page:
    with read_only() as session:
        return paginate(session, _plan_query(organization_id).order_by(Plan.created_at.desc(), Plan.id),
                        page=page, per_page=per_page)


def delete_plan(*, organization_id: str, code: str) -> Plan:
    """Delete a plan no live subscription uses (Lago terminates them; Tally refuses instead: no silent ends)."""
    with unit_of_work() as uow:
        plan = _get_plan_in(uow.session, organization_id, code)
        children = select(Plan.id).where(Plan.parent_id == plan.id)
        live = uow.session.scalar(select(exists().where(
            Subscription.plan_id.in_(children.union(select(Plan.id).where(Plan.id == plan.id))),
            Subscription.status.in_(LIVE_STATUSES))))
        if live:
            raise ValidationFailed({"plan": ["plan_has_live_subscriptions"]})
        plan.deleted_at = utcnow()
        return plan
