"""The customer's own account in the portal: billing details, usage history, documents, wallet, and getting back in
with an expired link. Each section only ever shows the link's own customer."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from billing import links
from billing.audit.services import AuditFilters, list_entries
from billing.customers.services import get_customer, upsert_customer
from billing.db import read_only
from billing.emails.models import EmailDelivery
from billing.emails.services import PORTAL_LINK
from billing.wallets.services import create_wallet
from billing.webhooks.models import WebhookDelivery
from billing.webhooks.services import create_webhook_endpoint
from tests.smtp_sink import smtp  # noqa: F401
from tests.web.conftest import create_catalog, csrf_token_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alice(org, clock, billed_customer):
    # Ten days into November exactly: the estimate's pace is 3 (30 days ÷ 10).
    clock.set("2026-11-11T00:00:00Z")
    create_catalog(org.id)
    customer = billed_customer(org.id, "alice", name="Alice Corp", events=4)
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "email": "billing@alice.test",
                                                  "country": "FR"})
    return customer


@pytest.fixture
def bob(org, alice, billed_customer):
    customer = billed_customer(org.id, "bob", name="Bob Industries", events=9)
    upsert_customer(organization_id=org.id, data={"external_id": "bob", "email": "ap@bob.test"})
    return customer


def _form(client, path: str) -> str:
    return csrf_token_in(client.get(path).get_data(as_text=True))


DETAILS = {"name": "Alice Corp", "legal_name": "Alice Corporation SAS",
           "tax_identification_number": "FR 40 303 265 045", "email": "billing@alice.test",
           "address_line1": "1 rue de la Paix", "address_line2": "", "zipcode": "75002", "city": "Paris", "state": "",
           "country": "FR", "shipping_address_line1": "Quai 4", "shipping_address_line2": "",
           "shipping_zipcode": "69002", "shipping_city": "Lyon", "shipping_state": "", "shipping_country": "FR"}


# ---------------------------------------------------------------- navigation


def test_every_section_is_reached_by_the_same_link(client, alice):
    path = alice.portal_path()
    html = client.get(path).get_data(as_text=True)
    nav = re.search(r'<nav class="portal-nav".*?</nav>', html, re.S).group(0)
    for section in ("/history", "/documents", "/wallet", "/payment-methods", "/details"):
        assert f'href="{path}{section}"' in nav
        page = client.get(path + section)
        assert page.status_code == 200, section
        assert f'href="{path}{section}" aria-current="page"' in page.get_data(as_text=True), section


# ---------------------------------------------------------------- billing details


def test_billing_details_are_saved_through_the_customers_service_and_sent_as_customer_updated(
        client, org, alice, allow_private_webhooks):
    create_webhook_endpoint(organization_id=org.id, data={"webhook_url": "http://127.0.0.1:9/hooks"})
    path = alice.portal_path() + "/details"

    response = client.post(path, data={**DETAILS, "csrf_token": _form(client, path)})

    assert response.status_code == 303 and response.headers["Location"].endswith("/details?saved=1")
    customer = get_customer(organization_id=org.id, external_id="alice")
    assert customer.legal_name == "Alice Corporation SAS" and customer.tax_identification_number == "FR40303265045"
    assert (customer.address_line1, customer.zipcode, customer.city, customer.country) == \
        ("1 rue de la Paix", "75002", "Paris", "FR")
    assert (customer.shipping_address_line1, customer.shipping_city, customer.shipping_country) == \
        ("Quai 4", "Lyon", "FR")
    with read_only() as session:
        [hook] = session.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_type == "customer.updated"))
    body = json.loads(hook.body)
    assert body["customer"]["external_id"] == "alice"
    assert body["customer"]["shipping_address"]["city"] == "Lyon"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your billing details are saved" in page and 'value="Alice Corporation SAS"' in page
    # The audit trail names the customer as the one who changed them, and what changed.
    [entry] = list_entries(organization_id=org.id,
                           filters=AuditFilters(action="customer.billing_details_updated")).items
    assert (entry.actor_kind, entry.actor_id, entry.object_id) == ("customer", customer.id, customer.id)
    assert entry.changes["legal_name"][1] == "Alice Corporation SAS"
    assert entry.changes["shipping_city"] == [None, "Lyon"]


@pytest.mark.parametrize(("field", "value", "words"), [
    ("email", "not-an-email", "Enter an email address like name@example.com"),
    ("email", "", "Required"),
    ("name", "  ", "Required"),
    ("tax_identification_number", "FR123", "Not the shape of a tax number of this country"),
    ("country", "XX", "Choose a country from the list"),
    ("shipping_country", "Narnia", "Choose a country from the list"),
    ("city", "x" * 300, "Too long"),
])
def test_a_refused_field_is_told_by_the_field_and_nothing_is_written(client, org, alice, field, value, words):
    path = alice.portal_path() + "/details"

    response = client.post(path, data={**DETAILS, field: value, "csrf_token": _form(client, path)})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]*)</p>', html)
    assert error and words in error.group(1)
    assert f'id="f-{field}"' in html and 'aria-invalid="true"' in html
    customer = get_customer(organization_id=org.id, external_id="alice")
    assert customer.legal_name is None and customer.city is None and customer.email == "billing@alice.test"


def test_the_details_form_needs_the_token_of_its_link(client, org, alice, bob):
    path = alice.portal_path() + "/details"
    bobs_token = _form(client, bob.portal_path() + "/details")

    assert client.post(path, data={**DETAILS}).status_code == 400
    assert client.post(path, data={**DETAILS, "csrf_token": bobs_token}).status_code == 400
    assert get_customer(organization_id=org.id, external_id="alice").legal_name is None


def test_the_api_keeps_its_behaviour_and_answers_the_shipping_address(client, org, alice):
    headers = {"Authorization": f"Bearer {org.api_key}"}
    made = client.post("/api/v1/customers", headers=headers, json={"customer": {
        "external_id": "alice", "tax_identification_number": "anything the API took before",
        "shipping_address": {"city": "Lyon", "country": "fr"}}})

    assert made.status_code == 200
    customer = made.get_json()["customer"]
    assert customer["tax_identification_number"] == "anything the API took before"
    assert customer["shipping_address"] == {"address_line1": None, "address_line2": None, "city": "Lyon",
                                            "state": None, "zipcode": None, "country": "FR"}
    refused = client.post("/api/v1/customers", headers=headers, json={"customer": {
        "external_id": "alice", "shipping_address": {"country": "Narnia"}}})
    assert refused.status_code == 422
    assert refused.get_json()["error_details"] == {"shipping_address.country": ["country_code_invalid"]}


# ---------------------------------------------------------------- usage history


def test_usage_history_lists_the_invoiced_period_and_estimates_this_one(client, alice, bob):
    html = client.get(alice.portal_path() + "/history").get_data(as_text=True)

    # November so far: 4 calls at €0.05 = €0.20; at today's pace (10 of 30 days) 12 calls: €0.60.
    assert 'data-period="2026-11-01"' in html and 'data-period="2026-10-05"' in html
    assert '<strong class="so-far">€0.20</strong>' in html and '<strong class="projected">€0.60</strong>' in html
    assert "estimate at today&#39;s pace" in html or "estimate at today's pace" in html
    assert '<span class="units">4</span>' in html
    assert 'role="img"' in html and "usage charges per billing period" in html
    assert '<span class="units">9</span>' not in html  # Bob's calls


# ---------------------------------------------------------------- documents


def test_documents_list_invoices_with_pdf_and_status_filterable_by_year(client, alice, bob):
    path = alice.portal_path() + "/documents"

    html = client.get(path).get_data(as_text=True)
    assert f'data-invoice="{alice.invoice_id}"' in html and alice.invoice_number in html
    assert f"/invoices/{alice.invoice_id}.pdf" in html and 'badge-due">due' in html
    assert bob.invoice_number not in html and bob.invoice_id not in html
    assert '<option value="2026"' in html

    assert alice.invoice_number in client.get(path + "?year=2026").get_data(as_text=True)
    other_year = client.get(path + "?year=2025").get_data(as_text=True)
    assert alice.invoice_number not in other_year and "No documents in 2025." in other_year
    fragment = client.get(path + "?year=2026", headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment and alice.invoice_number in fragment


def test_documents_include_credit_notes(client, org, alice, bob):
    from billing.invoicing.credit_notes import create_credit_note
    from billing.invoicing.queries import get_invoice

    fee = get_invoice(organization_id=org.id, invoice_id=alice.invoice_id).fees[0]
    create_credit_note(organization_id=org.id, data={
        "invoice_id": alice.invoice_id, "reason": "other", "description": "Goodwill",
        "credit_amount_cents": 100, "refund_amount_cents": 0, "items": [{"fee_id": fee.id, "amount_cents": 100}]})

    html = client.get(alice.portal_path() + "/documents").get_data(as_text=True)

    assert "data-credit-note=" in html and "Goodwill" in html and "/files/credit_notes/" in html
    assert f"Credit note on {alice.invoice_number}" in html

    # The overview lists it too: its invoice's number, what is left of its credit, its signed PDF link; the other
    # customer's page lists none.
    overview = client.get(alice.portal_path()).get_data(as_text=True)
    credit_notes = overview[overview.index('id="credit-notes-title"'):]
    assert "data-credit-note=" in credit_notes and "Goodwill" in credit_notes
    assert alice.invoice_number in credit_notes and "/files/credit_notes/" in credit_notes
    assert credit_notes.count("€1.00") >= 2  # its total and the credit left
    assert 'id="credit-notes-title"' not in client.get(bob.portal_path()).get_data(as_text=True)


# ---------------------------------------------------------------- wallet


def test_the_wallet_page_pages_its_history_and_says_its_rules(client, org, alice):
    wallet = create_wallet(organization_id=org.id, data={
        "external_customer_id": "alice", "name": "Credits", "rate_amount": "1", "currency": "EUR",
        "granted_credits": "5",
        "recurring_transaction_rules": [{"trigger": "interval", "interval": "monthly", "granted_credits": "10"}]})
    path = alice.portal_path() + "/wallet"

    html = client.get(path).get_data(as_text=True)

    assert f'data-wallet="{wallet.id}"' in html and "Every month: 10 credits offered." in html
    assert 'data-label="Amount"' in html and "Offered" in html
    page = client.get(f"{path}?wallet={wallet.id}&page=1", headers=HTMX)
    assert page.status_code == 200 and "<html" not in page.get_data(as_text=True)
    assert client.get(f"{path}?wallet=not-mine").status_code == 404


def test_a_refused_top_up_on_the_wallet_page_says_why_and_writes_nothing(client, org, alice):
    wallet = create_wallet(organization_id=org.id, data={
        "external_customer_id": "alice", "name": "Credits", "rate_amount": "1", "currency": "EUR"})
    path = alice.portal_path() + "/wallet"

    response = client.post(f"{path}/{wallet.id}/top-up", data={"credits": "-3", "csrf_token": _form(client, path)})

    assert response.status_code == 422
    assert "Enter a positive number of credits." in response.get_data(as_text=True)
    from billing.wallets.services import list_wallet_transactions
    assert list_wallet_transactions(organization_id=org.id, wallet_id=wallet.id).total_count == 0


# ---------------------------------------------------------------- getting back in


def _expire(clock) -> None:
    clock.set(clock.now() + timedelta(hours=13))


def _portal_link_mails() -> list[EmailDelivery]:
    with read_only() as session:
        return list(session.scalars(select(EmailDelivery).where(EmailDelivery.kind == PORTAL_LINK)))


def test_an_expired_link_offers_a_fresh_one_mailed_only_to_the_address_on_file(client, clock, run_jobs, alice,
                                                                                smtp):  # noqa: F811
    path = alice.portal_path()
    _expire(clock)
    refused = client.get(path)
    assert refused.status_code == 403
    token = csrf_token_in(refused.get_data(as_text=True))

    wrong = client.post(path + "/new-link", data={"email": "someone@else.test", "csrf_token": token})
    right = client.post(path + "/new-link", data={"email": " Billing@Alice.test ", "csrf_token": token})

    assert wrong.status_code == right.status_code == 200
    assert wrong.get_data(as_text=True) == right.get_data(as_text=True)  # the same answer: nothing revealed
    run_jobs()
    [mail] = smtp.parsed()
    assert mail["To"] == "billing@alice.test"
    body = mail.get_body(("plain",)).get_content()
    fresh = re.search(r"(http\S+/portal/\S+)", body).group(1)
    assert client.get("/portal/" + fresh.rsplit("/portal/", 1)[1]).status_code == 200
    [delivery] = _portal_link_mails()
    assert delivery.to_address == "billing@alice.test"


def test_a_tampered_link_offers_nothing(client, alice):
    token = alice.portal_path().removeprefix("/portal/")
    spoiled = token[:-1] + ("A" if token[-1] != "A" else "B")
    page = client.get(f"/portal/{spoiled}")
    assert page.status_code == 403 and "new-link" not in page.get_data(as_text=True)


def test_link_requests_are_rate_limited_per_customer(client, clock, alice, smtp):  # noqa: F811
    path = alice.portal_path()
    _expire(clock)
    token = csrf_token_in(client.get(path).get_data(as_text=True))
    answers = [client.post(path + "/new-link", data={"email": "billing@alice.test", "csrf_token": token},
                           environ_base={"REMOTE_ADDR": f"10.0.0.{i}"}) for i in range(7)]

    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    assert "Try again in" in answers[-1].get_data(as_text=True) and answers[-1].headers["Retry-After"]
    assert len(_portal_link_mails()) == 5


def test_every_customer_email_carries_a_portal_link(org, clock, run_jobs, alice, smtp):  # noqa: F811
    from billing.invoicing.runs import bill_subscription
    from billing.subscriptions.services import get_subscription

    clock.set("2026-12-01T01:00:00Z")
    subscription = get_subscription(organization_id=org.id, external_id="sub-alice")
    bill_subscription(subscription_id=subscription.id, at=clock.now())
    run_jobs()

    [mail] = smtp.parsed()
    body = mail.get_body(("plain",)).get_content()
    assert "Your billing portal" in body and "/portal/" in body
    token = re.search(r"/portal/(\S+)", body).group(1)
    assert links.verify(token, purpose="portal").subject == alice.id
