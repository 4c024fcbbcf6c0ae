"""/subscriptions: create, get, list, terminate (DELETE issues the final invoice at once); lifetime usage."""

from __future__ import annotations

from flask import request

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args, read_json
from billing import lifecycle, serializers
from billing.invoicing import lifetime_usage
from billing.subscriptions import services
from billing.subscriptions.periods import current_period


def _serialize(subscription):
    period = current_period(subscription) if subscription.status == "active" else None
    return serializers.subscription(subscription, period=period, change=services.plan_change_of(subscription))


@bp.post("/subscriptions")
def create_subscription():
    subscription = lifecycle.create_subscription(organization_id=organization_id(), data=body("subscription"))
    return one("subscription", _serialize(subscription))


@bp.get("/subscriptions")
def list_subscriptions():
    return subscriptions_of(request.args.get("external_customer_id"))


def subscriptions_of(external_customer_id: str | None):
    """The subscriptions list with the query's filters (also /customers/{id}/subscriptions)."""
    statuses = request.args.getlist("status[]") or request.args.getlist("status") or None
    page = services.list_subscriptions(organization_id=organization_id(),
                                       external_customer_id=external_customer_id,
                                       plan_code=request.args.get("plan_code"), statuses=statuses, **page_args())
    return many("subscriptions", page, _serialize)


@bp.get("/subscriptions/<path:external_id>")
def get_subscription(external_id: str):
    # Lago's SubscriptionObjectExtended: the usage thresholds its (overridden) plan gives it.
    subscription = services.get_subscription(organization_id=organization_id(), external_id=external_id)
    return one("subscription", {**_serialize(subscription), "applicable_usage_thresholds": [
        serializers.applicable_usage_threshold(t) for t in subscription.plan.usage_thresholds]})


@bp.get("/subscriptions/<path:external_id>/lifetime_usage")
def get_lifetime_usage(external_id: str):
    return one("lifetime_usage", serializers.lifetime_usage(lifetime_usage.get_lifetime_usage(
        organization_id=organization_id(), external_id=external_id)))


@bp.put("/subscriptions/<path:external_id>/lifetime_usage")
def update_lifetime_usage(external_id: str):
    return one("lifetime_usage", serializers.lifetime_usage(lifetime_usage.update_lifetime_usage(
        organization_id=organization_id(), external_id=external_id, data=body("lifetime_usage"))))


@bp.put("/subscriptions/<path:external_id>")
def update_subscription(external_id: str):
    subscription = services.update_subscription(organization_id=organization_id(), external_id=external_id,
                                                data=body("subscription"))
    return one("subscription", _serialize(subscription))


@bp.delete("/subscriptions/<path:external_id>")
def terminate_subscription(external_id: str):
    # Lago's options come as query parameters (lago-python-client: `destroy(id, {...})`), or in a JSON body.
    options = {name: request.args.get(name) for name in ("on_termination_credit_note", "on_termination_invoice")
               if name in request.args}
    data = read_json()
    if isinstance(data, dict):
        options = {**data, **options}
    subscription = lifecycle.terminate_subscription(organization_id=organization_id(), external_id=external_id,
                                                   options=options)
    return one("subscription", _serialize(subscription))
