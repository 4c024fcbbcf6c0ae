"""Charges and their filters as sub-resources: /plans/{code}/charges... and /subscriptions/{external_id}/charges...

One call each into billing.catalog.plan_charges (edits of the plan) and billing.subscriptions.charge_overrides
(a subscription's overrides). The routes name their last segments, so they win over /plans/<path:code>.
"""

from __future__ import annotations

from flask import request

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args, read_json
from billing import serializers
from billing.catalog import plan_charges
from billing.subscriptions import charge_overrides


def _optional(root: str) -> dict:
    """The object under `root` of an optional body (a DELETE's `cascade_updates`); {} without one."""
    data = read_json()
    return data[root] if isinstance(data, dict) and isinstance(data.get(root), dict) else {}


def _status() -> str | None:
    return request.args.get("subscription_status") or None


def _filter(result):
    charge, charge_filter = result
    return one("filter", serializers.charge_filter(charge_filter, charge.code))


def _filters(result):
    charge, page = result
    return many("filters", page, lambda f: serializers.charge_filter(f, charge.code))


# ---------------------------------------------------------------- a plan's charges


@bp.post("/plans/<path:code>/charges")
def create_plan_charge(code: str):
    return one("charge", serializers.charge(plan_charges.create_plan_charge(
        organization_id=organization_id(), plan_code=code, data=body("charge"))))


@bp.get("/plans/<path:code>/charges")
def list_plan_charges(code: str):
    return many("charges", plan_charges.list_plan_charges(organization_id=organization_id(), plan_code=code,
                                                          **page_args()), serializers.charge)


@bp.get("/plans/<path:code>/charges/<charge_code>")
def get_plan_charge(code: str, charge_code: str):
    return one("charge", serializers.charge(plan_charges.get_plan_charge(
        organization_id=organization_id(), plan_code=code, charge_code=charge_code)))


@bp.put("/plans/<path:code>/charges/<charge_code>")
def update_plan_charge(code: str, charge_code: str):
    return one("charge", serializers.charge(plan_charges.update_plan_charge(
        organization_id=organization_id(), plan_code=code, charge_code=charge_code, data=body("charge"))))


@bp.delete("/plans/<path:code>/charges/<charge_code>")
def delete_plan_charge(code: str, charge_code: str):
    return one("charge", serializers.charge(plan_charges.delete_plan_charge(
        organization_id=organization_id(), plan_code=code, charge_code=charge_code, data=_optional("charge"))))


@bp.post("/plans/<path:code>/charges/<charge_code>/filters")
def create_plan_charge_filter(code: str, charge_code: str):
    return _filter(plan_charges.create_plan_charge_filter(
        organization_id=organization_id(), plan_code=code, charge_code=charge_code, data=body("filter")))


@bp.get("/plans/<path:code>/charges/<charge_code>/filters")
def list_plan_charge_filters(code: str, charge_code: str):
    return _filters(plan_charges.list_plan_charge_filters(
        organization_id=organization_id(), plan_code=code, charge_code=charge_code, **page_args()))


@bp.get("/plans/<path:code>/charges/<charge_code>/filters/<filter_id>")
def get_plan_charge_filter(code: str, charge_code: str, filter_id: str):
    return _filter(plan_charges.get_plan_charge_filter(
        organization_id=organization_id(), plan_code=code, charge_code=charge_code, filter_id=filter_id))


@bp.put("/plans/<path:code>/charges/<charge_code>/filters/<filter_id>")
def update_plan_charge_filter(code: str, charge_code: str, filter_id: str):
    return _filter(plan_charges.update_plan_charge_filter(
        organization_id=organization_id(), plan_code=code, charge_code=charge_code, filter_id=filter_id,
        data=body("filter")))


@bp.delete("/plans/<path:code>/charges/<charge_code>/filters/<filter_id>")
def delete_plan_charge_filter(code: str, charge_code: str, filter_id: str):
    return _filter(plan_charges.delete_plan_charge_filter(
        organization_id=organization_id(), plan_code=code, charge_code=charge_code, filter_id=filter_id,
        data=_optional("filter")))


# ---------------------------------------------------------------- a subscription's charges


@bp.get("/subscriptions/<path:external_id>/charges")
def list_subscription_charges(external_id: str):
    return many("charges", charge_overrides.list_subscription_charges(
        organization_id=organization_id(), external_id=external_id, status=_status(), **page_args()),
        serializers.charge)


@bp.get("/subscriptions/<path:external_id>/charges/<charge_code>")
def get_subscription_charge(external_id: str, charge_code: str):
    return one("charge", serializers.charge(charge_overrides.get_subscription_charge(
        organization_id=organization_id(), external_id=external_id, charge_code=charge_code, status=_status())))


@bp.put("/subscriptions/<path:external_id>/charges/<charge_code>")
def override_subscription_charge(external_id: str, charge_code: str):
    return one("charge", serializers.charge(charge_overrides.override_subscription_charge(
        organization_id=organization_id(), external_id=external_id, charge_code=charge_code,
        data=body("charge"), status=_status())))


@bp.post("/subscriptions/<path:external_id>/charges/<charge_code>/filters")
def create_subscription_charge_filter(external_id: str, charge_code: str):
    return _filter(charge_overrides.create_subscription_charge_filter(
        organization_id=organization_id(), external_id=external_id, charge_code=charge_code,
        data=body("filter"), status=_status()))


@bp.get("/subscriptions/<path:external_id>/charges/<charge_code>/filters")
def list_subscription_charge_filters(external_id: str, charge_code: str):
    return _filters(charge_overrides.list_subscription_charge_filters(
        organization_id=organization_id(), external_id=external_id, charge_code=charge_code, status=_status(),
        **page_args()))


@bp.get("/subscriptions/<path:external_id>/charges/<charge_code>/filters/<filter_id>")
def get_subscription_charge_filter(external_id: str, charge_code: str, filter_id: str):
    return _filter(charge_overrides.get_subscription_charge_filter(
        organization_id=organization_id(), external_id=external_id, charge_code=charge_code, filter_id=filter_id,
        status=_status()))


@bp.put("/subscriptions/<path:external_id>/charges/<charge_code>/filters/<filter_id>")
def update_subscription_charge_filter(external_id: str, charge_code: str, filter_id: str):
    return _filter(charge_overrides.update_subscription_charge_filter(
        organization_id=organization_id(), external_id=external_id, charge_code=charge_code, filter_id=filter_id,
        data=body("filter"), status=_status()))


@bp.delete("/subscriptions/<path:external_id>/charges/<charge_code>/filters/<filter_id>")
def delete_subscription_charge_filter(external_id: str, charge_code: str, filter_id: str):
    return _filter(charge_overrides.delete_subscription_charge_filter(
        organization_id=organization_id(), external_id=external_id, charge_code=charge_code, filter_id=filter_id,
        status=_status()))
