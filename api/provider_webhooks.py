"""Inbound payment provider webhooks: `POST /webhooks/<kind>/<organization id>?code=CODE`.

A machine endpoint, outside the bearer-key API: the provider proves who it is by signing the body with the
secret stored for that code (billing.payments.inbound verifies it). So it is exempt from CSRF, reads the raw
body (a signature covers the bytes, not a parsed document) within the app's body limit, and answers in
Lago's error format. Neither the body nor the signature header is ever logged.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from api.errors import error_response
from billing.errors import NotFound
from billing.payments import inbound, providers
from billing.payments.interface import ProviderError, SignatureInvalid

log = logging.getLogger(__name__)

provider_webhooks_blueprint = Blueprint("provider_webhooks", __name__)

# The answer a provider waits for, where it is not any 2xx: Adyen's notifications are acknowledged with the
# body `[accepted]` (applied, already applied, or nothing to do alike).
_ACKNOWLEDGEMENTS = {"adyen": "[accepted]"}


def _no_provider():
    return error_response(404, "Not Found", "payment_provider_not_found")


@provider_webhooks_blueprint.errorhandler(RequestEntityTooLarge)
def _too_large(_error: RequestEntityTooLarge):
    return error_response(413, "Request Entity Too Large", "payload_too_large")


@provider_webhooks_blueprint.post("/webhooks/<kind>/<organization_id>")
def receive(kind: str, organization_id: str):
    """Verify and apply one provider event; 200 once it is applied (or was, or needs nothing)."""
    code = request.args.get("code", "").strip()
    if not code:
        return _no_provider()
    try:
        connected = providers.get_provider(organization_id=organization_id, code=code)
    except NotFound:
        return _no_provider()
    if connected.kind != kind:  # a Stripe URL never reaches an Adyen account's secret, and the reverse
        return _no_provider()
    if not connected.readable:
        # SECRET_KEY changed since the provider was connected: nothing can be verified. 503 so that the
        # provider keeps the event and sends it again once the provider is connected again.
        log.warning("inbound %s webhook for organization %s, code %s: settings unreadable, connect it again",
                    kind, organization_id, code)
        return error_response(503, "Service Unavailable", "payment_provider_settings_unreadable")
    payload = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: RequestEntityTooLarge (413)
    try:
        received = inbound.receive_provider_webhook(organization_id=organization_id, code=code, payload=payload,
                                                    headers=dict(request.headers))
    except SignatureInvalid:
        log.info("inbound %s webhook for organization %s, code %s: signature refused", kind, organization_id, code)
        return error_response(400, "BadRequest: invalid signature", "webhook_signature_invalid")
    except NotFound:
        return _no_provider()
    except ProviderError as error:  # signed, but not an event the adapter can read
        log.warning("inbound %s webhook for organization %s, code %s: unreadable event (%s)",
                    kind, organization_id, code, error.code)
        return error_response(400, "BadRequest: unreadable event", "webhook_payload_invalid")
    log.info("inbound %s webhook for organization %s, code %s: event %s %s",
             kind, organization_id, code, received.event_id, received.outcome)
    if kind in _ACKNOWLEDGEMENTS:
        return Response(_ACKNOWLEDGEMENTS[kind], status=200, mimetype="text/plain")
    return {"status": 200, "outcome": received.outcome, "event_id": received.event_id}
