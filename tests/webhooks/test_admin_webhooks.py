"""The admin delivery log: recent deliveries with status, attempts and last answer; one delivery's attempts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing import db
from billing.webhooks import services as webhooks

HTMX = {"HX-Request": "true"}


def _emit(organization_id: str, webhook_type: str) -> str:
    with Session(db.engine()) as session, session.begin():
        [delivery_id] = webhooks.emit(session, organization_id, webhook_type, "invoice", {"lago_id": "inv-1"})
    return delivery_id


def test_the_log_shows_each_delivery_its_status_attempts_and_last_answer(signed_in, org, other_org, clock,
                                                                          receiver):
    assert "No webhook endpoint yet" in signed_in.get("/admin/webhooks").get_data(as_text=True)
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": receiver.url})
    webhooks.create_webhook_endpoint(organization_id=other_org, data={"webhook_url": receiver.url})
    receiver.answers = [500]
    failing = _emit(org.id, "invoice.created")
    webhooks.deliver_webhook(delivery_id=failing)
    sent = _emit(org.id, "subscription.started")
    webhooks.deliver_webhook(delivery_id=sent)
    _emit(other_org, "invoice.drafted")  # another organization's: never shown

    page = signed_in.get("/admin/webhooks")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'href="/admin/webhooks" aria-current="page"' in html
    assert receiver.url in html and webhooks.hmac_key(organization_id=org.id) in html
    assert f'data-delivery="{failing}"' in html and f'data-delivery="{sent}"' in html
    assert "invoice.drafted" not in html
    assert "HTTP 500" in html and "HTTP 200" in html and "next try" in html

    fragment = signed_in.get("/admin/webhooks?status=succeeded", headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment and f'data-delivery="{sent}"' in fragment and failing not in fragment

    detail = signed_in.get(f"/admin/webhooks/deliveries/{failing}").get_data(as_text=True)
    assert "receiver broke: try again later" in detail and "HTTP 500" in detail and "Next attempt due" in detail
    assert "&#34;webhook_type&#34;: &#34;invoice.created&#34;" in detail  # the body, escaped and indented


def test_another_organizations_delivery_is_a_404(signed_in, other_org, clock):
    webhooks.create_webhook_endpoint(organization_id=other_org, data={"webhook_url": "https://x.example.com/h"})
    theirs = _emit(other_org, "invoice.created")
    assert signed_in.get(f"/admin/webhooks/deliveries/{theirs}").status_code == 404


def test_the_log_requires_a_session(client, org):
    response = client.get("/admin/webhooks")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_the_page_shows_the_public_key_once_an_endpoint_signs_with_jwt(signed_in, org, clock):
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": "https://hooks.example.com/a"})
    assert 'id="jwt-public-key"' not in signed_in.get("/admin/webhooks").get_data(as_text=True)
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": "https://hooks.example.com/b",
                                                                   "signature_algo": "jwt"})
    html = signed_in.get("/admin/webhooks").get_data(as_text=True)
    pem = webhooks.webhook_public_key(organization_id=org.id)
    assert 'id="jwt-public-key"' in html and pem.splitlines()[1] in html
    assert "PRIVATE" not in html
