"""Account-manager screens: sign-in, CSRF, organization scoping, and what the customer page shows."""

from __future__ import annotations

import re

import pytest

from billing.customers.services import upsert_customer
from billing.lifecycle import terminate_subscription
from tests.web.conftest import PASSWORD, create_catalog, csrf_token_in, send_events, sign_in, sign_out
from web.htmx import STOP_POLLING

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alice(org, billed_customer):
    create_catalog(org.id)
    return billed_customer(org.id, "alice", name="Alice Corp", events=3)


@pytest.fixture
def globex_customer(other_org, billed_customer):
    create_catalog(other_org, plan_name="Globex Plan")
    return billed_customer(other_org, "wile", name="Wile E. Coyote", events=4)


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_every_admin_screen_requires_login(client, alice):
    for path in ("/admin/", "/admin/customers", f"/admin/customers/{alice.id}", f"/admin/customers/{alice.id}/usage",
                 f"/admin/customers/{alice.id}/portal-link",
                 f"/admin/customers/{alice.id}/invoices/{alice.invoice_id}.pdf"):
        assert _is_login_redirect(client.get(path)), path
    assert client.get("/").headers["Location"] == "/admin/"


def test_an_htmx_request_without_a_session_is_sent_to_the_login_page(client, alice):
    response = client.get(f"/admin/customers/{alice.id}/usage", headers=HTMX)
    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/admin/login"


def test_a_wrong_password_is_refused(client, account_manager):
    response = sign_in(client, account_manager, password="not the password")

    assert response.status_code == 401 and "Wrong email or password" in response.get_data(as_text=True)
    assert _is_login_redirect(client.get("/admin/customers"))
    assert sign_in(client, "nobody@acme.test").status_code == 401


def test_login_lists_the_organizations_customers_and_logout_ends_the_session(client, account_manager, alice,
                                                                             globex_customer):
    response = sign_in(client, account_manager)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"

    html = client.get("/admin/customers").get_data(as_text=True)
    assert "Alice Corp" in html and account_manager in html
    assert "Wile E. Coyote" not in html

    assert sign_out(client).status_code == 302
    assert _is_login_redirect(client.get("/admin/customers"))


def test_login_returns_to_the_page_asked_for_but_never_to_another_site(client, account_manager, alice):
    token = csrf_token_in(client.get("/admin/login").get_data(as_text=True))
    form = {"email": account_manager, "password": PASSWORD, "csrf_token": token}
    response = client.post(f"/admin/login?next=/admin/customers/{alice.id}", data=form)
    assert response.headers["Location"] == f"/admin/customers/{alice.id}"

    sign_out(client)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        token = csrf_token_in(client.get("/admin/login").get_data(as_text=True))
        response = client.post("/admin/login", query_string={"next": target}, data={**form, "csrf_token": token})
        assert response.headers["Location"] == "/admin/", target
        sign_out(client)


def test_a_post_without_csrf_token_is_refused(client, signed_in, account_manager):
    login = client.post("/admin/login", data={"email": account_manager, "password": PASSWORD})
    logout = signed_in.post("/admin/logout")

    assert login.status_code == 400
    assert logout.status_code == 400 and "Form expired" in logout.get_data(as_text=True)
    assert signed_in.get("/admin/customers").status_code == 200  # still signed in


def test_a_post_with_a_forged_csrf_token_is_refused(client, account_manager):
    client.get("/admin/login")
    response = client.post("/admin/login", data={"email": account_manager, "password": PASSWORD,
                                                 "csrf_token": "forged"})
    assert response.status_code == 400


def test_a_customer_of_another_organization_is_not_found(signed_in, alice, globex_customer):
    theirs = globex_customer
    for path in (f"/admin/customers/{theirs.id}", f"/admin/customers/{theirs.id}/usage",
                 f"/admin/customers/{theirs.id}/usage/live",
                 f"/admin/customers/{theirs.id}/invoices", f"/admin/customers/{theirs.id}/portal-link",
                 f"/admin/customers/{theirs.id}/invoices/{theirs.invoice_id}.pdf",
                 f"/admin/customers/{alice.id}/invoices/{theirs.invoice_id}.pdf",
                 "/admin/customers/no-such-id"):
        response = signed_in.get(path)
        assert response.status_code == 404, path
        assert "Wile" not in response.get_data(as_text=True)


def test_customer_page_shows_details_subscriptions_usage_and_invoices(signed_in, org, alice, client):
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "email": "billing@alice.test",
                                                  "city": "Lyon", "country": "FR"})

    html = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)

    assert "Alice Corp" in html and "billing@alice.test" in html and "Lyon" in html
    assert "Startup" in html and "sub-alice" in html and "1 Nov 2026 – 30 Nov 2026" in html
    meter = re.search(r'data-metric="api_calls".*?</tr>', html, re.S).group(0)
    assert 'units">3<' in meter and 'events">3<' in meter and "€0.15" in meter
    assert alice.invoice_number in html
    assert f"/admin/customers/{alice.id}/invoices/{alice.invoice_id}.pdf" in html
    # the same numbers as the customer sees in the portal
    portal = client.get(alice.portal_path()).get_data(as_text=True)
    assert '<span class="units">3</span>' in portal and "€0.15" in portal


def test_usage_fragment_follows_new_events(signed_in, alice):
    send_events(alice.organization_id, "sub-alice", 4, prefix="late")

    response = signed_in.get(f"/admin/customers/{alice.id}/usage", headers=HTMX)

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and "Invoices" not in html
    assert 'units">7<' in html and "€0.35" in html


def test_usage_updates_live_in_place_and_stops_once_no_subscription_is_active(signed_in, org, alice):
    page = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)
    poll = re.search(r'<p class="usage-poll[^>]*>', page).group(0)
    assert f'hx-get="/admin/customers/{alice.id}/usage/live" hx-trigger="every 5s" hx-swap="none"' in poll
    send_events(alice.organization_id, "sub-alice", 4, prefix="late")

    live = signed_in.get(f"/admin/customers/{alice.id}/usage/live", headers=HTMX)

    html = live.get_data(as_text=True)
    [subscription] = re.findall(r'<div class="usage-lines" id="usage-lines-([^"]+)" hx-swap-oob="true">', html)
    assert f'id="usage-lines-{subscription}">' in page  # each replaces its own place, never the forms around it
    assert live.status_code == 200 and 'units">7<' in html and "€0.35" in html and "<form" not in html
    terminate_subscription(organization_id=org.id, external_id="sub-alice")
    stopped = signed_in.get(f"/admin/customers/{alice.id}/usage/live", headers=HTMX)
    assert stopped.status_code == STOP_POLLING and stopped.get_data(as_text=True) == ""
    assert "usage-poll" not in signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)


def test_invoice_pdf_is_served_to_the_organizations_manager(signed_in, alice):
    response = signed_in.get(f"/admin/customers/{alice.id}/invoices/{alice.invoice_id}.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")


def test_portal_link_button_gives_a_working_signed_link(signed_in, alice, client):
    fragment = signed_in.get(f"/admin/customers/{alice.id}/portal-link", headers=HTMX).get_data(as_text=True)

    assert "<html" not in fragment
    url = re.search(r'value="(http[^"]+/portal/[^"]+)"', fragment).group(1)
    path = "/portal/" + url.split("/portal/", 1)[1]
    assert "Alice Corp" in client.get(path).get_data(as_text=True)
    full_page = signed_in.get(f"/admin/customers/{alice.id}/portal-link").get_data(as_text=True)
    assert "<html" in full_page and "/portal/" in full_page


def test_customer_list_searches_and_pages(signed_in, org):
    for number in range(30):
        upsert_customer(organization_id=org.id, data={
            "external_id": f"cust-{number:02d}", "name": f"Customer {number:02d}", "email": f"c{number}@example.test"})
    upsert_customer(organization_id=org.id, data={"external_id": "zeta", "name": "Zeta 100% Ltd"})

    first = signed_in.get("/admin/customers").get_data(as_text=True)
    second = signed_in.get("/admin/customers?page=2").get_data(as_text=True)
    found = signed_in.get("/admin/customers?search=customer 07").get_data(as_text=True)
    by_email = signed_in.get("/admin/customers?search=C12@EXAMPLE", headers=HTMX).get_data(as_text=True)
    percent = signed_in.get("/admin/customers?search=100%").get_data(as_text=True)

    assert first.count('class="row-link"') == 25 and "Page 1 of 2" in first
    assert second.count('class="row-link"') == 6
    assert "Customer 07" in found and "Customer 08" not in found
    assert "Customer 12" in by_email and "<html" not in by_email and by_email.count('class="row-link"') == 1
    assert "Zeta" in percent and percent.count('class="row-link"') == 1


def test_customer_names_are_escaped(signed_in, org):
    customer = upsert_customer(organization_id=org.id, data={"external_id": "<b>x</b>",
                                                             "name": "<script>alert(1)</script>"})

    listing = signed_in.get("/admin/customers").get_data(as_text=True)
    page = signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True)

    for html in (listing, page):
        assert "<script>alert(1)</script>" not in html and "<b>x</b>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_admin_pages_cannot_be_framed(signed_in):
    response = signed_in.get("/admin/customers")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
