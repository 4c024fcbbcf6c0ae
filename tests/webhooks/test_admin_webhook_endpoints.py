"""The admin's webhook endpoints: create, edit, delete (asked first), "Send test" delivered signed to a real
receiver, the customer form's customer.created / customer.updated, and the delivery page's readable body."""

from __future__ import annotations

import html as html_text
import re

from sqlalchemy import func, select

from billing.db import read_only
from billing.webhooks import services as webhooks
from billing.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.web.conftest import csrf_token_in

HTMX = {"HX-Request": "true"}


def _token(client, url: str = "/admin/webhooks/endpoints/new") -> str:
    return csrf_token_in(client.get(url).get_data(as_text=True))


def _endpoints(organization_id: str) -> list[WebhookEndpoint]:
    return webhooks.list_webhook_endpoints(organization_id=organization_id, per_page=100).items


def _deliveries(organization_id: str) -> int:
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.organization_id == organization_id))


def _field_error(html: str, field: str) -> str:
    match = re.search(rf'data-field="{field}".*?(?:<p class="field-error"[^>]*>(.*?)</p>|</div>)', html, re.S)
    return html_text.unescape(match.group(1) or "") if match else ""


def test_create_an_endpoint_through_the_form(signed_in, org):
    page = signed_in.get("/admin/webhooks").get_data(as_text=True)
    assert 'href="/admin/webhooks/endpoints/new"' in page
    form = signed_in.get("/admin/webhooks/endpoints/new").get_data(as_text=True)
    assert ">URL</label>" in form and ">Signature</label>" in form and ">Webhook types</label>" in form

    response = signed_in.post("/admin/webhooks/endpoints/new", data={
        "csrf_token": _token(signed_in), "webhook_url": " https://hooks.example.com/tally ", "name": "Production",
        "signature_algo": "jwt", "event_types": "invoice.created\ninvoice.voided, invoice.created"}, headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/admin/webhooks"
    [endpoint] = _endpoints(org.id)
    assert (endpoint.webhook_url, endpoint.name, endpoint.signature_algo, endpoint.event_types) == (
        "https://hooks.example.com/tally", "Production", "jwt", ["invoice.created", "invoice.voided"])
    listed = signed_in.get("/admin/webhooks").get_data(as_text=True)
    assert "Endpoint https://hooks.example.com/tally added" in listed and f'data-endpoint="{endpoint.id}"' in listed
    assert 'id="jwt-public-key"' in listed  # a jwt endpoint: its public key is shown


def test_refused_input_shows_each_reason_by_its_field_and_writes_nothing(signed_in, org):
    blank = signed_in.post("/admin/webhooks/endpoints/new", data={
        "csrf_token": _token(signed_in), "webhook_url": "", "signature_algo": "rsa", "event_types": "Invoice Created"},
        headers=HTMX)
    html = blank.get_data(as_text=True)
    assert blank.status_code == 200 and "<html" not in html and "The endpoint was not saved" in html
    assert _field_error(html, "webhook_url") == "Required: the address Tally POSTs the webhooks to"
    assert _field_error(html, "signature_algo") == "HMAC or JWT"
    assert _field_error(html, "event_types") == (
        "One webhook type per line, written object.event, e.g. invoice.created")

    for url, reason in (("ftp://hooks.example.com/x", "An http:// or https:// address"),
                        ("http://127.0.0.1:9/hooks", "This address is on a private or local network")):
        refused = signed_in.post("/admin/webhooks/endpoints/new", data={
            "csrf_token": _token(signed_in), "webhook_url": url, "signature_algo": "hmac"})
        assert refused.status_code == 422
        assert _field_error(refused.get_data(as_text=True), "webhook_url").startswith(reason)
    assert _endpoints(org.id) == []


def test_edit_and_delete_an_endpoint(signed_in, org):
    endpoint = webhooks.create_webhook_endpoint(organization_id=org.id, data={
        "webhook_url": "https://hooks.example.com/a", "event_types": ["invoice.created"]})
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": "https://hooks.example.com/b"})
    url = f"/admin/webhooks/endpoints/{endpoint.id}/edit"
    form = signed_in.get(url).get_data(as_text=True)
    assert 'value="https://hooks.example.com/a"' in form and "invoice.created</textarea>" in form

    taken = signed_in.post(url, data={"csrf_token": _token(signed_in, url), "webhook_url": "https://hooks.example.com/b",
                                      "signature_algo": "hmac"})
    assert _field_error(taken.get_data(as_text=True), "webhook_url") == "Another endpoint already has this address"
    saved = signed_in.post(url, data={"csrf_token": _token(signed_in, url), "webhook_url": "https://hooks.example.com/c",
                                      "name": "Staging", "signature_algo": "hmac", "event_types": ""})
    assert saved.status_code == 303
    changed = webhooks.get_webhook_endpoint(organization_id=org.id, endpoint_id=endpoint.id)
    assert (changed.webhook_url, changed.name, changed.event_types) == ("https://hooks.example.com/c", "Staging", None)

    delete_url = f"/admin/webhooks/endpoints/{endpoint.id}/delete"
    asked = signed_in.get(delete_url).get_data(as_text=True)
    assert "Delete this webhook endpoint?" in asked and "https://hooks.example.com/c" in asked
    assert len(_endpoints(org.id)) == 2  # asking deletes nothing
    deleted = signed_in.post(delete_url, data={"csrf_token": csrf_token_in(asked)})
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/admin/webhooks"
    assert [e.webhook_url for e in _endpoints(org.id)] == ["https://hooks.example.com/b"]
    assert "Endpoint https://hooks.example.com/c deleted" in signed_in.get("/admin/webhooks").get_data(as_text=True)


def test_send_test_arrives_signed_and_shows_in_the_log_with_its_answer(signed_in, org, clock, receiver, run_jobs):
    # Limited to invoices: a test still reaches it.
    endpoint = webhooks.create_webhook_endpoint(organization_id=org.id, data={
        "webhook_url": receiver.url, "event_types": ["invoice.created"]})
    response = signed_in.post(f"/admin/webhooks/endpoints/{endpoint.id}/test",
                              data={"csrf_token": _token(signed_in, "/admin/webhooks")})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/webhooks"
    run_jobs()

    [received] = receiver.of_type("webhook_endpoint.test")
    assert received.signed_with(webhooks.hmac_key(organization_id=org.id))
    assert received.headers["X-Lago-Signature-Algorithm"] == "hmac"
    body = received.json
    assert (body["object_type"], body["organization_id"]) == ("webhook_endpoint", org.id)
    assert body["webhook_endpoint"]["lago_id"] == endpoint.id and body["webhook_endpoint"]["sent_at"]

    log = signed_in.get("/admin/webhooks").get_data(as_text=True)
    assert "Test webhook sent to" in log and "webhook_endpoint.test" in log and "HTTP 200" in log
    [delivery] = webhooks.list_deliveries(organization_id=org.id).items
    assert received.headers["X-Lago-Unique-Key"] == delivery.id
    detail = signed_in.get(f"/admin/webhooks/deliveries/{delivery.id}").get_data(as_text=True)
    # Pretty-printed (indent 2) and wrapped by its class, never one 6,000-pixel line.
    assert '<pre class="small mono webhook-body">{\n  &#34;webhook_type&#34;: &#34;webhook_endpoint.test&#34;' in detail
    assert "HTTP 200" in detail


def test_the_customer_form_sends_customer_created_then_customer_updated(signed_in, org, clock, receiver, run_jobs):
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": receiver.url})
    from tests.web.test_admin_customer_form import EMPTY_FORM

    token = _token(signed_in, "/admin/customers/new")
    signed_in.post("/admin/customers/new", data={**EMPTY_FORM, "csrf_token": token, "external_id": "hooked",
                                                  "name": "Hooked", "country": "DE"})
    [created] = [d for d in webhooks.list_deliveries(organization_id=org.id).items]
    customer_id = created.object_id
    signed_in.post(f"/admin/customers/{customer_id}/edit", data={**EMPTY_FORM, "csrf_token": token,
                                                                  "name": "Hooked GmbH", "country": "DE"})
    run_jobs()
    key = webhooks.hmac_key(organization_id=org.id)
    [sent] = receiver.of_type("customer.created")
    [updated] = receiver.of_type("customer.updated")
    assert sent.signed_with(key) and updated.signed_with(key)
    assert (sent.json["customer"]["external_id"], sent.json["customer"]["name"]) == ("hooked", "Hooked")
    assert updated.json["customer"]["name"] == "Hooked GmbH" and updated.json["customer"]["country"] == "DE"


def test_another_organizations_endpoint_is_a_404(signed_in, org, other_org):
    theirs = webhooks.create_webhook_endpoint(organization_id=other_org, data={
        "webhook_url": "https://globex.example.com/hooks"})
    token = _token(signed_in)
    base = f"/admin/webhooks/endpoints/{theirs.id}"
    assert signed_in.get(f"{base}/edit").status_code == 404
    assert signed_in.get(f"{base}/delete").status_code == 404
    assert signed_in.post(f"{base}/edit", data={"csrf_token": token, "webhook_url": "https://x.example.com/h",
                                                "signature_algo": "hmac"}).status_code == 404
    assert signed_in.post(f"{base}/delete", data={"csrf_token": token}).status_code == 404
    assert signed_in.post(f"{base}/test", data={"csrf_token": token}).status_code == 404
    assert [e.webhook_url for e in _endpoints(other_org)] == ["https://globex.example.com/hooks"]
    assert _deliveries(other_org) == 0


def test_the_endpoint_forms_require_a_csrf_token(signed_in, org):
    endpoint = webhooks.create_webhook_endpoint(organization_id=org.id, data={
        "webhook_url": "https://hooks.example.com/a"})
    base = f"/admin/webhooks/endpoints/{endpoint.id}"
    assert signed_in.post("/admin/webhooks/endpoints/new", data={
        "webhook_url": "https://hooks.example.com/b", "signature_algo": "hmac"}).status_code == 400
    assert signed_in.post(f"{base}/edit", data={"webhook_url": "https://hooks.example.com/c",
                                                "signature_algo": "hmac"}).status_code == 400
    assert signed_in.post(f"{base}/delete").status_code == 400
    assert signed_in.post(f"{base}/test").status_code == 400
    assert [e.webhook_url for e in _endpoints(org.id)] == ["https://hooks.example.com/a"]
    assert _deliveries(org.id) == 0
