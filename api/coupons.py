"""/coupons (by `code`) and /applied_coupons: apply a coupon to a customer, list, terminate."""

from __future__ import annotations

from flask import request

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing import serializers
from billing.catalog import coupons as services


@bp.post("/coupons")
def create_coupon():
    return one("coupon", serializers.coupon(services.create_coupon(organization_id=organization_id(),
                                                                   data=body("coupon"))))


@bp.get("/coupons")
def list_coupons():
    return many("coupons", services.list_coupons(organization_id=organization_id(), **page_args()),
                serializers.coupon)


@bp.get("/coupons/<code>")
def get_coupon(code: str):
    return one("coupon", serializers.coupon(services.get_coupon(organization_id=organization_id(), code=code)))


@bp.put("/coupons/<code>")
def update_coupon(code: str):
    return one("coupon", serializers.coupon(services.update_coupon(organization_id=organization_id(), code=code,
                                                                   data=body("coupon"))))


@bp.delete("/coupons/<code>")
def delete_coupon(code: str):
    return one("coupon", serializers.coupon(services.delete_coupon(organization_id=organization_id(), code=code)))


@bp.post("/applied_coupons")
def apply_coupon():
    return one("applied_coupon", serializers.applied_coupon(
        services.apply_coupon(organization_id=organization_id(), data=body("applied_coupon"))))


@bp.get("/applied_coupons")
def list_applied_coupons():
    return applied_coupons_of(request.args.get("external_customer_id") or None)


def applied_coupons_of(external_customer_id: str | None):
    """The applied coupons list with the query's filters (also /customers/{id}/applied_coupons)."""
    page = services.list_applied_coupons(
        organization_id=organization_id(), external_customer_id=external_customer_id,
        status=request.args.get("status") or None, **page_args())
    return many("applied_coupons", page, serializers.applied_coupon)


@bp.delete("/customers/<external_customer_id>/applied_coupons/<applied_coupon_id>")
def terminate_applied_coupon(external_customer_id: str, applied_coupon_id: str):
    return one("applied_coupon", serializers.applied_coupon(services.terminate_applied_coupon(
        organization_id=organization_id(), external_customer_id=external_customer_id,
        applied_coupon_id=applied_coupon_id)))
