"""Taxes: create, update, read, list, delete; resolve the `tax_codes` sent for customers, plans and charges."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.audit.services import record
from billing.catalog.models import Tax
from billing.db import read_only, unit_of_work
from billing.errors import NotFound, ValidationFailed
from billing.pagination import Page, paginate
from billing.validation import Checker


def find_tax(session: Session, organization_id: str, code: str) -> Tax | None:
    return session.scalar(select(Tax).where(Tax.organization_id == organization_id, Tax.code == code))


def _get_tax_in(session: Session, organization_id: str, code: str) -> Tax:
    tax = find_tax(session, organization_id, code)
    if tax is None:
        raise NotFound("tax")
    return tax


def taxes_for_codes(session: Session, organization_id: str, codes: object, field: str = "tax_codes") -> list[Tax]:
    """The taxes named by `codes` (a list of tax codes, as sent); 404 `tax_not_found` for an unknown code.

    NOTE: Lago answers an unknown tax code on a customer, plan or charge with 404 tax_not_found.
    """
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise ValidationFailed({field: ["invalid_type"]})
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return []
    found = {t.code: t for t in session.scalars(select(Tax).where(Tax.organization_id == organization_id,
                                                                 Tax.code.in_(wanted)))}
    if len(found) != len(wanted):
        raise NotFound("tax")
    return [found[c] for c in wanted]


def organization_taxes(session: Session, organization_id: str) -> list[Tax]:
    """The organization's default taxes (`applied_to_organization`)."""
    return list(session.scalars(select(Tax).where(Tax.organization_id == organization_id,
                                                  Tax.applied_to_organization.is_(True)).order_by(Tax.code)))


def _apply(session: Session, tax: Tax, data: Mapping[str, object], *, creating: bool) -> None:
    check = Checker(data)
    name = check.string("name", required=creating)
    code = check.string("code", required=creating)
    rate = check.decimal("rate", required=creating)
    if rate is not None and rate > Decimal(100):
        check.fail("rate", "value_is_out_of_range")
    description = check.text("description")
    applied = check.boolean("applied_to_organization")
    if code and code != tax.code:
        clash = find_tax(session, tax.organization_id, code)
        if clash is not None and clash.id != tax.id:
            check.fail("code", "value_already_exist")
    check.done()
    for attribute, value in (("name", name), ("code", code), ("rate", rate), ("applied_to_organization", applied)):
        if value is not None:
            setattr(tax, attribute, value)
    if "description" in data:
        tax.description = description


def _terms(tax: Tax) -> dict[str, object]:
    """What the audit trail compares of a tax: its rate, its names and whether it is the organization's default."""
    return {"name": tax.name, "code": tax.code, "rate": tax.rate, "description": tax.description,
            "applied_to_organization": tax.applied_to_organization}


def _record(session: Session, tax: Tax, action: str, before: dict | None, after: dict | None) -> None:
    record(session, organization_id=tax.organization_id, action=action, object_type="tax", object_id=tax.id,
           object_label=tax.name, before=before, after=after)


def create_tax(*, organization_id: str, data: Mapping[str, object]) -> Tax:
    with unit_of_work() as uow:
        tax = Tax(organization_id=organization_id, applied_to_organization=False)
        _apply(uow.session, tax, data, creating=True)
        uow.session.add(tax)
        uow.session.flush()
        _record(uow.session, tax, "tax.created", None, _terms(tax))
        return tax


def update_tax(*, organization_id: str, code: str, data: Mapping[str, object]) -> Tax:
    """Edit a tax; invoices already issued keep the tax as it was (their applied taxes are copies)."""
    with unit_of_work() as uow:
        tax = _get_tax_in(uow.session, organization_id, code)
        before = _terms(tax)
        _apply(uow.session, tax, data, creating=False)
        uow.session.flush()
        _record(uow.session, tax, "tax.updated", before, _terms(tax))
        return tax


def get_tax(*, organization_id: str, code: str) -> Tax:
    with read_only() as session:
        return _get_tax_in(session, organization_id, code)


def list_taxes(*, organization_id: str, page: int = 1, per_page: int = 20) -> Page:
    query = select(Tax).where(Tax.organization_id == organization_id).order_by(Tax.code, Tax.id)
    with read_only() as session:
        return paginate(session, query, page=page, per_page=per_page)


def delete_tax(*, organization_id: str, code: str) -> Tax:
    """Delete the tax and its links to customers, plans and charges; issued invoices keep their copies."""
    with unit_of_work() as uow:
        tax = _get_tax_in(uow.session, organization_id, code)
        _record(uow.session, tax, "tax.deleted", _terms(tax), None)
        uow.session.delete(tax)
        uow.session.flush()
        return tax
