"""Child plans: a subscription's overrides of its plan, and a parent's edit cascaded to its children."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload

from billing import pricing
from billing.catalog.charges import charge_filters, discard_charges, forget_removed_filters, values_key
from billing.catalog.models import Charge, ChargeFilter, Plan
from billing.catalog.taxes import taxes_for_codes
from billing.catalog.usage_thresholds import check_thresholds, copy_thresholds, set_thresholds
from billing.db import utcnow
from billing.errors import ValidationFailed
from billing.subscriptions.models import LIVE_STATUSES, Subscription
from billing.validation import Checker


def create_child_plan(session: Session, parent: Plan, overrides: Mapping[str, object],
                      previous: Plan | None = None) -> Plan:
    """A plan for one subscription: the parent's terms with `overrides` (Lago's plan_overrides) on top.

    Charges are copied and keep a link to their parent charge; an override names the parent
    charge by `id`. Raises ValidationFailed (nothing written) when an override is invalid.
    """
    parent = locked_plan(session, parent.id)  # not while a cascade changes it, nor from a stale copy
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
    thresholds = (check_thresholds(overrides.get("usage_thresholds"), errors)
                  if "usage_thresholds" in overrides else None)
    charge_overrides: dict[str, Mapping[str, object]] = {}
    for index, raw in enumerate(raw_charges):
        parent_charge = by_parent.get(str(raw.get("id")))
        if parent_charge is None:
            errors[f"charges.{index}"] = {"id": ["charge_not_found"]}
            continue
        charge_check = Checker(raw)
        charge_check.amount_cents("min_amount_cents")
        charge_check.string("invoice_display_name")
        if raw.get("properties") is not None:
            for field, reasons in pricing.validate_properties(parent_charge.charge_model, raw["properties"]).items():
                for reason in reasons:
                    charge_check.fail(f"properties.{field}", reason)
            charge_check.numbers_in_range("properties", raw["properties"])
        if "filters" in raw:
            charge_filters(raw.get("filters"), parent_charge.billable_metric, parent_charge.charge_model,
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
    if thresholds is not None:
        set_thresholds(session, child, thresholds)
    else:
        copy_thresholds(session, template, child)
    session.flush()
    return child


def _child_charge(parent_charge: Charge, source: Charge, override: Mapping[str, object]) -> Charge:
    """A child plan's copy of `parent_charge`: `source` (the parent charge, or the child's earlier copy) with
    `override` (already validated) on top."""
    charge = Charge(
        billable_metric_id=source.billable_metric_id, billable_metric=source.billable_metric,
        parent_id=parent_charge.id, code=parent_charge.code,
        charge_model=source.charge_model,
        properties=copy.deepcopy(dict(override.get("properties") or source.properties)),
        pay_in_advance=source.pay_in_advance, pay_in_advance_from_event_id=source.pay_in_advance_from_event_id,
        invoiceable=source.invoiceable, prorated=source.prorated, regroup_paid_fees=source.regroup_paid_fees,
        min_amount_cents=(override["min_amount_cents"] if override.get("min_amount_cents") is not None
                          else source.min_amount_cents),
        invoice_display_name=override.get("invoice_display_name") or source.invoice_display_name,
        taxes=list(source.taxes))
    charge.filters = (charge_filters(override.get("filters"), source.billable_metric, source.charge_model,
                                      Checker({})) if "filters" in override else
                      [_copy_filter(f) for f in source.filters])
    return charge


def _copy_filter(charge_filter: ChargeFilter) -> ChargeFilter:
    return ChargeFilter(values=copy.deepcopy(dict(charge_filter.values)),
                        properties=copy.deepcopy(dict(charge_filter.properties)),
                        invoice_display_name=charge_filter.invoice_display_name)


def locked_plan(session: Session, plan_id: str) -> Plan:
    """The plan read afresh under a row lock: an edit of a plan and the overrides built from it wait for each
    other, so no child plan is built from a parent (or an earlier child) that a cascade is changing."""
    session.execute(select(Plan.id).where(Plan.id == plan_id).with_for_update())
    return _fresh_plan(session, plan_id)


def _fresh_plan(session: Session, plan_id: str) -> Plan:
    return session.scalar(select(Plan).where(Plan.id == plan_id)
                          .options(selectinload(Plan.charges).selectinload(Charge.filters))
                          .execution_options(populate_existing=True))




@dataclass(frozen=True)
class _ChargeTerms:
    """What a parent charge said before an edit: a child still saying it did not override it."""

    charge_model: str
    properties: dict
    filters: dict[tuple, dict]  # the filter's values (as values_key) -> its properties

    @classmethod
    def of(cls, charge: Charge) -> _ChargeTerms:
        return cls(charge_model=charge.charge_model, properties=copy.deepcopy(dict(charge.properties or {})),
                   filters={values_key(f.values): copy.deepcopy(dict(f.properties or {})) for f in charge.filters})


@dataclass(frozen=True)
class PlanTerms:
    amount_cents: int
    charges: dict[str, _ChargeTerms]  # by the parent charge's id

    @classmethod
    def of(cls, plan: Plan) -> PlanTerms:
        return cls(amount_cents=plan.amount_cents, charges={c.id: _ChargeTerms.of(c) for c in plan.charges})


def cascade_to_children(session: Session, parent: Plan, before: PlanTerms) -> None:
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
        discard_charges(session, child, dropped)
        for charge_id, charge in current.items():
            if charge_id not in before.charges:
                child.charges.append(_child_charge(charge, charge, {}))
        child.updated_at = now


def _cascade_charge(session: Session, child: Charge, old: _ChargeTerms, new: Charge) -> None:
    if child.charge_model != new.charge_model:
        return  # NOTE: Lago leaves a child charge alone when its model is not the parent's new one
    if child.charge_model == old.charge_model and child.properties == old.properties:
        child.properties = copy.deepcopy(dict(new.properties))
    wanted = {values_key(f.values): f for f in new.filters}
    kept: list[ChargeFilter] = []
    removed: list[ChargeFilter] = []
    for charge_filter in child.filters:
        key = values_key(charge_filter.values)
        if key in old.filters and key not in wanted:
            removed.append(charge_filter)  # inherited from the parent, which dropped it
            continue
        if key in old.filters and charge_filter.properties == old.filters[key]:
            charge_filter.properties = copy.deepcopy(dict(wanted[key].properties))
            charge_filter.invoice_display_name = wanted[key].invoice_display_name
        kept.append(charge_filter)
    held = {values_key(f.values) for f in child.filters}
    # A filter new to the parent joins the child unless the child has one of its own for the same values;
    # one the child's overrides removed stays removed.
    kept.extend(_copy_filter(f) for key, f in wanted.items() if key not in old.filters and key not in held)
    if removed:
        forget_removed_filters(session, removed)
    child.filters = kept


def reload_plan(session: Session, plan_id: str) -> Plan:
    session.expire_all()
    return session.scalar(select(Plan).where(Plan.id == plan_id).options(
        selectinload(Plan.charges).selectinload(Charge.filters)))
