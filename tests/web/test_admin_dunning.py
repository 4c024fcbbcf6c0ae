"""Admin "Dunning": the campaign list (default badge, thresholds, attempts × days, customers), the editor with inline
reasons and a live preview of the reminder, set as default, delete with confirmation, the customers a campaign applies
to; the customer page's Dunning section (its campaign, the choice of one or exclusion, the attempts so far). CSRF on
every form; another organization's campaign is a 404."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from billing.customers.models import Customer
from billing.customers.services import upsert_customer
from billing.db import unit_of_work
from billing.dunning import campaigns
from billing.dunning.models import DunningAttempt
from billing.emails.models import EmailDelivery
from billing.payments.models import PaymentRequest
from tests.web.conftest import csrf_token_in

HTMX = {"HX-Request": "true"}


def _form(token: str, **changes) -> dict:
    data = {"csrf_token": token, "name": "Standard", "code": "standard", "description": "",
            "max_attempts": "3", "days_between_attempts": "2", "bcc_emails": "ar@acme.test",
            "threshold_currency": ["EUR", "USD", ""], "threshold_amount": ["100.00", "0", ""],
            "reminder_subject": "Reminder: {amount} overdue",
            "reminder_message": "Hello {customer_name}, please pay {amount}: {pay_link}",
            "applied_to_organization": "y"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _campaign(org_id: str, code: str, **extra):
    return campaigns.create_campaign(organization_id=org_id, data={
        "code": code, "name": code.title(), "max_attempts": 3, "days_between_attempts": 2,
        "thresholds": [{"currency": "EUR", "amount_cents": 5000}], **extra})


def test_a_campaign_is_created_with_inline_reasons_first(signed_in, org):
    empty = signed_in.get("/admin/dunning").get_data(as_text=True)
    assert "No campaign yet" in empty and 'href="/admin/dunning"' in empty and 'aria-current="page"' in empty
    form = signed_in.get("/admin/dunning/new").get_data(as_text=True)
    assert 'name="threshold_currency"' in form and 'value="EUR"' in form  # the organization's currency, from 0
    assert "Payment reminder from Acme Cloud" in form  # the default wording, previewed with sample values
    token = csrf_token_in(form)

    refused = signed_in.post("/admin/dunning/new", headers=HTMX, data=_form(
        token, name="", code="", max_attempts="0", days_between_attempts="400", bcc_emails="nope",
        threshold_currency=["EUR", "EUR", "XX"], threshold_amount=["1.005", "2", "3"],
        reminder_message="Dear {first_name}"))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "The campaign was not saved" in html
    for sentence in ("Required: the code the API", "From 1 to 20 attempts", "From 1 to 365 days",
                     "One or more is not an email address", "More decimals than the currency has",
                     "This currency is already listed", "A currency code such as EUR or USD",
                     "Unknown placeholder: {first_name}"):
        assert sentence in html, sentence
    assert campaigns.list_campaigns(organization_id=org.id) == []
    assert signed_in.post("/admin/dunning/new", data=_form("")).status_code == 400  # no CSRF token
    assert signed_in.post("/admin/dunning/new", data=_form(token, name="")).status_code == 422  # a plain post

    created = signed_in.post("/admin/dunning/new", headers=HTMX, data=_form(token))
    assert created.status_code == 200 and created.headers["HX-Redirect"] == "/admin/dunning"
    [row] = campaigns.list_campaigns(organization_id=org.id)
    c = row.campaign
    assert (c.code, c.max_attempts, c.days_between_attempts, c.bcc_emails, c.applied_to_organization) == (
        "standard", 3, 2, ["ar@acme.test"], True)
    assert [(t.currency, t.amount_cents) for t in c.thresholds] == [("EUR", 10_000), ("USD", 0)]
    listed = signed_in.get("/admin/dunning").get_data(as_text=True)
    assert "Campaign “Standard” created." in listed and "default" in listed
    assert "€100.00 · $0.00" in listed and "3 × every 2 days" in listed


def test_the_preview_fills_the_reminder_with_sample_values(signed_in, org):
    token = csrf_token_in(signed_in.get("/admin/dunning/new").get_data(as_text=True))
    answer = signed_in.post("/admin/dunning/preview", headers=HTMX, data=_form(
        token, threshold_currency=["USD"], threshold_amount=["5"],
        reminder_subject="{organization_name} asks {amount}", reminder_message="Hi {customer_name} <b>{iban}</b>"))
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<form" not in html  # the preview block alone
    assert "Acme Cloud asks $1,234.50" in html and "Hi Jane Doe (Example Ltd) &lt;b&gt;{iban}&lt;/b&gt;" in html
    assert "Unknown placeholder: {iban}" in html
    assert signed_in.post("/admin/dunning/preview", data={"reminder_subject": "x"}).status_code == 400  # CSRF


def test_edit_make_default_delete_and_the_customers_list(signed_in, org):
    standard = _campaign(org.id, "standard", applied_to_organization=True)
    strict = _campaign(org.id, "strict", max_attempts=5)
    for external_id, name in (("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")):
        upsert_customer(organization_id=org.id, data={"external_id": external_id, "name": name})
    upsert_customer(organization_id=org.id, data={"external_id": "bob", "applied_dunning_campaign_code": "strict"})
    upsert_customer(organization_id=org.id, data={"external_id": "carol", "exclude_from_dunning_campaign": True})

    listed = signed_in.get("/admin/dunning").get_data(as_text=True)
    assert f'href="/admin/dunning/{standard.id}/customers">1<' in listed
    assert f'href="/admin/dunning/{strict.id}/customers">1<' in listed
    customers = signed_in.get(f"/admin/dunning/{standard.id}/customers").get_data(as_text=True)
    assert "Alice" in customers and "Bob" not in customers and "Carol" not in customers

    edit = signed_in.get(f"/admin/dunning/{strict.id}/edit").get_data(as_text=True)
    assert 'value="strict"' in edit and 'value="50.00"' in edit
    token = csrf_token_in(edit)
    saved = signed_in.post(f"/admin/dunning/{strict.id}/edit", data=_form(
        token, name="Strict", code="strict", max_attempts="5", threshold_currency=["EUR"], threshold_amount=["50"],
        days_between_attempts="2", applied_to_organization=None, reminder_subject="Now: {amount}"))
    assert saved.status_code == 303
    assert "Campaign “Strict” saved." in signed_in.get("/admin/dunning").get_data(as_text=True)
    saved = signed_in.post(f"/admin/dunning/{strict.id}/edit", data=_form(
        token, name="Strict", code="strict", max_attempts="4", threshold_currency=["EUR"], threshold_amount=["50"],
        applied_to_organization=None))
    assert "attempts start again from the first" in signed_in.get("/admin/dunning").get_data(as_text=True)

    made = signed_in.post(f"/admin/dunning/{strict.id}/default", data={"csrf_token": token})
    assert made.status_code == 303
    listed = signed_in.get("/admin/dunning").get_data(as_text=True)
    assert "“Strict” is now the default campaign." in listed
    assert listed.index('data-campaign="strict"') < listed.index('data-campaign="standard"')  # the default first

    ask = signed_in.get(f"/admin/dunning/{strict.id}/delete").get_data(as_text=True)
    assert "Delete “Strict”?" in ask and "It chases 2 customers now" in ask and "It is the default campaign" in ask
    assert signed_in.post(f"/admin/dunning/{strict.id}/delete", data={}).status_code == 400  # no CSRF token
    gone = signed_in.post(f"/admin/dunning/{strict.id}/delete", data={"csrf_token": token})
    assert gone.status_code == 303
    listed = signed_in.get("/admin/dunning").get_data(as_text=True)
    assert "Campaign “Strict” deleted" in listed and 'data-campaign="strict"' not in listed
    assert "No default campaign" in listed
    assert signed_in.get(f"/admin/dunning/{strict.id}/edit").status_code == 404


def test_another_organizations_campaign_is_not_found(signed_in, other_org):
    theirs = _campaign(other_org, "theirs")
    for path in ("edit", "delete", "customers"):
        assert signed_in.get(f"/admin/dunning/{theirs.id}/{path}").status_code == 404
    token = csrf_token_in(signed_in.get("/admin/dunning").get_data(as_text=True))
    assert signed_in.post(f"/admin/dunning/{theirs.id}/default", data={"csrf_token": token}).status_code == 404
    assert signed_in.post(f"/admin/dunning/{theirs.id}/delete", data={"csrf_token": token}).status_code == 404
    assert "theirs" not in signed_in.get("/admin/dunning").get_data(as_text=True)


@pytest.fixture
def alice(org):
    return upsert_customer(organization_id=org.id, data={"external_id": "alice", "name": "Alice Corp"})


def test_the_customer_page_shows_its_campaign_and_lets_it_be_changed(signed_in, org, alice):
    page = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)
    assert 'id="dunning-title"' in page and "no campaign: there is no default campaign" in page
    _campaign(org.id, "standard", applied_to_organization=True)
    _campaign(org.id, "strict")
    section = signed_in.get(f"/admin/customers/{alice.id}/dunning", headers=HTMX).get_data(as_text=True)
    assert 'data-mode="default"' in section and "Standard" in section and "No attempt yet." in section
    token = csrf_token_in(section)

    chosen = signed_in.post(f"/admin/customers/{alice.id}/dunning", headers=HTMX,
                            data={"csrf_token": token, "campaign": "strict"})
    html = chosen.get_data(as_text=True)
    assert chosen.status_code == 200 and 'data-mode="own"' in html and "attempts start again" in html
    excluded = signed_in.post(f"/admin/customers/{alice.id}/dunning", headers=HTMX,
                              data={"csrf_token": token, "campaign": "__exclude__"}).get_data(as_text=True)
    assert 'data-mode="excluded"' in excluded and "never reminded" in excluded
    back = signed_in.post(f"/admin/customers/{alice.id}/dunning", headers=HTMX,
                          data={"csrf_token": token, "campaign": ""}).get_data(as_text=True)
    assert 'data-mode="default"' in back
    same = signed_in.post(f"/admin/customers/{alice.id}/dunning", headers=HTMX,
                          data={"csrf_token": token, "campaign": ""}).get_data(as_text=True)
    assert "Nothing changed." in same
    refused = signed_in.post(f"/admin/customers/{alice.id}/dunning", data={"csrf_token": token, "campaign": "gone"})
    assert refused.status_code == 422 and "This campaign no longer exists" in refused.get_data(as_text=True)
    assert signed_in.post(f"/admin/customers/{alice.id}/dunning", data={"campaign": "strict"}).status_code == 400


def test_the_customer_page_lists_the_attempts_with_their_requests_and_emails(signed_in, org, alice):
    standard = _campaign(org.id, "standard", applied_to_organization=True)
    with unit_of_work() as uow:
        first = DunningAttempt(organization_id=org.id, customer_id=alice.id, dunning_campaign_id=standard.id,
                               cycle=0, attempt=1, created_at=datetime(2026, 11, 3, 9, tzinfo=UTC))
        second = DunningAttempt(organization_id=org.id, customer_id=alice.id, dunning_campaign_id=standard.id,
                                cycle=0, attempt=2, created_at=datetime(2026, 11, 5, 9, tzinfo=UTC))
        uow.session.add_all([first, second])
        uow.session.flush()
        failed = PaymentRequest(organization_id=org.id, customer_id=alice.id, amount_cents=12_000, currency="EUR",
                                payment_status="failed", dunning_attempt_id=first.id)
        usd = PaymentRequest(organization_id=org.id, customer_id=alice.id, amount_cents=3_000, currency="USD",
                             payment_status="pending", dunning_attempt_id=second.id)
        paid = PaymentRequest(organization_id=org.id, customer_id=alice.id, amount_cents=12_000, currency="EUR",
                              payment_status="succeeded", dunning_attempt_id=second.id)
        uow.session.add_all([failed, usd, paid])
        uow.session.flush()
        uow.session.add(EmailDelivery(organization_id=org.id, payment_request_id=failed.id, kind="payment_request",
                                      to_address="alice@acme.test", status="sent"))
        uow.session.execute(update(Customer).where(Customer.id == alice.id).values(
            last_dunning_campaign_attempt=2, last_dunning_campaign_attempt_at=datetime(2026, 11, 5, 9, tzinfo=UTC)))
    html = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)
    table = html[html.index('class="table dunning-attempts"'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr data-attempt") == 3
    assert table.index("5 Nov 2026") < table.index("3 Nov 2026")  # the latest first
    assert "€120.00" in table and "$30.00" in table and "1 of 3" in table and "2 of 3" in table
    assert "payment failed" in table and "paid" in table and "awaiting payment" in table
    assert "email sent" in table and "no email" in table
    assert "2 of 3 attempts, last 5 Nov 2026, " in html
