from __future__ import annotations

from flask import Blueprint, Response, g, request

from api.errors import register_error_handlers, register_routing_errors, unauthorized
from billing.organizations.services import forget_api_key, organization_exists, organization_for_api_key

api_blueprint = Blueprint("api", __name__)
PUBLIC_ENDPOINTS = frozenset({"api.openapi_document"})  # the API's description, public as Lago's
register_error_handlers(api_blueprint)
register_routing_errors(api_blueprint)


@api_blueprint.before_request
def authenticate() -> None:
    """Every API request names its organization by its bearer key; nothing else identifies a tenant."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    organization_id = organization_for_api_key(secret.strip()) if scheme.lower() == "bearer" else None
    if organization_id is None:
        return unauthorized()
    g.organization_id = organization_id
    return None


@api_blueprint.after_request
def organization_gone(response: Response) -> Response:
    """A key of a deleted organization answers 401, even while this process still remembers it.

    Within API_KEY_CACHE_SECONDS of the deletion, the cache still names the organization: a write
    then fails on its missing row (404 organization_not_found, or a foreign-key error). Only those
    answers pay for the extra lookup.
    """
    if response.status_code in (404, 500) and "organization_id" in g and not organization_exists(g.organization_id):
        forget_api_key(request.headers.get("Authorization", "").partition(" ")[2].strip())
        return unauthorized()
    return response


from api import (  # noqa: E402,F401  (resource modules register their routes on the blueprint)
    add_ons,
    analytics,
    billable_metrics,
    coupons,
    credit_notes,
    customers,
    events,
    fees,
    invoices,
    openapi,
    payment_methods,
    payment_requests,
    payments,
    plans,
    subscriptions,
    taxes,
    wallets,
    webhook_endpoints,
)
