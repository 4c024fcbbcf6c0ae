"""/features (with their privileges), /plans/:code/entitlements and /subscriptions/:external_id/entitlements."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import BadRequest

from api.blueprint import api_blueprint as bp
from api.common import body, json_body, many, one, organization_id, page_args
from billing import serializers
from billing.entitlements import features, services


def _entitlements_sent() -> object:
    data = json_body()
    if data.get("entitlements") is None:
        raise BadRequest("param is missing or the value is empty: entitlements")
    return data["entitlements"]


def _plan_list(granted):
    return {"entitlements": [serializers.plan_entitlement(g) for g in granted]}


def _subscription_list(granted):
    return {"entitlements": [serializers.subscription_entitlement(g) for g in granted]}


def _status() -> str | None:
    return request.args.get("subscription_status") or None


# ---------------------------------------------------------------- features


@bp.post("/features")
def create_feature():
    return one("feature", serializers.feature(features.create_feature(organization_id=organization_id(),
                                                                      data=body("feature"))))


@bp.get("/features")
def list_features():
    page = features.list_features(organization_id=organization_id(),
                                  search_term=request.args.get("search_term") or None, **page_args())
    return many("features", page, serializers.feature)


@bp.get("/features/<path:code>")
def get_feature(code: str):
    return one("feature", serializers.feature(features.get_feature(organization_id=organization_id(), code=code)))


@bp.put("/features/<path:code>")
def update_feature(code: str):
    return one("feature", serializers.feature(features.update_feature(organization_id=organization_id(), code=code,
                                                                      data=body("feature"))))


@bp.delete("/features/<path:code>")
def delete_feature(code: str):
    return one("feature", serializers.feature(features.delete_feature(organization_id=organization_id(), code=code)))


@bp.delete("/features/<path:code>/privileges/<privilege_code>")
def delete_feature_privilege(code: str, privilege_code: str):
    return one("feature", serializers.feature(features.delete_privilege(
        organization_id=organization_id(), code=code, privilege_code=privilege_code)))


# ---------------------------------------------------------------- a plan's entitlements


@bp.post("/plans/<path:code>/entitlements")
def create_plan_entitlements(code: str):
    return _plan_list(services.replace_plan_entitlements(organization_id=organization_id(), plan_code=code,
                                                         entitlements=_entitlements_sent()))


@bp.get("/plans/<path:code>/entitlements")
def list_plan_entitlements(code: str):
    return _plan_list(services.list_plan_entitlements(organization_id=organization_id(), plan_code=code))


@bp.patch("/plans/<path:code>/entitlements")
def update_plan_entitlements(code: str):
    return _plan_list(services.update_plan_entitlements(organization_id=organization_id(), plan_code=code,
                                                        entitlements=_entitlements_sent()))


@bp.get("/plans/<path:code>/entitlements/<feature_code>")
def get_plan_entitlement(code: str, feature_code: str):
    return one("entitlement", serializers.plan_entitlement(services.get_plan_entitlement(
        organization_id=organization_id(), plan_code=code, feature_code=feature_code)))


@bp.delete("/plans/<path:code>/entitlements/<feature_code>")
def delete_plan_entitlement(code: str, feature_code: str):
    return one("entitlement", serializers.plan_entitlement(services.delete_plan_entitlement(
        organization_id=organization_id(), plan_code=code, feature_code=feature_code)))


@bp.delete("/plans/<path:code>/entitlements/<feature_code>/privileges/<privilege_code>")
def delete_plan_entitlement_privilege(code: str, feature_code: str, privilege_code: str):
    return one("entitlement", serializers.plan_entitlement(services.delete_plan_entitlement_privilege(
        organization_id=organization_id(), plan_code=code, feature_code=feature_code, privilege_code=privilege_code)))


# ---------------------------------------------------------------- a subscription's entitlements


@bp.get("/subscriptions/<path:external_id>/entitlements")
def list_subscription_entitlements(external_id: str):
    return _subscription_list(services.subscription_entitlements(organization_id=organization_id(),
                                                                 external_id=external_id, status=_status()))


@bp.patch("/subscriptions/<path:external_id>/entitlements")
def update_subscription_entitlements(external_id: str):
    return _subscription_list(services.update_subscription_entitlements(
        organization_id=organization_id(), external_id=external_id, entitlements=_entitlements_sent(),
        status=_status()))


def _changed(change: services.SubscriptionChange):
    # NOTE: Lago's OpenAPI answers the feature (`entitlement`); lago-api's controller answers the subscription's
    # whole list (`entitlements`). Both are sent, so a client reading either finds it.
    return {"entitlement": serializers.subscription_entitlement(change.feature)} | _subscription_list(change.features)


@bp.delete("/subscriptions/<path:external_id>/entitlements/<feature_code>")
def delete_subscription_entitlement(external_id: str, feature_code: str):
    return _changed(services.delete_subscription_entitlement(
        organization_id=organization_id(), external_id=external_id, feature_code=feature_code, status=_status()))


@bp.delete("/subscriptions/<path:external_id>/entitlements/<feature_code>/privileges/<privilege_code>")
def delete_subscription_entitlement_privilege(external_id: str, feature_code: str, privilege_code: str):
    return _changed(services.delete_subscription_entitlement_privilege(
        organization_id=organization_id(), external_id=external_id, feature_code=feature_code,
        privilege_code=privilege_code, status=_status()))
