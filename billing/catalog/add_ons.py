"""Add-ons: create, update, read, list, delete (by `code`, as Lago); one-off invoices bill them."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.audit.services import record
from billing.catalog.models import AddOn
from billing.catalog.taxes import taxes_for_codes
from billing.db import read_only, unit_of_work, utcnow
from billing.errors import NotFound, ValidationFailed
from billing.pagination import Page, paginate
from billing.validation import Checker


def _add_on_query(organization_id: str):
    return select(AddOn).where(AddOn.organization_id == organization_id, AddOn.deleted_at.is_(None))


def find_add_on(session: Session, organization_id: str, code: str) -> AddOn | None:
    return session.scalar(_add_on_query(organization_id).where(AddOn.code == code))


def find_add_ons(session: Session, organization_id: str, codes: list[str]) -> dict[str, AddOn]:
    """The live add-ons named by `codes`, by code (missing codes are simply absent)."""
    if not codes:
        return {}
    return {a.code: a for a in session.scalars(_add_on_query(organization_id).where(AddOn.code.in_(codes)))}


def _get_add_on_in(session: Session, organization_id: str, code: str) -> AddOn:
    add_on = find_add_on(session, organization_id, code)
    if add_on is None:
        raise NotFound("add_on")
    return add_on


def _apply(session: Session, add_on: AddOn, data: Mapping[str, object], *, creating: bool) -> None:
    """Check and set the fields sent (on update, only those present), as Lago's AddOn model validates them.

    NOTE: name and code are required, the code unique among the organization's live add-ons
    (`value_already_exist`), `amount_cents` an integer above 0 and `amount_currency` an ISO 4217
    code (lago-api `AddOn`: `numericality: {greater_than: 0}`, `inclusion: currency_list`);
    `tax_codes` replaces the add-on's taxes, an unknown code is 404 `tax_not_found`.
    """
    check = Checker(data)
    values: dict[str, object] = {}

    def sent(field: str) -> bool:
        return creating or data.get(field) is not None  # an explicit null means absent (API.md)

    for field in ("name", "code"):
        if sent(field):
            values[field] = check.string(field, required=True)
    if sent("amount_cents"):
        amount = check.amount_cents("amount_cents", required=True, minimum=None)
        if amount is not None and amount <= 0:
            check.fail("amount_cents", "value_is_out_of_range")
        values["amount_cents"] = amount
    if sent("amount_currency"):
        values["amount_currency"] = check.currency("amount_currency", required=True)
    if data.get("invoice_display_name") is not None:
        values["invoice_display_name"] = check.string("invoice_display_name")
    if data.get("description") is not None:
        values["description"] = check.text("description")
    code = values.get("code")
    if isinstance(code, str) and code != add_on.code:
        clash = find_add_on(session, add_on.organization_id, code)
        if clash is not None and clash.id != add_on.id:
            check.fail("code", "value_already_exist")
    check.done()
    for field, value in values.items():
        setattr(add_on, field, value)
    if data.get("tax_codes") is not None:
        add_on.taxes = taxes_for_codes(session, add_on.organization_id, data.get("tax_codes"))


def _save(session: Session, add_on: AddOn) -> None:
    try:
        with session.begin_nested():
            session.add(add_on)
            session.flush()
    except IntegrityError:
        # Two requests created the same code at once: the unique index decided.
        raise ValidationFailed({"code": ["value_already_exist"]}) from None


def _terms(add_on: AddOn) -> dict[str, object]:
    """What the audit trail compares of an add-on: its price, its names on invoices and its taxes."""
    return {"name": add_on.name, "code": add_on.code, "amount_cents": add_on.amount_cents,
            "amount_currency": add_on.amount_currency, "invoice_display_name": add_on.invoice_display_name,
            "description": add_on.description, "tax_codes": [tax.code for tax in add_on.taxes]}


def _record(session: Session, add_on: AddOn, action: str, before: dict | None, after: dict | None) -> None:
    record(session, organization_id=add_on.organization_id, action=action, object_type="add_on",
           object_id=add_on.id, object_label=add_on.name, before=before, after=after, currency=add_on.amount_currency)


def create_add_on(*, organization_id: str, data: Mapping[str, object]) -> AddOn:
    with unit_of_work() as uow:
        add_on = AddOn(organization_id=organization_id, taxes=[])
        with uow.session.no_autoflush:
            _apply(uow.session, add_on, data, creating=True)
        _save(uow.session, add_on)
        _record(uow.session, add_on, "add_on.created", None, _terms(add_on))
        return add_on


def update_add_on(*, organization_id: str, code: str, data: Mapping[str, object]) -> AddOn:
    """Edit an add-on; invoices already issued keep what they billed (their fees are copies)."""
    with unit_of_work() as uow:
        add_on = _get_add_on_in(uow.session, organization_id, code)
        before = _terms(add_on)
        with uow.session.no_autoflush:
            _apply(uow.session, add_on, data, creating=False)
        _save(uow.session, add_on)
        _record(uow.session, add_on, "add_on.updated", before, _terms(add_on))
        return add_on


def get_add_on(*, organization_id: str, code: str) -> AddOn:
    with read_only() as session:
        return _get_add_on_in(session, organization_id, code)


def list_add_ons(*, organization_id: str, page: int = 1, per_page: int = 20) -> Page:
    with read_only() as session:
        return paginate(session, _add_on_query(organization_id).order_by(AddOn.created_at.desc(), AddOn.id),
                        page=page, per_page=per_page)


def delete_add_on(*, organization_id: str, code: str) -> AddOn:
    """Delete the add-on, even one already billed: issued invoices keep their fees, its code is free again.

    NOTE: Lago discards (soft-deletes) an add-on whatever invoices it is on (lago-api
    `AddOns::DestroyService`); a one-off invoice can no longer name it (404 `add_on_not_found`).
    """
    with unit_of_work() as uow:
        add_on = _get_add_on_in(uow.session, organization_id, code)
        add_on.deleted_at = utcnow()
        uow.session.flush()
        _record(uow.session, add_on, "add_on.deleted", _terms(add_on), None)
        return add_on
