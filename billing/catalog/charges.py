"""A plan's charges as sent: checked (models, pay in advance, proration, filters) and applied."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from billing import pricing
from billing.catalog.models import BillableMetric, Charge, ChargeFilter, Plan
from billing.catalog.taxes import taxes_for_codes
from billing.db import utcnow
from billing.invoicing.models import Fee
from billing.metering.store import event_store
from billing.pricing.prorated import MODELS as PRORATED_MODELS
from billing.validation import Checker


def apply_charges(session: Session, plan: Plan, charges: object, errors: dict[str, object]) -> None:
    if not isinstance(charges, list):
        errors["charges"] = ["invalid_type"]
        return
    existing = {c.id: c for c in plan.charges}
    kept: list[Charge] = []
    named: list[tuple[int, Charge, str | None]] = []
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
        code = check.string("code")
        filters = charge_filters(raw.get("filters"), metric, charge_model, check) if "filters" in raw else None
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
            forget_removed_filters(session, [f for f in charge.filters if f not in kept_filters])
            charge.filters = kept_filters
        kept.append(charge)
        named.append((index, charge, code))
    if not errors:
        _name_charges(session, named, errors)
    if errors:
        return
    _mark_advance_start(session, plan.organization_id, kept)
    discard_charges(session, plan, [c for c in plan.charges if c not in kept])


def _name_charges(session: Session, named: list[tuple[int, Charge, str | None]], errors: dict[str, object]) -> None:
    """Give each charge its code: the one sent, else the one it has, else its metric's (Lago's default).

    NOTE: Lago's default code is the metric's code, then `<code>_2`, `<code>_3`... when the plan already has
    it (lago-api Charges::GenerateCodeService); codes are unique among the plan's charges. A renamed charge's
    copies in child plans follow it: the code names the charge, it is not a price term.
    """
    codes: set[str] = set()
    for index, charge, sent in named:
        code = sent or charge.code
        if code is None:
            continue
        if code in codes:
            errors[f"charges.{index}"] = {"code": ["value_already_exist"]}
        codes.add(code)
    if errors:
        return
    for _index, charge, sent in named:
        code = sent or charge.code
        if code is None:
            base = charge.billable_metric.code
            code, suffix = base, 1
            while code in codes:
                suffix += 1
                code = f"{base}_{suffix}"
            codes.add(code)
        if charge.id is not None and charge.code is not None and charge.code != code:
            session.execute(update(Charge).where(Charge.parent_id == charge.id).values(code=code))
        charge.code = code


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
    high = event_store().max_event_id(session, organization_id)
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


def discard_charges(session: Session, plan: Plan, charges: list[Charge]) -> None:
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
    by_values = {values_key(f.values): f for f in existing}
    kept = []
    for new in wanted:
        old = by_values.pop(values_key(new.values), None)
        if old is None:
            kept.append(new)
        else:
            old.properties, old.invoice_display_name = new.properties, new.invoice_display_name
            kept.append(old)
    return kept


def forget_removed_filters(session: Session, removed: list[ChargeFilter]) -> None:
    """Past fees of a removed filter keep their description and values; only the link goes."""
    ids = [f.id for f in removed if f.id]
    if ids:
        session.execute(update(Fee).where(Fee.charge_filter_id.in_(ids)).values(charge_filter_id=None))


def values_key(values: Mapping[str, list[str]]) -> tuple:
    return tuple(sorted((key, tuple(sorted(allowed))) for key, allowed in values.items()))


def charge_filters(raw: object, metric: BillableMetric | None, charge_model: str | None,
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
        if not isinstance(properties, Mapping):
            check.fail(f"filters.{index}.properties", "invalid_type")
            continue
        if charge_model:
            for field, reasons in pricing.validate_properties(charge_model, properties).items():
                for reason in reasons:
                    check.fail(f"filters.{index}.properties.{field}", reason)
        check.numbers_in_range(f"filters.{index}.properties", properties)
        display = item.get("invoice_display_name")
        filters.append(ChargeFilter(values={k: list(v) for k, v in values.items()}, properties=dict(properties),
                                    invoice_display_name=display if isinstance(display, str) else None))
    return filters
