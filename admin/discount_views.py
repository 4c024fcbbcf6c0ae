"""Taxes and coupons: list and create them; apply a coupon to a customer from its page."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

import wording
from admin.blueprint import admin_blueprint, organization_id
from admin.customer_views import render_customer
from admin.forms import ApplyCouponForm, CouponForm, TaxForm
from billing.catalog import coupons, taxes
from billing.errors import BillingError, NotFound, ValidationFailed
from billing.screens import overview
from web.htmx import is_htmx_request, render_page
from web.responses import refused_status
from wording import notices

DISCOUNTS_PAGE = "admin/discounts.html"


def _render(*, tax_form: TaxForm | None = None, coupon_form: CouponForm | None = None,
            tax_errors: dict | None = None, coupon_errors: dict | None = None, block: str = "content",
            status: int = 200) -> ResponseReturnValue:
    org = organization_id()
    return render_page(DISCOUNTS_PAGE, block, status=status,
                       taxes=taxes.list_taxes(organization_id=org, per_page=100).items,
                       coupons=coupons.list_coupons(organization_id=org, per_page=100).items,
                       tax_form=tax_form or TaxForm(prefix="tax"),
                       coupon_form=coupon_form or CouponForm(prefix="coupon"),
                       tax_errors=tax_errors or {}, coupon_errors=coupon_errors or {})


def _errors(failed: BillingError) -> dict[str, list[str]]:
    if isinstance(failed, ValidationFailed):
        return wording.field_errors(failed.details)
    field = "code" if isinstance(failed, NotFound) else "form"
    return {field: [wording.reason(field, getattr(failed, "code", str(failed)))]}


@admin_blueprint.get("/discounts")
def discount_list() -> ResponseReturnValue:
    return _render()


@admin_blueprint.post("/discounts/taxes")
def tax_new() -> ResponseReturnValue:
    form = TaxForm(prefix="tax")
    if not form.validate_on_submit():
        return _render(tax_form=form, tax_errors={"form": [notices.refusal("check_the_form")]}, block="taxes",
                       status=refused_status())
    try:
        tax = taxes.create_tax(organization_id=organization_id(), data={
            "name": form.name.data, "code": form.code.data, "rate": form.rate.data,
            "description": form.description.data or None, "applied_to_organization": form.applied_to_organization.data})
    except BillingError as failed:
        return _render(tax_form=form, tax_errors=_errors(failed), block="taxes",
                       status=refused_status())
    flash(notices.notice("tax_created", name=tax.name))
    return _render(block="taxes") if is_htmx_request() else redirect(url_for("admin.discount_list"), code=303)


@admin_blueprint.post("/discounts/coupons")
def coupon_new() -> ResponseReturnValue:
    form = CouponForm(prefix="coupon")
    if not form.validate_on_submit():
        return _render(coupon_form=form, coupon_errors={"form": [notices.refusal("check_the_form")]}, block="coupons",
                       status=refused_status())
    percentage = form.coupon_type.data == "percentage"
    data = {"name": form.name.data, "code": form.code.data, "coupon_type": form.coupon_type.data,
            "frequency": form.frequency.data, "frequency_duration": form.frequency_duration.data or None,
            "reusable": form.reusable.data,
            "expiration": "time_limit" if form.expiration_at.data else "no_expiration",
            "expiration_at": form.expiration_at.data or None}
    if percentage:
        data["percentage_rate"] = form.value.data
    else:
        data["amount_cents"] = form.amount_cents()
        data["amount_currency"] = (form.currency.data or "").upper() or None
    try:
        coupon = coupons.create_coupon(organization_id=organization_id(), data=data)
    except BillingError as failed:
        return _render(coupon_form=form, coupon_errors=_errors(failed), block="coupons",
                       status=refused_status())
    flash(notices.notice("coupon_created", name=coupon.name))
    return _render(block="coupons") if is_htmx_request() else redirect(url_for("admin.discount_list"), code=303)


@admin_blueprint.post("/customers/<customer_id>/coupons")
def customer_apply_coupon(customer_id: str) -> ResponseReturnValue:
    form = ApplyCouponForm()
    summary = overview.customer_summary(organization_id=organization_id(), customer_id=customer_id)
    if not form.validate_on_submit():
        return render_customer(customer_id, "coupons", status=refused_status(),
                               coupon_error=notices.refusal("choose_a_coupon"))
    try:
        coupons.apply_coupon(organization_id=organization_id(), data={
            "external_customer_id": summary.external_id, "coupon_code": request.form.get("coupon_code")})
    except BillingError as failed:
        message = "; ".join(m for messages in _errors(failed).values() for m in messages)
        return render_customer(customer_id, "coupons", status=refused_status(),
                               coupon_error=message)
    return render_customer(customer_id, "coupons", coupon_error=None, coupon_applied=True)
