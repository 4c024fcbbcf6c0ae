"""A subscription's charges one at a time (Lago's /subscriptions/{external_id}/charges): read and overridden.

The effective charges are those of the subscription's plan: its own copy (child plan) once it has overrides.
Overriding one goes through the plan overrides machinery (`services.apply_overrides`, as PUT /subscriptions
with `plan_overrides.charges` does): a new child plan carrying the subscription's earlier overrides and this one,
the same checks, one `subscription.overrides_changed` audit entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.catalog.charges import values_key
from billing.catalog.models import Charge, ChargeFilter
from billing.catalog.plan_charges import (
    charge_query,
    checked_filter,
    filter_query,
    find_charge,
    find_filter,
    refuse_unsupported,
    snapshot,
)
from billing.db import read_only, unit_of_work
from billing.errors import NotFound, ValidationFailed
from billing.pagination import Page, paginate
from billing.subscriptions.models import LIVE_STATUSES, STATUSES, Subscription
from billing.subscriptions.services import apply_overrides, find_live_subscription, find_subscription
from billing.validation import Checker

# NOTE: what a subscription may override of a charge (Lago's ChargeOverridableInput); the rest is the plan's.
OVERRIDABLE = ("invoice_display_name", "min_amount_cents", "properties", "filters", "tax_codes")


def _subscription(session: Session, organization_id: str, external_id: str, status: str | None, *,
                  live: bool = False) -> Subscription:
    """The subscription under `external_id`: the one with `status` when given (Lago's `subscription_status`),
    else the live one, else (to read) the latest ended one."""
    if status is not None:
        check = Checker({"subscription_status": status})
        check.choice("subscription_status", STATUSES)
        check.done()
        subscription = session.scalar(select(Subscription).where(
            Subscription.organization_id == organization_id, Subscription.external_id == external_id,
            Subscription.status == status).order_by(Subscription.created_at.desc()))
    elif live:
        subscription = find_live_subscription(session, organization_id, external_id)
    else:
        subscription = find_subscription(session, organization_id, external_id)
    if subscription is None:
        raise NotFound("subscription")
    return subscription


def list_subscription_charges(*, organization_id: str, external_id: str, status: str | None = None,
                              page: int = 1, per_page: int = 20) -> Page:
    with read_only() as session:
        subscription = _subscription(session, organization_id, external_id, status)
        return paginate(session, charge_query(subscription.plan_id), page=page, per_page=per_page)


def get_subscription_charge(*, organization_id: str, external_id: str, charge_code: str,
                            status: str | None = None) -> Charge:
    with read_only() as session:
        subscription = _subscription(session, organization_id, external_id, status)
        return find_charge(session, subscription.plan_id, charge_code)


def _override(organization_id: str, external_id: str, charge_code: str, status: str | None,
              fields_of: Callable[[Charge], Mapping[str, object]]) -> Charge:
    """Override one charge for the subscription with `fields_of(its effective charge)`, in one transaction."""
    with unit_of_work() as uow:
        subscription = _subscription(uow.session, organization_id, external_id, status, live=status is None)
        if subscription.status not in LIVE_STATUSES:
            raise ValidationFailed({"subscription": ["not_active"]})
        current = find_charge(uow.session, subscription.plan_id, charge_code)
        parent_id = current.parent_id or current.id
        try:
            apply_overrides(uow, subscription, {"charges": [{**fields_of(current), "id": parent_id}]})
        except ValidationFailed as error:
            raise ValidationFailed(_own_errors(error.details)) from None
        return uow.session.scalar(select(Charge).where(Charge.plan_id == subscription.plan_id,
                                                       Charge.parent_id == parent_id))


def _own_errors(details: Mapping[str, object]) -> Mapping[str, object]:
    """The errors of the one charge overridden, by its own fields (`plan_overrides.charges.0.x` is `x` here)."""
    inner = details.get("plan_overrides")
    own = inner.get("charges.0") if isinstance(inner, Mapping) and len(inner) == 1 else None
    if isinstance(own, Mapping):
        return own
    # Raised at once (the charge's tax_codes): keyed `plan_overrides.charges.<field>`.
    return {key.removeprefix("plan_overrides.charges."): reasons for key, reasons in details.items()}


def override_subscription_charge(*, organization_id: str, external_id: str, charge_code: str,
                                 data: Mapping[str, object], status: str | None = None) -> Charge:
    """Override a charge of the plan for this subscription only (its own copy of the plan, made if needed)."""
    refuse_unsupported(data, ("applied_pricing_unit",))
    return _override(organization_id, external_id, charge_code, status,
                     lambda _current: {key: data[key] for key in OVERRIDABLE if key in data})


# ---------------------------------------------------------------- filters


def list_subscription_charge_filters(*, organization_id: str, external_id: str, charge_code: str,
                                     status: str | None = None, page: int = 1,
                                     per_page: int = 20) -> tuple[Charge, Page]:
    with read_only() as session:
        charge = find_charge(session, _subscription(session, organization_id, external_id, status).plan_id,
                             charge_code)
        return charge, paginate(session, filter_query(charge.id), page=page, per_page=per_page)


def get_subscription_charge_filter(*, organization_id: str, external_id: str, charge_code: str, filter_id: str,
                                   status: str | None = None) -> tuple[Charge, ChargeFilter]:
    with read_only() as session:
        charge = find_charge(session, _subscription(session, organization_id, external_id, status).plan_id,
                             charge_code)
        return charge, find_filter(session, charge, filter_id)


def _as_input(charge_filter: ChargeFilter) -> dict[str, object]:
    return {"values": dict(charge_filter.values), "properties": dict(charge_filter.properties),
            "invoice_display_name": charge_filter.invoice_display_name}


def _edit_filters(organization_id: str, external_id: str, charge_code: str, status: str | None,
                  edit: Callable[[Charge], tuple[list[dict[str, object]], tuple | None]],
                  ) -> tuple[Charge, tuple | None]:
    """Override the charge's filters with `edit(effective charge) -> (its filters as input, values key to answer)`."""
    answer: list[tuple | None] = []

    def fields_of(current: Charge) -> dict[str, object]:
        filters, key = edit(current)
        answer.append(key)
        return {"filters": filters}

    return _override(organization_id, external_id, charge_code, status, fields_of), answer[0]


def create_subscription_charge_filter(*, organization_id: str, external_id: str, charge_code: str,
                                      data: Mapping[str, object],
                                      status: str | None = None) -> tuple[Charge, ChargeFilter]:
    if data.get("properties") is None:
        raise ValidationFailed({"properties": ["value_is_mandatory"]})

    def edit(charge: Charge):
        built = checked_filter(charge, _sent(data, {}), list(charge.filters))
        return [*map(_as_input, charge.filters), _as_input(built)], values_key(built.values)

    charge, key = _edit_filters(organization_id, external_id, charge_code, status, edit)
    return charge, next(f for f in charge.filters if values_key(f.values) == key)


def _sent(data: Mapping[str, object], current: Mapping[str, object]) -> dict[str, object]:
    return {**current, **{k: v for k, v in data.items() if k != "cascade_updates" and v is not None}}


def update_subscription_charge_filter(*, organization_id: str, external_id: str, charge_code: str,
                                      filter_id: str, data: Mapping[str, object],
                                      status: str | None = None) -> tuple[Charge, ChargeFilter]:
    """Change one filter of the subscription's charge (the override's filters are new rows: new ids)."""

    def edit(charge: Charge):
        target = next((f for f in charge.filters if f.id == filter_id), None)
        if target is None:
            raise NotFound("charge_filter")
        built = checked_filter(charge, _sent(data, _as_input(target)), [f for f in charge.filters if f is not target])
        return ([_as_input(built) if f is target else _as_input(f) for f in charge.filters],
                values_key(built.values))

    charge, key = _edit_filters(organization_id, external_id, charge_code, status, edit)
    return charge, next(f for f in charge.filters if values_key(f.values) == key)


def delete_subscription_charge_filter(*, organization_id: str, external_id: str, charge_code: str,
                                      filter_id: str, status: str | None = None) -> tuple[Charge, ChargeFilter]:
    removed: list[ChargeFilter] = []

    def edit(charge: Charge):
        target = next((f for f in charge.filters if f.id == filter_id), None)
        if target is None:
            raise NotFound("charge_filter")
        removed.append(snapshot(target))
        return [_as_input(f) for f in charge.filters if f is not target], None

    charge, _key = _edit_filters(organization_id, external_id, charge_code, status, edit)
    return charge, removed[0]
