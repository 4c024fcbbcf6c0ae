"""The customer portal: what a signed link shows, to whom, and for how long."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing import links
from billing.embedding.services import update_embed_settings
from tests.web.conftest import create_catalog, send_events

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alice(org, billed_customer):
    create_catalog(org.id)
    return billed_customer(org.id, "alice", name="Alice Corp", events=3)


@pytest.fixture
def bob(org, alice, billed_customer):
    return billed_customer(org.id, "bob", name="Bob Industries", events=7)


def test_portal_shows_plan_period_meter_and_invoices(client, alice):
    response = client.get(alice.portal_path())

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Alice Corp" in html and "Acme Cloud" in html
    assert "Startup" in html and "€10.00 / month" in html
    assert "1 Nov 2026 – 30 Nov 2026" in html
    assert 'data-metric="api_calls"' in html
    assert '<span class="units">3</span>' in html and '<span class="events">3</span> events' in html
    assert '<span class="amount">€0.15</span>' in html and "€0.15</strong>" in html
    assert alice.invoice_number in html and "1 Nov 2026" in html and "€10.00" in html
    assert f"/invoices/{alice.invoice_id}.pdf" in html
    assert 'hx-trigger="every 5s"' in html and "/usage" in html
    assert "htmx-2.0.11.min.js" in html


def test_usage_fragment_is_the_meter_block_alone_and_follows_new_events(client, alice):
    usage_path = alice.portal_path() + "/usage"
    before = client.get(usage_path, headers=HTMX).get_data(as_text=True)
    send_events(alice.organization_id, "sub-alice", 2, prefix="more")

    after = client.get(usage_path, headers=HTMX)

    assert after.status_code == 200 and "HX-Request" in after.headers["Vary"]
    html = after.get_data(as_text=True)
    assert "<html" not in html and "Invoices" not in html
    assert '<span class="units">3</span>' in before and '<span class="units">5</span>' in html
    assert "€0.25" in html


def test_usage_path_without_htmx_goes_to_the_page(client, alice):
    response = client.get(alice.portal_path() + "/usage")
    assert response.status_code == 302 and response.headers["Location"].endswith(alice.portal_path())


@pytest.mark.parametrize("spoil", [
    lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature changed
    lambda token: token[:5] + ("x" if token[5] != "x" else "y") + token[6:],  # claim changed
    lambda token: "not-a-token",
    lambda token: token.split(".")[0],
    lambda token: "...",
    lambda token: token + "é",
])
def test_a_tampered_or_unknown_token_gets_403(client, alice, spoil):
    token = alice.portal_path().removeprefix("/portal/")
    for path in ("", "/usage", f"/invoices/{alice.invoice_id}.pdf"):
        response = client.get(f"/portal/{spoil(token)}{path}")
        assert response.status_code == 403, path
        assert "Alice" not in response.get_data(as_text=True)


def test_an_expired_token_gets_403_and_a_polling_meter_stops(client, alice, clock):
    path = alice.portal_path()
    assert client.get(path).status_code == 200
    clock.set(clock.now() + timedelta(hours=13))

    page = client.get(path)
    poll = client.get(path + "/usage", headers=HTMX)

    assert page.status_code == 403 and "not valid" in page.get_data(as_text=True)
    assert poll.status_code == 286  # htmx stops polling on 286
    assert "expired" in poll.get_data(as_text=True) and "units" not in poll.get_data(as_text=True)


def test_the_link_of_a_deleted_customer_is_refused(client, org, alice):
    from billing.lifecycle import delete_customer

    path = alice.portal_path()
    delete_customer(organization_id=org.id, external_id="alice")

    assert client.get(path).status_code == 403
    assert client.get(f"{path}/invoices/{alice.invoice_id}.pdf").status_code == 403
    assert client.get(f"{path}/usage", headers=HTMX).status_code == 286


def test_a_link_for_another_purpose_is_not_a_portal_link(client, alice):
    file_token = links.sign(purpose="invoice_file", subject=alice.id, organization_id=alice.organization_id,
                            ttl=timedelta(hours=1))
    assert client.get(f"/portal/{file_token}").status_code == 403


def test_a_customer_token_never_shows_another_customers_data(client, alice, bob):
    html = client.get(alice.portal_path()).get_data(as_text=True)

    assert "Bob Industries" not in html and bob.invoice_number not in html and bob.invoice_id not in html
    assert '<span class="units">7</span>' not in html


def test_a_customer_token_cannot_fetch_another_customers_invoice_pdf(client, alice, bob):
    own = client.get(f"{alice.portal_path()}/invoices/{alice.invoice_id}.pdf")
    other = client.get(f"{alice.portal_path()}/invoices/{bob.invoice_id}.pdf")

    assert own.status_code == 200 and own.mimetype == "application/pdf" and own.data.startswith(b"%PDF")
    assert alice.invoice_number.replace("-", "") in own.headers["Content-Disposition"].replace("-", "")
    assert other.status_code == 404 and not other.data.startswith(b"%PDF")


def test_a_token_naming_a_customer_of_another_organization_is_refused(client, alice, other_org):
    forged_scope = links.sign(purpose="portal", subject=alice.id, organization_id=other_org, ttl=timedelta(hours=1))
    assert client.get(f"/portal/{forged_scope}").status_code == 403
    assert client.get(f"/portal/{forged_scope}/invoices/{alice.invoice_id}.pdf").status_code == 403


def test_draft_invoices_stay_out_of_the_portal(client, org, clock, alice):
    from billing.customers.services import upsert_customer
    from billing.invoicing.runs import bill_subscription
    from billing.subscriptions.services import get_subscription

    upsert_customer(organization_id=org.id, data={"external_id": "alice", "invoice_grace_period": 3})
    clock.set("2026-12-01T01:00:00Z")
    subscription = get_subscription(organization_id=org.id, external_id="sub-alice")
    [draft_id] = bill_subscription(subscription_id=subscription.id, at=clock.now())

    html = client.get(alice.portal_path()).get_data(as_text=True)
    assert alice.invoice_id in html and draft_id not in html
    assert client.get(f"{alice.portal_path()}/invoices/{draft_id}.pdf").status_code == 404


def test_portal_escapes_customer_data(client, org, billed_customer):
    create_catalog(org.id)
    mallory = billed_customer(org.id, "mallory", name="<script>alert(1)</script>")

    html = client.get(mallory.portal_path()).get_data(as_text=True)

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_portal_headers_keep_the_link_private_and_let_only_the_allowed_origins_frame_it(client, org, alice):
    response = client.get(alice.portal_path())

    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response.headers["Cache-Control"]

    update_embed_settings(organization_id=org.id, data={"frame_ancestors": "https://app.example.com\n"
                                                                          "https://*.example.org:8443"})
    framed = client.get(alice.portal_path())
    assert "X-Frame-Options" not in framed.headers
    assert "frame-ancestors https://app.example.com https://*.example.org:8443;" in \
        framed.headers["Content-Security-Policy"]


def test_csrf_token_travels_in_hx_headers(client, alice):
    html = client.get(alice.portal_path()).get_data(as_text=True)
    assert "hx-headers='{\"X-CSRFToken\": \"" in html


def test_the_invoice_list_shows_coupons_and_taxes_of_each_invoice(client, org, billed_customer):
    from billing.catalog.coupons import apply_coupon, create_coupon
    from billing.catalog.taxes import create_tax
    from billing.customers.services import upsert_customer

    create_catalog(org.id)
    create_tax(organization_id=org.id, data={"name": "VAT", "code": "vat", "rate": "20"})
    create_coupon(organization_id=org.id, data={
        "name": "Welcome", "code": "welcome", "coupon_type": "fixed_amount", "amount_cents": 200,
        "amount_currency": "EUR", "frequency": "once", "expiration": "no_expiration"})
    upsert_customer(organization_id=org.id, data={"external_id": "carol", "name": "Carol", "tax_codes": ["vat"]})
    apply_coupon(organization_id=org.id, data={"external_customer_id": "carol", "coupon_code": "welcome"})
    carol = billed_customer(org.id, "carol", name="Carol", events=1)

    html = client.get(carol.portal_path()).get_data(as_text=True)

    # October from the 5th: 27/31 × €10.00 = €8.71; − €2.00 coupon = €6.71; + 20 % VAT (€1.342) = €8.05
    assert '<span class="muted small invoice-line" data-adjustment="coupon"> coupon Welcome −€2.00</span>' in html
    assert '<span class="muted small invoice-line" data-adjustment="tax"> tax VAT 20 % +€1.34</span>' in html
    assert "€8.05" in html
    # the invoice's fees, one line each, under its row
    assert '<summary>2 lines</summary>' in html
    assert '<li class="fee-line">Startup: <span class="amount">€8.71</span>' in html
