"""Roles as Lago's: every admin endpoint is in the one map (admin/roles.py), an endpoint missing from it is refused
to everyone, each role opens its views and gets a clear 403 elsewhere (htmx too), and the nav shows only what it may
open."""

from __future__ import annotations

import re

import pytest
from werkzeug.exceptions import HTTPException

from admin import roles
from billing.catalog.add_ons import create_add_on
from billing.catalog.coupons import create_coupon
from billing.organizations.services import create_admin
from billing.wallets.services import create_wallet
from tests.web.conftest import PASSWORD, create_catalog, sign_in

HTMX = {"HX-Request": "true"}

# A page each permission opens (all GET, no object needed), and the nav link it shows.
PAGES = {
    "/admin/customers": ("admin.customers", "Customers"),
    "/admin/plans": ("admin.plan_list", "Plans"),
    "/admin/metrics": ("admin.metric_list", "Metrics"),
    "/admin/add-ons": ("admin.add_on_list", "Add-ons"),
    "/admin/discounts": ("admin.discount_list", "Taxes &amp; coupons"),
    "/admin/billing-failures": ("admin.billing_failure_list", "Could not bill"),
    "/admin/dunning": ("admin.dunning_campaign_list", "Dunning"),
    "/admin/payment-providers": ("admin.payment_provider_list", "Payment providers"),
    "/admin/webhooks": ("admin.webhook_list", "Webhooks"),
    "/admin/settings/embedding": ("admin.embedding_settings", "Embedding"),
    "/admin/settings/invoices": ("admin.settings_invoices", "Invoice PDFs"),
    "/admin/members": ("admin.member_list", "Members"),
    "/admin/api-keys": ("admin.api_key_list", "API keys"),
    "/admin/audit": ("admin.audit_list", "Audit trail"),
}
ALLOWED = {
    "admin": set(PAGES),
    "manager": {"/admin/customers", "/admin/plans", "/admin/metrics", "/admin/add-ons", "/admin/discounts"},
    "finance": {"/admin/customers", "/admin/billing-failures", "/admin/dunning"},
}


def test_every_admin_endpoint_is_in_the_role_map_and_nothing_else(app):
    registered = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")}
    assert registered - roles.ENDPOINT_PERMISSIONS.keys() == set(), "add these endpoints to admin/roles.py"
    assert roles.ENDPOINT_PERMISSIONS.keys() - registered == set(), "no such endpoint: remove it from the map"
    every_permission = set().union(*roles.ROLE_PERMISSIONS.values())
    assert set(roles.ENDPOINT_PERMISSIONS.values()) <= every_permission
    assert roles.ROLE_PERMISSIONS["admin"] == every_permission


@pytest.fixture
def signed_in_as(client, org):
    def sign_in_as(role: str):
        email = f"{role}@acme.test"
        create_admin(email=email, password=PASSWORD, organization_id=org.id, role=role)
        assert sign_in(client, email).status_code == 302
        return client

    return sign_in_as


@pytest.mark.parametrize("role", ["admin", "manager", "finance"])
def test_each_role_opens_its_pages_and_is_refused_the_others(signed_in_as, role):
    client = signed_in_as(role)
    for path, (endpoint, link) in PAGES.items():
        page = client.get(path)
        html = page.get_data(as_text=True)
        if path in ALLOWED[role]:
            assert page.status_code == 200, path
        else:
            assert page.status_code == 403, path
            assert "Not allowed" in html and f"Your role ({roles.ROLE_NAMES[role]})" in html
            refused = client.get(path, headers=HTMX)  # htmx swaps no 403: the tab goes to the page saying why
            assert refused.status_code == 403 and refused.headers["HX-Redirect"] == "/admin/forbidden"
    # The navigation (the sections, and on each page the pages of its section) links to what the role may open,
    # and to nothing else.
    shown = set()
    for path in ALLOWED[role]:
        header = client.get(path).get_data(as_text=True).split('<nav class="nav"', 1)[1].split("</header>", 1)[0]
        shown |= {p for p, (_, link) in PAGES.items() if f'href="{p}"' in header or f">{link}</a>" in header}
    assert shown == ALLOWED[role]


def test_a_refused_form_changes_nothing(signed_in_as, org):
    from billing.organizations.services import list_api_keys

    client = signed_in_as("manager")
    token = client.get("/admin/customers").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    before = list_api_keys(organization_id=org.id)
    refused = client.post("/admin/api-keys", data={"csrf_token": token}, headers=HTMX)
    assert refused.status_code == 403 and refused.headers["HX-Redirect"] == "/admin/forbidden"
    assert list_api_keys(organization_id=org.id) == before


def test_an_endpoint_missing_from_the_map_is_refused_even_to_admins(signed_in_as, monkeypatch):
    client = signed_in_as("admin")
    monkeypatch.delitem(roles.ENDPOINT_PERMISSIONS, "admin.plan_list")
    assert client.get("/admin/plans").status_code == 403
    assert client.get("/admin/customers").status_code == 200


def test_a_role_change_applies_at_the_next_request(signed_in_as, org):
    from billing.organizations.services import change_member_role, list_members

    client = signed_in_as("manager")
    create_admin(email="boss@acme.test", password=PASSWORD, organization_id=org.id)
    assert client.get("/admin/api-keys").status_code == 403
    manager = next(m for m in list_members(organization_id=org.id) if m.email == "manager@acme.test")
    change_member_role(organization_id=org.id, user_id=manager.id, role="admin")
    assert client.get("/admin/api-keys").status_code == 200


def _offered(client, html: str) -> set[str]:
    """The endpoints the page's forms post to and its links open (the sections' own fragments included)."""
    adapter = client.application.url_map.bind("localhost")
    found = set()
    for method, attribute in (("POST", "action"), ("POST", "hx-post"), ("GET", "href"), ("GET", "hx-get")):
        for path in re.findall(rf'\s{attribute}="(/admin/[^"#?]*)', html):
            try:
                found.add(adapter.match(path.replace("&amp;", "&"), method=method)[0])
            except HTTPException:  # a form whose method attribute differs: matched by the other method
                continue
    return found


@pytest.fixture
def full_customer(org, billed_customer):
    """A customer with everything its page can show a form for: a live subscription, an invoice, a wallet with a
    top-up waiting for payment, and a coupon and an add-on to choose."""
    create_catalog(org.id)
    bob = billed_customer(org.id, "bob", name="Bob", events=1)
    create_wallet(organization_id=org.id, data={"external_customer_id": "bob", "rate_amount": "1",
                                                "paid_credits": "5", "name": "Credits"})
    create_coupon(organization_id=org.id, data={"name": "Half", "code": "half", "coupon_type": "percentage",
                                                "percentage_rate": "50", "frequency": "once",
                                                "expiration": "no_expiration"})
    create_add_on(organization_id=org.id, data={"name": "Setup", "code": "setup", "amount_cents": 5000,
                                                "amount_currency": "EUR"})
    return bob


# What each role is offered on the customer and invoice pages: every form it may use, none it may not.
CUSTOMER_ACTIONS = {
    "manager": {"admin.customer_edit", "admin.customer_apply_coupon", "admin.subscription_change_plan",
                "admin.subscription_terminate", "admin.subscription_overrides", "admin.subscription_assign",
                "admin.customer_wallet_transaction", "admin.customer_wallet_settings", "admin.customer_wallet_rules",
                "admin.customer_wallet_terminate", "admin.customer_wallet_new", "admin.customer_portal_link"},
    "finance": {"admin.one_off_invoice_new", "admin.customer_dunning_save", "admin.customer_wallet_top_up_paid",
                "admin.customer_invoice_paid", "admin.customer_portal_link"},
}
INVOICE_ACTIONS = {"manager": set(), "finance": {"admin.invoice_void", "admin.invoice_credit_note",
                                                 "admin.invoice_record_payment"}}


@pytest.mark.parametrize("role", ["manager", "finance"])
def test_the_customer_and_invoice_pages_offer_only_the_forms_the_role_may_use(signed_in_as, full_customer, role):
    client = signed_in_as(role)
    bob = full_customer
    page = client.get(f"/admin/customers/{bob.id}")
    assert page.status_code == 200
    offered = _offered(client, page.get_data(as_text=True))
    refused = {endpoint for endpoint in offered if not roles.may_open(role, endpoint)}
    assert refused == set(), f"{role} is offered what it cannot open"
    assert CUSTOMER_ACTIONS[role] <= offered
    others = set().union(*CUSTOMER_ACTIONS.values()) - CUSTOMER_ACTIONS[role]
    assert offered & others == set()
    html = page.get_data(as_text=True)
    assert "Credits" in html and "Startup" in html and bob.invoice_number in html  # what every role reads

    invoice = client.get(f"/admin/customers/{bob.id}/invoices/{bob.invoice_id}").get_data(as_text=True)
    offered = _offered(client, invoice)
    assert {endpoint for endpoint in offered if not roles.may_open(role, endpoint)} == set()
    assert INVOICE_ACTIONS[role] <= offered
    assert bob.invoice_number in invoice and "Fees" in invoice and "Payments" in invoice
