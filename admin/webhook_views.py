"""Webhooks: the endpoints (create, edit, delete, send a test), the organization's signing key, and the delivery
log with every attempt. Endpoints are saved through the service the API's /webhook_endpoints uses."""

from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from admin.blueprint import admin_blueprint, organization_id, requested_page
from admin.forms import WebhookEndpointForm
from billing.errors import ValidationFailed
from billing.webhooks import services as webhooks
from billing.webhooks.models import DELIVERY_STATUSES, WebhookEndpoint
from web.htmx import render_page
from web.responses import refused_status, saved
from wording import notices
from wording.webhooks import webhook_errors

WEBHOOKS_PAGE = "admin/webhooks.html"
DELIVERY_PAGE = "admin/webhook_delivery.html"
ENDPOINT_FORM_PAGE = "admin/webhook_endpoint_form.html"
ENDPOINT_DELETE_PAGE = "admin/webhook_endpoint_delete.html"
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


def pretty_json(body: str) -> str:
    """A webhook's body indented for reading (as sent, when it is not JSON)."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


@admin_blueprint.get("/webhooks/deliveries/<delivery_id>")
def webhook_delivery(delivery_id: str) -> ResponseReturnValue:
    delivery = webhooks.get_delivery(organization_id=organization_id(), delivery_id=delivery_id)
    return render_page(DELIVERY_PAGE, "attempts", delivery=delivery, body=pretty_json(delivery.body))


def _service_data(form: WebhookEndpointForm) -> dict[str, object]:
    """The form as the service's Lago-shaped data; webhook types typed one per line (or separated by commas)."""
    types = [t.strip() for t in (form.event_types.data or "").replace(",", "\n").splitlines() if t.strip()]
    return {"webhook_url": (form.webhook_url.data or "").strip() or None,
            "name": (form.name.data or "").strip() or None,
            "signature_algo": form.signature_algo.data or "hmac", "event_types": types or None}


def _render_form(form: WebhookEndpointForm, endpoint: WebhookEndpoint | None,
                 errors: dict[str, list[str]]) -> ResponseReturnValue:
    return render_page(ENDPOINT_FORM_PAGE, "endpoint_form", status=refused_status() if errors else 200, form=form,
                       endpoint=endpoint, errors=errors, emitted_types=webhooks.EMITTED_TYPES)


def _saved(notice: str, endpoint: WebhookEndpoint) -> ResponseReturnValue:
    flash(notices.notice(notice, url=endpoint.webhook_url))
    return saved(url_for("admin.webhook_list"))


@admin_blueprint.route("/webhooks/endpoints/new", methods=["GET", "POST"])
def webhook_endpoint_new() -> ResponseReturnValue:
    form = WebhookEndpointForm()
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        try:
            endpoint = webhooks.create_webhook_endpoint(organization_id=organization_id(), data=_service_data(form))
        except ValidationFailed as failed:
            errors = webhook_errors(failed.details)
        else:
            return _saved("webhook_endpoint_created", endpoint)
    return _render_form(form, None, errors)


@admin_blueprint.route("/webhooks/endpoints/<endpoint_id>/edit", methods=["GET", "POST"])
def webhook_endpoint_edit(endpoint_id: str) -> ResponseReturnValue:
    endpoint = webhooks.get_webhook_endpoint(organization_id=organization_id(), endpoint_id=endpoint_id)
    if request.method == "POST":
        form = WebhookEndpointForm()
    else:
        form = WebhookEndpointForm(data={"webhook_url": endpoint.webhook_url, "name": endpoint.name or "",
                                         "signature_algo": endpoint.signature_algo,
                                         "event_types": "\n".join(endpoint.event_types or [])})
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        try:
            changed = webhooks.update_webhook_endpoint(organization_id=organization_id(), endpoint_id=endpoint_id,
                                                       data=_service_data(form))
        except ValidationFailed as failed:
            errors = webhook_errors(failed.details)
        else:
            return _saved("webhook_endpoint_saved", changed)
    return _render_form(form, endpoint, errors)


@admin_blueprint.route("/webhooks/endpoints/<endpoint_id>/delete", methods=["GET", "POST"])
def webhook_endpoint_delete(endpoint_id: str) -> ResponseReturnValue:
    """GET asks for confirmation (and says what happens to deliveries not sent yet); POST deletes."""
    endpoint = webhooks.get_webhook_endpoint(organization_id=organization_id(), endpoint_id=endpoint_id)
    if request.method == "POST":
        webhooks.delete_webhook_endpoint(organization_id=organization_id(), endpoint_id=endpoint_id)
        flash(notices.notice("webhook_endpoint_deleted", url=endpoint.webhook_url))
        return redirect(url_for("admin.webhook_list"), code=303)
    return render_template(ENDPOINT_DELETE_PAGE, endpoint=endpoint)


@admin_blueprint.post("/webhooks/endpoints/<endpoint_id>/test")
def webhook_endpoint_test(endpoint_id: str) -> ResponseReturnValue:
    """Send the endpoint a signed test webhook through the outbox: it shows in the log with its answer."""
    endpoint = webhooks.get_webhook_endpoint(organization_id=organization_id(), endpoint_id=endpoint_id)
    webhooks.send_test_webhook(organization_id=organization_id(), endpoint_id=endpoint_id)
    flash(notices.notice("webhook_test_sent", url=endpoint.webhook_url))
    return redirect(url_for("admin.webhook_list"), code=303)
