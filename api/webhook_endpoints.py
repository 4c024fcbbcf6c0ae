"""/webhook_endpoints: create, get, update, delete, list (by `lago_id`, as Lago); /webhooks: the public key
that verifies `jwt` webhooks."""

from __future__ import annotations

import base64

from flask import Response

from api.blueprint import api_blueprint as bp
from api.common import body, many, one, organization_id, page_args
from billing import serializers
from billing.webhooks import services


@bp.post("/webhook_endpoints")
def create_webhook_endpoint():
    endpoint = services.create_webhook_endpoint(organization_id=organization_id(), data=body("webhook_endpoint"))
    return one("webhook_endpoint", serializers.webhook_endpoint(endpoint))


@bp.get("/webhook_endpoints")
def list_webhook_endpoints():
    page = services.list_webhook_endpoints(organization_id=organization_id(), **page_args())
    return many("webhook_endpoints", page, serializers.webhook_endpoint)


@bp.get("/webhook_endpoints/<endpoint_id>")
def get_webhook_endpoint(endpoint_id: str):
    return one("webhook_endpoint", serializers.webhook_endpoint(
        services.get_webhook_endpoint(organization_id=organization_id(), endpoint_id=endpoint_id)))


@bp.put("/webhook_endpoints/<endpoint_id>")
def update_webhook_endpoint(endpoint_id: str):
    endpoint = services.update_webhook_endpoint(organization_id=organization_id(), endpoint_id=endpoint_id,
                                                data=body("webhook_endpoint"))
    return one("webhook_endpoint", serializers.webhook_endpoint(endpoint))


@bp.delete("/webhook_endpoints/<endpoint_id>")
def delete_webhook_endpoint(endpoint_id: str):
    return one("webhook_endpoint", serializers.webhook_endpoint(
        services.delete_webhook_endpoint(organization_id=organization_id(), endpoint_id=endpoint_id)))


def _public_key_base64() -> str:
    # NOTE: Lago answers the PEM public key in base64 (`Base64.encode64(RsaPublicKey.to_s)`); the
    # official clients decode it (lago-python-client `client.webhooks.public_key()` returns the PEM).
    pem = services.webhook_public_key(organization_id=organization_id())
    return base64.b64encode(pem.encode()).decode()


@bp.get("/webhooks/json_public_key")
def webhook_json_public_key():
    return one("webhook", {"public_key": _public_key_base64()})


@bp.get("/webhooks/public_key")
def webhook_public_key():
    """Lago's deprecated form of the same: the base64 text alone."""
    return Response(_public_key_base64(), mimetype="text/plain")
