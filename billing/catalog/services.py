"""The catalog: billable metrics and plans with their charges."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload

from billing.audit.services import flatten, record
from billing.catalog.charges import apply_charges
from billing.catalog.child_plans import PlanTerms, cascade_to_children, locked_plan, reload_plan
from billing.catalog.models import PLAN_INTERVALS, Charge, Plan
from billing.catalog.taxes import taxes_for_codes
from billing.catalog.usage_thresholds import ThresholdTerms, check_thresholds, plan_thresholds, set_thresholds
from billing.db import read_only, unit_of_work, utcnow
from billing.errors import NotFound, ValidationFailed
from billing.pagination import Page, paginate
from billing.subscriptions.models import LIVE_STATUSES, Subscription
from billing.validation import Checker

T = TypeVar("T")


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


def _apply_plan(session: Session, plan: Plan, data: Mapping[str, object], *, creating: bool
                ) -> list[ThresholdTerms] | None:
    """Check and set the plan's fields; returns the usage thresholds to set once it is flushed (None: not sent)."""
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
    metadata = check.item_metadata("metadata")
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
        apply_charges(session, plan, data["charges"], errors)
    thresholds = check_thresholds(data.get("usage_thresholds"), errors) if "usage_thresholds" in data else None
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
    if "metadata" in data:  # NOTE: Lago's plan create and update replace the metadata with what is sent
        plan.metadata_ = metadata
    return thresholds


def audited_terms(plan: Plan) -> dict[str, object]:
    """What the audit trail compares of a plan: its price terms and each charge's (keyed by metric code)."""
    charges: dict[str, object] = {}
    for charge in sorted((c for c in plan.charges if c.deleted_at is None), key=lambda c: (c.created_at, c.id)):
        key = charge.billable_metric.code
        while key in charges:
            key += "+"
        charges[key] = {
            "charge_model": charge.charge_model, "pay_in_advance": charge.pay_in_advance,
            "invoiceable": charge.invoiceable, "prorated": charge.prorated,
            "min_amount_cents": charge.min_amount_cents, "properties": charge.properties,
            "filters": {", ".join(f"{k}: {'/'.join(v)}" for k, v in sorted(f.values.items())): f.properties
                        for f in charge.filters},
            "tax_codes": [tax.code for tax in charge.taxes],
        }
    return flatten({
        "name": plan.name, "code": plan.code, "interval": plan.interval, "amount_cents": plan.amount_cents,
        "amount_currency": plan.amount_currency, "pay_in_advance": plan.pay_in_advance,
        "trial_period": plan.trial_period, "bill_charges_monthly": plan.bill_charges_monthly,
        "minimum_commitment_cents": plan.minimum_commitment_cents, "description": plan.description,
        "invoice_display_name": plan.invoice_display_name, "tax_codes": [tax.code for tax in plan.taxes],
        "metadata": plan.metadata_,
        "charges": charges,
        "usage_thresholds": {f"{t.amount_cents}{' recurring' if t.recurring else ''}": t.threshold_display_name or ""
                             for t in plan_thresholds(plan)},
    })


def _record_plan(session: Session, plan: Plan, action: str, before: dict | None, after: dict | None) -> None:
    record(session, organization_id=plan.organization_id, action=action, object_type="plan", object_id=plan.id,
           object_label=plan.name, before=before, after=after, currency=plan.amount_currency)


def create_plan(*, organization_id: str, data: Mapping[str, object]) -> Plan:
    with unit_of_work() as uow:
        plan = Plan(organization_id=organization_id, pay_in_advance=False, bill_charges_monthly=False)
        with uow.session.no_autoflush:
            thresholds = _apply_plan(uow.session, plan, data, creating=True)
        uow.session.add(plan)
        uow.session.flush()
        if thresholds:
            set_thresholds(uow.session, plan, thresholds)
            uow.session.flush()
        plan = reload_plan(uow.session, plan.id)
        _record_plan(uow.session, plan, "plan.created", None, audited_terms(plan))
        return plan


def update_plan(*, organization_id: str, code: str, data: Mapping[str, object],
                cascade_updates: object = None) -> Plan:
    """Edit a plan; with `cascade_updates` (a boolean, as sent), the edit also reaches the overridden plans
    of its live subscriptions wherever they still hold the parent's value (Lago's, docs/billing.md)."""
    def change(session: Session, plan: Plan) -> None:
        thresholds = _apply_plan(session, plan, data, creating=False)
        if thresholds is not None:  # the plan's own fields and charges written first (usage_thresholds)
            session.flush()
            set_thresholds(session, plan, thresholds)

    plan, _ = edit_plan(organization_id=organization_id, code=code, cascade_updates=cascade_updates, change=change)
    return plan


def edit_plan(*, organization_id: str, code: str, cascade_updates: object,
              change: Callable[[Session, Plan], T]) -> tuple[Plan, T]:
    """The one way a plan is edited (its own fields, or one charge or filter of it): `change` applies the edit
    to the locked plan, then the edit cascades to the children when asked and enters the audit trail."""
    check = Checker({"cascade_updates": cascade_updates})
    cascade = bool(check.boolean("cascade_updates"))
    check.done()
    with unit_of_work() as uow:
        plan = locked_plan(uow.session, _get_plan_in(uow.session, organization_id, code).id)
        before = PlanTerms.of(plan)
        audited_before = audited_terms(plan)
        with uow.session.no_autoflush:
            outcome = change(uow.session, plan)
        plan.updated_at = utcnow()
        uow.session.flush()
        if cascade:
            cascade_to_children(uow.session, plan, before)
            uow.session.flush()
        plan = reload_plan(uow.session, plan.id)
        _record_plan(uow.session, plan, "plan.updated", audited_before, audited_terms(plan))
        return plan, outcome


def change_plan_metadata(*, organization_id: str, code: str, change: Callable[[dict | None], dict | None]) -> Plan:
    """Replace, merge or remove the plan's metadata (`billing.validation.item_metadata_change` and its kin)."""
    with unit_of_work() as uow:
        plan = locked_plan(uow.session, _get_plan_in(uow.session, organization_id, code).id)
        before = plan.metadata_
        plan.metadata_ = change(before)
        if plan.metadata_ != before:
            plan.updated_at = utcnow()
            _record_plan(uow.session, plan, "plan.updated", flatten({"metadata": before}),
                         flatten({"metadata": plan.metadata_}))
        return plan


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
        _record_plan(uow.session, plan, "plan.deleted", {"deleted_at": None}, {"deleted_at": plan.deleted_at})
        return plan
