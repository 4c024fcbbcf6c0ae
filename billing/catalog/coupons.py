"""Coupons (create, update, read, list, delete) and the coupons applied to customers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from decimal import Decimal

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from billing.audit.services import record
from billing.catalog.models import (
    COUPON_EXPIRATIONS,
    COUPON_FREQUENCIES,
    COUPON_TYPES,
    AppliedCoupon,
    BillableMetric,
    Coupon,
    Plan,
)
from billing.customers.models import Customer
from billing.customers.services import get_customer_in
from billing.db import read_only, unit_of_work, utcnow
from billing.errors import NotFound
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.validation import Checker

# ---------------------------------------------------------------- coupons


def _coupon_query(organization_id: str):
    return select(Coupon).where(Coupon.organization_id == organization_id, Coupon.deleted_at.is_(None))


def find_coupon(session: Session, organization_id: str, code: str) -> Coupon | None:
    return session.scalar(_coupon_query(organization_id).where(Coupon.code == code))


def _get_coupon_in(session: Session, organization_id: str, code: str) -> Coupon:
    coupon = find_coupon(session, organization_id, code)
    if coupon is None:
        raise NotFound("coupon")
    return coupon


def is_expired(coupon: Coupon) -> bool:
    """NOTE: a `time_limit` coupon can no longer be applied once `expiration_at` has passed (Lago docs
    "Coupons": the expiration date is the date after which the coupon can no longer be redeemed)."""
    return coupon.status == "terminated" or (
        coupon.expiration == "time_limit" and coupon.expiration_at is not None
        and coupon.expiration_at <= runtime.clock.now())


def _targets(session: Session, organization_id: str, data: Mapping[str, object],
             check: Checker) -> tuple[list[Plan] | None, list[BillableMetric] | None]:
    """`applies_to: {plan_codes, billable_metric_codes}` (Lago's): the plans or metrics the coupon is limited to."""
    applies_to = data.get("applies_to")
    if applies_to is None:
        return None, None
    if not isinstance(applies_to, Mapping):
        check.fail("applies_to", "invalid_type")
        return None, None
    plan_codes = applies_to.get("plan_codes") or []
    metric_codes = applies_to.get("billable_metric_codes") or []
    if not isinstance(plan_codes, list) or not isinstance(metric_codes, list) or not all(
            isinstance(c, str) for c in [*plan_codes, *metric_codes]):
        check.fail("applies_to", "invalid_type")
        return None, None
    if plan_codes and metric_codes:
        check.fail("applies_to", "only_plans_or_billable_metrics")  # Lago: one kind of limit per coupon
        return None, None
    plans = list(session.scalars(select(Plan).where(
        Plan.organization_id == organization_id, Plan.code.in_(plan_codes), Plan.parent_id.is_(None),
        Plan.deleted_at.is_(None)))) if plan_codes else []
    metrics = list(session.scalars(select(BillableMetric).where(
        BillableMetric.organization_id == organization_id, BillableMetric.code.in_(metric_codes),
        BillableMetric.deleted_at.is_(None)))) if metric_codes else []
    if len(plans) != len(set(plan_codes)):
        raise NotFound("plan")
    if len(metrics) != len(set(metric_codes)):
        raise NotFound("billable_metric")
    return plans, metrics


def _apply_coupon(session: Session, coupon: Coupon, data: Mapping[str, object], *, creating: bool) -> None:
    check = Checker(data)
    name = check.string("name", required=creating)
    code = check.string("code", required=creating)
    description = check.text("description")
    coupon_type = check.choice("coupon_type", COUPON_TYPES, required=creating) or coupon.coupon_type
    amount_cents = check.amount_cents("amount_cents")
    currency = check.currency("amount_currency")
    rate = check.decimal("percentage_rate")
    frequency = check.choice("frequency", COUPON_FREQUENCIES, required=creating) or coupon.frequency
    duration = check.integer("frequency_duration", minimum=1)
    expiration = check.choice("expiration", COUPON_EXPIRATIONS, required=creating) or coupon.expiration
    expiration_at = check.datetime("expiration_at")
    reusable = check.boolean("reusable")
    in_use = not creating and _coupon_applied(session, coupon)
    if in_use:
        # NOTE: once applied, a coupon's terms are what its customers were given; only its name,
        # description and expiration change (Lago's coupon update on an applied coupon).
        for frozen in ("coupon_type", "amount_cents", "amount_currency", "percentage_rate", "frequency",
                       "frequency_duration", "reusable", "applies_to"):
            if data.get(frozen) is not None:
                check.fail(frozen, "coupon_is_applied")
    if code and code != coupon.code:
        clash = find_coupon(session, coupon.organization_id, code)
        if clash is not None and clash.id != coupon.id:
            check.fail("code", "value_already_exist")
    amount_cents = amount_cents if amount_cents is not None else coupon.amount_cents
    currency = currency or coupon.amount_currency
    rate = rate if rate is not None else coupon.percentage_rate
    if coupon_type == "fixed_amount":
        if amount_cents is None:
            check.fail("amount_cents", "value_is_mandatory")
        if currency is None:
            check.fail("amount_currency", "value_is_mandatory")
    elif coupon_type == "percentage":
        if rate is None:
            check.fail("percentage_rate", "value_is_mandatory")
        elif rate > Decimal(100):
            check.fail("percentage_rate", "value_is_out_of_range")
    duration = duration if duration is not None else coupon.frequency_duration
    if frequency == "recurring" and not duration:
        check.fail("frequency_duration", "value_is_mandatory")
    expiration_at = expiration_at or coupon.expiration_at
    if expiration == "time_limit":
        if expiration_at is None:
            check.fail("expiration_at", "value_is_mandatory")
        elif "expiration_at" in data and data["expiration_at"] is not None and expiration_at <= runtime.clock.now():
            check.fail("expiration_at", "invalid_date")  # Lago: an expiration date in the past
    plans, metrics = _targets(session, coupon.organization_id, data, check) if not in_use else (None, None)
    check.done()
    coupon.name = name or coupon.name
    coupon.code = code or coupon.code
    if "description" in data:
        coupon.description = description
    coupon.coupon_type = coupon_type
    coupon.frequency = frequency
    coupon.frequency_duration = duration if frequency == "recurring" else None
    coupon.expiration = expiration
    coupon.expiration_at = expiration_at if expiration == "time_limit" else None
    if coupon_type == "fixed_amount":
        coupon.amount_cents, coupon.amount_currency, coupon.percentage_rate = amount_cents, currency, None
    else:
        coupon.amount_cents, coupon.amount_currency, coupon.percentage_rate = None, None, rate
    if reusable is not None:
        coupon.reusable = reusable
    if plans is not None:
        coupon.plans = plans
        coupon.billable_metrics = metrics or []
        coupon.limited_plans = bool(plans)
        coupon.limited_billable_metrics = bool(metrics)


def _terms(coupon: Coupon) -> dict[str, object]:
    """What the audit trail compares of a coupon: its terms, what it is limited to and whether it is live."""
    return {
        "name": coupon.name, "code": coupon.code, "description": coupon.description,
        "coupon_type": coupon.coupon_type, "amount_cents": coupon.amount_cents,
        "amount_currency": coupon.amount_currency, "percentage_rate": coupon.percentage_rate,
        "frequency": coupon.frequency, "frequency_duration": coupon.frequency_duration,
        "reusable": coupon.reusable, "expiration": coupon.expiration,
        "expiration_at": coupon.expiration_at.astimezone(UTC) if coupon.expiration_at else None,
        "plan_codes": sorted(p.code for p in coupon.plans),
        "billable_metric_codes": sorted(m.code for m in coupon.billable_metrics),
        "status": coupon.status,
    }


def _record_coupon(session: Session, coupon: Coupon, action: str, before: dict | None, after: dict | None) -> None:
    record(session, organization_id=coupon.organization_id, action=action, object_type="coupon",
           object_id=coupon.id, object_label=coupon.name, before=before, after=after,
           currency=coupon.amount_currency or (before or {}).get("amount_currency"))


def _coupon_applied(session: Session, coupon: Coupon) -> bool:
    return bool(coupon.id) and bool(session.scalar(select(exists().where(AppliedCoupon.coupon_id == coupon.id))))


def create_coupon(*, organization_id: str, data: Mapping[str, object]) -> Coupon:
    with unit_of_work() as uow:
        coupon = Coupon(organization_id=organization_id, reusable=True, limited_plans=False,
                        limited_billable_metrics=False, status="active", plans=[], billable_metrics=[])
        with uow.session.no_autoflush:
            _apply_coupon(uow.session, coupon, data, creating=True)
        uow.session.add(coupon)
        uow.session.flush()
        _record_coupon(uow.session, coupon, "coupon.created", None, _terms(coupon))
        return coupon


def update_coupon(*, organization_id: str, code: str, data: Mapping[str, object]) -> Coupon:
    with unit_of_work() as uow:
        coupon = _get_coupon_in(uow.session, organization_id, code)
        before = _terms(coupon)
        with uow.session.no_autoflush:
            _apply_coupon(uow.session, coupon, data, creating=False)
        uow.session.flush()
        _record_coupon(uow.session, coupon, "coupon.updated", before, _terms(coupon))
        return coupon


def get_coupon(*, organization_id: str, code: str) -> Coupon:
    with read_only() as session:
        return _get_coupon_in(session, organization_id, code)


def list_coupons(*, organization_id: str, page: int = 1, per_page: int = 20) -> Page:
    with read_only() as session:
        return paginate(session, _coupon_query(organization_id).order_by(Coupon.created_at.desc(), Coupon.id),
                        page=page, per_page=per_page)


def delete_coupon(*, organization_id: str, code: str) -> Coupon:
    """Delete the coupon and end its applications: customers who had it keep what it already took off."""
    with unit_of_work() as uow:
        coupon = _get_coupon_in(uow.session, organization_id, code)
        before = _terms(coupon)
        now = utcnow()
        coupon.deleted_at = now
        coupon.status, coupon.terminated_at = "terminated", coupon.terminated_at or now
        ended = 0
        for applied in uow.session.scalars(select(AppliedCoupon).where(
                AppliedCoupon.coupon_id == coupon.id, AppliedCoupon.status == "active").with_for_update(
                of=AppliedCoupon)):
            applied.status, applied.terminated_at = "terminated", now
            ended += 1
        uow.session.flush()
        # The deleted terms as they were, and how many customers lost the coupon with them.
        _record_coupon(uow.session, coupon, "coupon.deleted", {**before, "active_applications": ended}, None)
        return coupon


# ---------------------------------------------------------------- applied coupons


def apply_coupon(*, organization_id: str, data: Mapping[str, object]) -> AppliedCoupon:
    """Give a coupon to a customer, possibly with other terms (Lago's applied_coupon overrides)."""
    check = Checker(data)
    external_customer_id = check.string("external_customer_id", required=True)
    coupon_code = check.string("coupon_code", required=True)
    amount_cents = check.amount_cents("amount_cents")
    currency = check.currency("amount_currency")
    rate = check.decimal("percentage_rate")
    frequency = check.choice("frequency", COUPON_FREQUENCIES)
    duration = check.integer("frequency_duration", minimum=1)
    check.done()
    with unit_of_work() as uow:
        session = uow.session
        customer = get_customer_in(session, organization_id, external_customer_id)
        # One application at a time per customer: the reusable check below must see the others.
        session.scalar(select(Customer.id).where(Customer.id == customer.id).with_for_update())
        coupon = find_coupon(session, organization_id, coupon_code)
        if coupon is None or is_expired(coupon):
            raise NotFound("coupon")
        frequency = frequency or coupon.frequency
        applied = AppliedCoupon(
            organization_id=organization_id, coupon=coupon, customer=customer,
            status="active", frequency=frequency,
            amount_cents=amount_cents if amount_cents is not None else coupon.amount_cents,
            amount_currency=currency or coupon.amount_currency,
            percentage_rate=rate if rate is not None else coupon.percentage_rate,
            frequency_duration=(duration or coupon.frequency_duration) if frequency == "recurring" else None)
        errors = Checker({})
        if coupon.coupon_type == "fixed_amount":
            applied.percentage_rate = None
            applied.amount_cents_remaining = applied.amount_cents if frequency == "once" else None
            if customer.currency and applied.amount_currency != customer.currency:
                errors.fail("currency", "currencies_does_not_match")
        else:
            applied.amount_cents = applied.amount_currency = None
        if frequency == "recurring":
            if not applied.frequency_duration:
                errors.fail("frequency_duration", "value_is_mandatory")
            applied.frequency_duration_remaining = applied.frequency_duration
        if not coupon.reusable and session.scalar(select(exists().where(
                AppliedCoupon.coupon_id == coupon.id, AppliedCoupon.customer_id == customer.id))):
            # NOTE: Lago: a coupon that is not reusable is applied to a customer once only.
            errors.fail("coupon", "coupon_is_not_reusable")
        errors.done()
        session.add(applied)
        session.flush()
        _record_application(session, applied, "customer.coupon_applied", None, _application_terms(applied))
        return applied


def _application_terms(applied: AppliedCoupon) -> dict[str, object]:
    """What the audit trail says of a coupon given to a customer: which coupon, on what terms, what is left."""
    return {"coupon_code": applied.coupon.code, "amount_cents": applied.amount_cents,
            "percentage_rate": applied.percentage_rate, "frequency": applied.frequency,
            "frequency_duration": applied.frequency_duration,
            "remaining_amount_cents": applied.amount_cents_remaining,
            "frequency_duration_remaining": applied.frequency_duration_remaining}


def _record_application(session: Session, applied: AppliedCoupon, action: str, before: dict | None,
                        after: dict | None) -> None:
    """An application is the customer's change (its next invoices): recorded on the customer, in its History."""
    customer = applied.customer
    record(session, organization_id=applied.organization_id, action=action, object_type="customer",
           object_id=customer.id, object_label=customer.name or customer.external_id, before=before, after=after,
           currency=applied.amount_currency)


def list_applied_coupons(*, organization_id: str, external_customer_id: str | None = None,
                         customer_id: str | None = None, status: str | None = None,
                         page: int = 1, per_page: int = 20) -> Page:
    query = select(AppliedCoupon).where(AppliedCoupon.organization_id == organization_id)
    if external_customer_id:
        query = query.join(Customer, Customer.id == AppliedCoupon.customer_id).where(
            Customer.external_id == external_customer_id, Customer.deleted_at.is_(None))
    if customer_id:
        query = query.where(AppliedCoupon.customer_id == customer_id)
    if status:
        query = query.where(AppliedCoupon.status == status)
    with read_only() as session:
        return paginate(session, query.order_by(AppliedCoupon.created_at.desc(), AppliedCoupon.id),
                        page=page, per_page=per_page)


def terminate_applied_coupon(*, organization_id: str, external_customer_id: str,
                             applied_coupon_id: str) -> AppliedCoupon:
    with unit_of_work() as uow:
        customer = get_customer_in(uow.session, organization_id, external_customer_id)
        applied = uow.session.scalar(select(AppliedCoupon).where(
            AppliedCoupon.id == str(applied_coupon_id), AppliedCoupon.customer_id == customer.id).with_for_update(
            of=AppliedCoupon))
        if applied is None:
            raise NotFound("applied_coupon")
        if applied.status == "active":
            applied.status, applied.terminated_at = "terminated", utcnow()
            _record_application(uow.session, applied, "customer.coupon_removed", _application_terms(applied), None)
        uow.session.flush()
        return applied

