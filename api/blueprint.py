from __future__ import annotations

from flask import Blueprint, Response, g, request

from api.errors import register_error_handlers, register_routing_errors, unauthorized, unserved_nested_path
from api.refusals import refuse_unsupported
from billing.audit.actors import Actor, act_as, stop_acting
from billing.organizations.services import api_key_for_secret, forget_api_key, organization_exists

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
    key = api_key_for_secret(secret.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        return unauthorized()
    g.organization_id = key.organization_id
    # What this request changes is recorded in the audit trail under this key.
    g.actor_token = act_as(Actor(kind="api_key", id=key.key_id, label=key.prefix))
    return None


# After authentication: a path under a record that no route serves answers 404 (api/errors.py);
# a field Tally does not honour yet is refused before any handler writes (api/refusals.py).
api_blueprint.before_request(unserved_nested_path)
api_blueprint.before_request(refuse_unsupported)


@api_blueprint.teardown_request
def stop_acting_for_request(_error) -> None:
    token = g.pop("actor_token", None)
    if token is not None:
        stop_acting(token)


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
    alerts,
    analytics,
    billable_metrics,
    charges,
    coupons,
    credit_notes,
    customer_resources,
    customers,
    entitlements,
    events,
    fees,
    invoices,
    metadata,
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
