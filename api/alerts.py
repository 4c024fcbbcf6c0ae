"""/subscriptions/{external_id}/alerts and /customers/{external_customer_id}/wallets/{wallet_code}/alerts (Lago's
usage monitoring): create one or a batch, list, get, update, delete one or all."""

from __future__ import annotations

from flask import jsonify, request
from werkzeug.exceptions import BadRequest

from api.blueprint import api_blueprint as bp
from api.common import body, json_body, many, one, organization_id, page_args
from billing import serializers
from billing.alerts import services

_SUBSCRIPTION = "/subscriptions/<path:external_id>/alerts"
_WALLET = "/customers/<path:external_customer_id>/wallets/<wallet_code>/alerts"


def _status() -> str | None:
    return request.args.get("subscription_status") or None


def _alerts_body() -> tuple[list, bool]:
    """`{"alert": {...}}`, or `{"alerts": [...]}` (Lago's batch, created all or none); whether it is the batch."""
    data = json_body()
    if "alerts" in data:
        if not isinstance(data["alerts"], list) or not data["alerts"]:
            raise BadRequest("param is missing or the value is empty: alerts")
        return data["alerts"], True
    return [body("alert")], False


def _created(made: list, batch: bool):
    if batch:
        return jsonify({"alerts": [serializers.alert(a) for a in made]})
    return one("alert", serializers.alert(made[0]))


@bp.get(_SUBSCRIPTION)
def list_subscription_alerts(external_id: str):
    page = services.list_subscription_alerts(organization_id=organization_id(), external_id=external_id,
                                             subscription_status=_status(), **page_args())
    return many("alerts", page, serializers.alert)


@bp.post(_SUBSCRIPTION)
def create_subscription_alerts(external_id: str):
    items, batch = _alerts_body()
    made = services.create_subscription_alerts(organization_id=organization_id(), external_id=external_id,
                                               items=items, batch=batch, subscription_status=_status())
    return _created(made, batch)


@bp.delete(_SUBSCRIPTION)
def delete_subscription_alerts(external_id: str):
    services.delete_subscription_alerts(organization_id=organization_id(), external_id=external_id,
                                        subscription_status=_status())
    return jsonify({})


@bp.get(f"{_SUBSCRIPTION}/<code>")
def get_subscription_alert(external_id: str, code: str):
    return one("alert", serializers.alert(services.get_subscription_alert(
        organization_id=organization_id(), external_id=external_id, code=code, subscription_status=_status())))


@bp.put(f"{_SUBSCRIPTION}/<code>")
def update_subscription_alert(external_id: str, code: str):
    return one("alert", serializers.alert(services.update_subscription_alert(
        organization_id=organization_id(), external_id=external_id, code=code, data=body("alert"),
        subscription_status=_status())))


@bp.delete(f"{_SUBSCRIPTION}/<code>")
def delete_subscription_alert(external_id: str, code: str):
    return one("alert", serializers.alert(services.delete_subscription_alert(
        organization_id=organization_id(), external_id=external_id, code=code, subscription_status=_status())))


@bp.get(_WALLET)
def list_wallet_alerts(external_customer_id: str, wallet_code: str):
    page = services.list_wallet_alerts(organization_id=organization_id(), external_customer_id=external_customer_id,
                                       wallet_code=wallet_code, **page_args())
    return many("alerts", page, serializers.alert)


@bp.post(_WALLET)
def create_wallet_alerts(external_customer_id: str, wallet_code: str):
    items, batch = _alerts_body()
    made = services.create_wallet_alerts(organization_id=organization_id(), external_customer_id=external_customer_id,
                                         wallet_code=wallet_code, items=items, batch=batch)
    return _created(made, batch)


@bp.delete(_WALLET)
def delete_wallet_alerts(external_customer_id: str, wallet_code: str):
    services.delete_wallet_alerts(organization_id=organization_id(), external_customer_id=external_customer_id,
                                  wallet_code=wallet_code)
    return jsonify({})


@bp.get(f"{_WALLET}/<code>")
def get_wallet_alert(external_customer_id: str, wallet_code: str, code: str):
    return one("alert", serializers.alert(services.get_wallet_alert(
        organization_id=organization_id(), external_customer_id=external_customer_id, wallet_code=wallet_code,
        code=code)))


@bp.put(f"{_WALLET}/<code>")
def update_wallet_alert(external_customer_id: str, wallet_code: str, code: str):
    return one("alert", serializers.alert(services.update_wallet_alert(
        organization_id=organization_id(), external_customer_id=external_customer_id, wallet_code=wallet_code,
        code=code, data=body("alert"))))


@bp.delete(f"{_WALLET}/<code>")
def delete_wallet_alert(external_customer_id: str, wallet_code: str, code: str):
    return one("alert", serializers.alert(services.delete_wallet_alert(
        organization_id=organization_id(), external_customer_id=external_customer_id, wallet_code=wallet_code,
        code=code)))
