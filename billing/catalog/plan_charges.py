"""A plan's charges and their filters one at a time (Lago's /plans/{code}/charges): edits of the plan itself.

Each edit goes through `services.edit_plan`, as PUT /plans does: the plan locked, the same checks
(`apply_charges`, `charge_filters`), `cascade_updates` to the overridden plans, one `plan.updated` audit entry.
A charge is created, changed or deleted by sending the plan its whole list of charges with that one change.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing.catalog.charges import apply_charges, charge_filters, forget_removed_filters, values_key
from billing.catalog.models import Charge, ChargeFilter, Plan
from billing.catalog.services import edit_plan, find_plan
from billing.db import read_only, utcnow
from billing.errors import NotFound, ValidationFailed
from billing.pagination import Page, paginate
from billing.validation import Checker

# Fields of Lago's charge input that Tally does not have (pricing units; wallet targeting): refused, not ignored.
UNSUPPORTED_CHARGE_FIELDS = ("applied_pricing_unit", "accepts_target_wallet")


def refuse_unsupported(data: Mapping[str, object], fields: tuple[str, ...] = UNSUPPORTED_CHARGE_FIELDS) -> None:
    errors = {field: ["not_supported_yet"] for field in fields if data.get(field) is not None}
    if errors:
        raise ValidationFailed(errors)


def charge_query(plan_id: str):
    return (select(Charge).where(Charge.plan_id == plan_id, Charge.deleted_at.is_(None))
            .options(selectinload(Charge.filters), selectinload(Charge.taxes))
            .order_by(Charge.created_at, Charge.id))


def filter_query(charge_id: str):
    return select(ChargeFilter).where(ChargeFilter.charge_id == charge_id).order_by(
        ChargeFilter.created_at, ChargeFilter.id)


def find_charge(session: Session, plan_id: str, charge_code: str) -> Charge:
    charge = session.scalar(charge_query(plan_id).where(Charge.code == charge_code))
    if charge is None:
        raise NotFound("charge")
    return charge


def find_filter(session: Session, charge: Charge, filter_id: str) -> ChargeFilter:
    found = session.scalar(filter_query(charge.id).where(ChargeFilter.id == filter_id))
    if found is None:
        raise NotFound("charge_filter")
    return found


def _plan(session: Session, organization_id: str, plan_code: str) -> Plan:
    plan = find_plan(session, organization_id, plan_code)
    if plan is None:
        raise NotFound("plan")
    return plan


def list_plan_charges(*, organization_id: str, plan_code: str, page: int = 1, per_page: int = 20) -> Page:
    with read_only() as session:
        return paginate(session, charge_query(_plan(session, organization_id, plan_code).id),
                        page=page, per_page=per_page)


def get_plan_charge(*, organization_id: str, plan_code: str, charge_code: str) -> Charge:
    with read_only() as session:
        return find_charge(session, _plan(session, organization_id, plan_code).id, charge_code)


def _charge_fields(data: Mapping[str, object]) -> dict[str, object]:
    """The charge as sent, less what is not the charge's: the path names it (never an `id` in the body)."""
    return {key: value for key, value in data.items() if key not in ("cascade_updates", "id")}


def _apply_one(session: Session, plan: Plan, index: int, charges: list[dict[str, object]]) -> None:
    """Send the plan its charges (as PUT /plans would); the one at `index` is the caller's, its errors its own."""
    errors: dict[str, object] = {}
    try:
        apply_charges(session, plan, charges, errors)
    except ValidationFailed as error:  # raised at once (a charge's tax_codes): keyed `charges.<index>.<field>`
        prefix = f"charges.{index}."
        raise ValidationFailed({key.removeprefix(prefix): reasons for key, reasons in error.details.items()}
                               ) from None
    if errors:
        own = errors.pop(f"charges.{index}", None)
        if errors or not isinstance(own, dict):  # another charge no longer passes (say, its tax is gone): say which
            raise ValidationFailed({**errors, **({f"charges.{index}": own} if own is not None else {})})
        raise ValidationFailed(own)
    session.flush()


def create_plan_charge(*, organization_id: str, plan_code: str, data: Mapping[str, object]) -> Charge:
    """Add a charge to a plan (with `cascade_updates`, to its overridden plans too)."""
    refuse_unsupported(data)

    def change(session: Session, plan: Plan) -> str:
        charges: list[dict[str, object]] = [{"id": c.id} for c in plan.charges]
        before = {c.id for c in plan.charges}
        _apply_one(session, plan, len(charges), [*charges, _charge_fields(data)])
        (created,) = (c for c in plan.charges if c.id not in before)
        return created.id

    plan, charge_id = edit_plan(organization_id=organization_id, code=plan_code,
                                cascade_updates=data.get("cascade_updates"), change=change)
    return next(c for c in plan.charges if c.id == charge_id)


def update_plan_charge(*, organization_id: str, plan_code: str, charge_code: str,
                       data: Mapping[str, object]) -> Charge:
    """Change one charge of a plan: the fields sent, the others kept (PUT /plans with that charge's `id`)."""
    refuse_unsupported(data)

    def change(session: Session, plan: Plan) -> str:
        target = find_charge(session, plan.id, charge_code)
        charges = [{**_charge_fields(data), "id": c.id} if c.id == target.id else {"id": c.id}
                   for c in plan.charges]
        _apply_one(session, plan, next(i for i, c in enumerate(charges) if c["id"] == target.id), charges)
        return target.id

    plan, charge_id = edit_plan(organization_id=organization_id, code=plan_code,
                                cascade_updates=data.get("cascade_updates"), change=change)
    return next(c for c in plan.charges if c.id == charge_id)


def delete_plan_charge(*, organization_id: str, plan_code: str, charge_code: str,
                       data: Mapping[str, object] | None = None) -> Charge:
    """Remove a charge from a plan (kept for past fees, as PUT /plans without it does)."""
    data = data or {}

    def change(session: Session, plan: Plan) -> str:
        target = find_charge(session, plan.id, charge_code)
        _apply_one(session, plan, -1, [{"id": c.id} for c in plan.charges if c.id != target.id])
        return target.id

    _plan_after, charge_id = edit_plan(organization_id=organization_id, code=plan_code,
                                       cascade_updates=data.get("cascade_updates"), change=change)
    with read_only() as session:
        return session.scalar(select(Charge).where(Charge.id == charge_id).options(
            selectinload(Charge.filters), selectinload(Charge.taxes)))


# ---------------------------------------------------------------- filters


def list_plan_charge_filters(*, organization_id: str, plan_code: str, charge_code: str, page: int = 1,
                             per_page: int = 20) -> tuple[Charge, Page]:
    with read_only() as session:
        charge = find_charge(session, _plan(session, organization_id, plan_code).id, charge_code)
        return charge, paginate(session, filter_query(charge.id), page=page, per_page=per_page)


def get_plan_charge_filter(*, organization_id: str, plan_code: str, charge_code: str,
                           filter_id: str) -> tuple[Charge, ChargeFilter]:
    with read_only() as session:
        charge = find_charge(session, _plan(session, organization_id, plan_code).id, charge_code)
        return charge, find_filter(session, charge, filter_id)


def checked_filter(charge: Charge, data: Mapping[str, object], others: list[ChargeFilter]) -> ChargeFilter:
    """One filter as sent, by the checks of a plan's `filters` (`charge_filters`), its errors keyed by its fields.

    NOTE: a filter whose values another filter of the charge already has is refused (`value_already_exist`):
    two filters for the same events would price them twice.
    """
    check = Checker(data)
    if not isinstance(data.get("values"), Mapping):
        check.fail("values", "value_is_mandatory" if data.get("values") is None else "invalid_type")
        check.done()
    inner = Checker({})
    built = charge_filters([data], charge.billable_metric, charge.charge_model, inner)
    for field, reasons in inner.errors.items():
        for reason in reasons:
            check.fail(field.removeprefix("filters.0."), reason)
    if built and any(values_key(f.values) == values_key(built[0].values) for f in others):
        check.fail("values", "value_already_exist")
    check.done()
    return built[0]


def _filter_fields(data: Mapping[str, object], current: ChargeFilter | None) -> dict[str, object]:
    """What a filter will say: the fields sent over the current ones (an update may send only some)."""
    merged: dict[str, object] = {} if current is None else {
        "values": current.values, "properties": current.properties,
        "invoice_display_name": current.invoice_display_name}
    merged.update({key: value for key, value in data.items() if key != "cascade_updates" and value is not None})
    return merged


def snapshot(charge_filter: ChargeFilter) -> ChargeFilter:
    """A detached copy of a filter about to be deleted, to answer with."""
    return ChargeFilter(id=charge_filter.id, charge_id=charge_filter.charge_id, values=dict(charge_filter.values),
                        properties=dict(charge_filter.properties),
                        invoice_display_name=charge_filter.invoice_display_name, created_at=charge_filter.created_at)


def create_plan_charge_filter(*, organization_id: str, plan_code: str, charge_code: str,
                              data: Mapping[str, object]) -> tuple[Charge, ChargeFilter]:
    if data.get("properties") is None:
        raise ValidationFailed({"properties": ["value_is_mandatory"]})

    def change(session: Session, plan: Plan) -> tuple[str, tuple]:
        charge = find_charge(session, plan.id, charge_code)
        built = checked_filter(charge, _filter_fields(data, None), list(charge.filters))
        charge.filters.append(built)
        charge.updated_at = utcnow()
        return charge.id, values_key(built.values)

    plan, (charge_id, key) = edit_plan(organization_id=organization_id, code=plan_code,
                                       cascade_updates=data.get("cascade_updates"), change=change)
    charge = next(c for c in plan.charges if c.id == charge_id)
    return charge, next(f for f in charge.filters if values_key(f.values) == key)


def update_plan_charge_filter(*, organization_id: str, plan_code: str, charge_code: str, filter_id: str,
                              data: Mapping[str, object]) -> tuple[Charge, ChargeFilter]:
    def change(session: Session, plan: Plan) -> str:
        charge = find_charge(session, plan.id, charge_code)
        current = next((f for f in charge.filters if f.id == filter_id), None)
        if current is None:
            raise NotFound("charge_filter")
        built = checked_filter(charge, _filter_fields(data, current), [f for f in charge.filters if f is not current])
        current.values, current.properties = built.values, built.properties
        current.invoice_display_name = built.invoice_display_name
        charge.updated_at = utcnow()
        return charge.id

    plan, charge_id = edit_plan(organization_id=organization_id, code=plan_code,
                                cascade_updates=data.get("cascade_updates"), change=change)
    charge = next(c for c in plan.charges if c.id == charge_id)
    return charge, next(f for f in charge.filters if f.id == filter_id)


def delete_plan_charge_filter(*, organization_id: str, plan_code: str, charge_code: str, filter_id: str,
                              data: Mapping[str, object] | None = None) -> tuple[Charge, ChargeFilter]:
    data = data or {}
    removed: list[ChargeFilter] = []

    def change(session: Session, plan: Plan) -> str:
        charge = find_charge(session, plan.id, charge_code)
        current = next((f for f in charge.filters if f.id == filter_id), None)
        if current is None:
            raise NotFound("charge_filter")
        removed.append(snapshot(current))
        forget_removed_filters(session, [current])
        charge.filters = [f for f in charge.filters if f is not current]
        charge.updated_at = utcnow()
        return charge.id

    plan, charge_id = edit_plan(organization_id=organization_id, code=plan_code,
                                cascade_updates=data.get("cascade_updates"), change=change)
    return next(c for c in plan.charges if c.id == charge_id), removed[0]
