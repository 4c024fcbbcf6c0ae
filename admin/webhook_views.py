"""Webhooks: the endpoints, the organization's signing key, and the delivery log with every attempt."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from admin.blueprint import admin_blueprint, organization_id, requested_page
from billing.webhooks import services as webhooks
from billing.webhooks.models import DELIVERY_STATUSES
from web.htmx import render_page

WEBHOOKS_PAGE = "admin/webhooks.html"
DELIVERY_PAGE = "admin/webhook_delivery.html"
DELIVERIES_PER_PAGE = 25


@admin_blueprint.get("/webhooks")
def webhook_list() -> ResponseReturnValue:
    status = request.args.get("status") or None
    if status not in DELIVERY_STATUSES:
        status = None
    deliveries = webhooks.list_deliveries(organization_id=organization_id(), status=status, page=requested_page(),
                                          per_page=DELIVERIES_PER_PAGE)
    endpoints = webhooks.list_webhook_endpoints(organization_id=organization_id(), per_page=100)
    uses_jwt = any(e.signature_algo == "jwt" for e in endpoints.items)
    return render_page(WEBHOOKS_PAGE, "deliveries", deliveries=deliveries, endpoints=endpoints.items,
                       status=status, statuses=DELIVERY_STATUSES,
                       hmac_key=webhooks.hmac_key(organization_id=organization_id()) if endpoints.items else None,
                       public_key=webhooks.webhook_public_key(organization_id=organization_id()) if uses_jwt else None)


@admin_blueprint.get("/webhooks/deliveries/<delivery_id>")
def webhook_delivery(delivery_id: str) -> ResponseReturnValue:
    delivery = webhooks.get_delivery(organization_id=organization_id(), delivery_id=delivery_id)
    return render_page(DELIVERY_PAGE, "attempts", delivery=delivery)
