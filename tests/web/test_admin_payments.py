"""Admin payment screens: connecting Stripe (secrets never shown back, kept when left blank), disconnecting (refused
while a payment is in flight), a customer's provider link and saved methods, and an invoice's payments (record one
with a confirmation step, partial allowed; retry a charge through the provider). CSRF on every form; another
organization's providers, customers and invoices are a 404."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from billing.db import read_only, unit_of_work
from billing.invoicing.queries import get_invoice
from billing.payments import customers as payment_customers
from billing.payments import fake as fake_provider
from billing.payments import providers, secrets
from billing.payments.models import Payment, PaymentProviderAccount
from billing.ports import runtime
from tests.web.conftest import create_catalog, csrf_token_in

HTMX = {"HX-Request": "true"}
SECRET = "sk_test_admin_9a8b7c6d5e4f3g2h"  # noqa: S105 (a test key)
HOOK_SECRET = "whsec_admin_1q2w3e4r5t"  # noqa: S105


@pytest.fixture
def alice(org, billed_customer):
    create_catalog(org.id)
    return billed_customer(org.id, "alice", name="Alice Corp", events=3)


def _token(client, url: str = "/admin/payment-providers") -> str:
    return csrf_token_in(client.get(url).get_data(as_text=True))


def _settings(org_id: str, code: str) -> dict:
    with read_only() as session:
        return providers.provider_settings(session, org_id, code)[1]


# -- Payment providers ------------------------------------------------------------------------------------------


def test_connect_stripe_shows_masked_settings_and_the_webhook_url(signed_in, org, settings):
    empty = signed_in.get("/admin/payment-providers").get_data(as_text=True)
    assert "No payment provider connected" in empty and 'href="/admin/payment-providers"' in empty  # in the nav
    form = signed_in.get("/admin/payment-providers/new").get_data(as_text=True)
    assert 'name="secret_key"' in form and 'type="password"' in form and 'name="api_base"' in form
    token = csrf_token_in(form)

    refused = signed_in.post("/admin/payment-providers/new", headers=HTMX, data={
        "csrf_token": token, "code": "bad code!", "api_base": "ftp://x/y"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "Not saved" in html
    assert "Letters, digits, dots, dashes and underscores only" in html
    assert "Required: the secret API key" in html and "An address such as http://127.0.0.1:8420" in html
    assert signed_in.post("/admin/payment-providers/new", data={"code": "x"}).status_code == 400  # no CSRF token
    assert signed_in.post("/admin/payment-providers/new", data={"csrf_token": token, "code": "x"}).status_code == 422

    saved = signed_in.post("/admin/payment-providers/new", headers=HTMX, data={
        "csrf_token": token, "name": "Stripe EU", "code": "stripe_eu", "secret_key": SECRET,
        "webhook_secret": HOOK_SECRET, "publishable_key": "pk_test_123", "api_base": "http://127.0.0.1:8420/"})
    assert saved.headers["HX-Redirect"] == "/admin/payment-providers"
    page = signed_in.get("/admin/payment-providers").get_data(as_text=True)
    assert "Stripe EU connected." in page and 'data-provider="stripe_eu"' in page
    assert f"…{SECRET[-4:]}" in page and f"…{HOOK_SECRET[-4:]}" in page and "pk_test_123" in page
    assert SECRET not in page and HOOK_SECRET not in page
    assert f'value="{settings.base_url}/webhooks/stripe/{org.id}?code=stripe_eu"' in page
    assert _settings(org.id, "stripe_eu") == {"secret_key": SECRET, "webhook_secret": HOOK_SECRET,
                                              "publishable_key": "pk_test_123", "api_base": "http://127.0.0.1:8420"}
    with read_only() as session:
        row = session.scalar(select(PaymentProviderAccount))
        assert SECRET not in row.sealed_settings + json.dumps(row.visible_settings)

    again = signed_in.post("/admin/payment-providers/new", headers=HTMX, data={
        "csrf_token": token, "code": "stripe_eu", "secret_key": "sk_test_other"})
    assert "Another provider of this organization already has this code" in again.get_data(as_text=True)
    assert _settings(org.id, "stripe_eu")["secret_key"] == SECRET


def test_edit_keeps_blank_secrets_and_never_shows_them(signed_in, org):
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_eu", name="Stripe EU",
                               settings={"secret_key": SECRET, "webhook_secret": HOOK_SECRET})
    form = signed_in.get("/admin/payment-providers/stripe_eu/edit").get_data(as_text=True)
    assert SECRET not in form and HOOK_SECRET not in form and f"Stored: …{SECRET[-4:]}" in form
    token = csrf_token_in(form)

    edited = signed_in.post("/admin/payment-providers/stripe_eu/edit", headers=HTMX, data={
        "csrf_token": token, "name": "Stripe Europe", "code": "changed", "secret_key": "", "webhook_secret": "",
        "publishable_key": "pk_live_9"})
    assert edited.headers["HX-Redirect"] == "/admin/payment-providers"
    assert _settings(org.id, "stripe_eu") == {"secret_key": SECRET, "webhook_secret": HOOK_SECRET,
                                              "publishable_key": "pk_live_9"}
    [shown] = providers.list_providers(organization_id=org.id)
    assert (shown.code, shown.name) == ("stripe_eu", "Stripe Europe")  # the code never changes

    rotated = signed_in.post("/admin/payment-providers/stripe_eu/edit", headers=HTMX, data={
        "csrf_token": token, "secret_key": "sk_test_rotated_0000"})
    assert rotated.headers["HX-Redirect"]
    assert _settings(org.id, "stripe_eu")["secret_key"] == "sk_test_rotated_0000"


def test_settings_sealed_under_another_secret_key_are_flagged(signed_in, org, monkeypatch):
    with monkeypatch.context() as patched:
        patched.setattr(runtime, "secret_key", "the-secret-key-before-rotation")
        providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_eu",
                                   settings={"secret_key": SECRET})
    page = signed_in.get("/admin/payment-providers").get_data(as_text=True)
    assert "settings-unreadable" in page and "SECRET_KEY changed" in page
    token = _token(signed_in)
    # Typing the keys again connects it anew under this server's key.
    signed_in.post("/admin/payment-providers/stripe_eu/edit", headers=HTMX,
                   data={"csrf_token": token, "secret_key": SECRET})
    assert _settings(org.id, "stripe_eu") == {"secret_key": SECRET}
    assert "settings-unreadable" not in signed_in.get("/admin/payment-providers").get_data(as_text=True)


def test_disconnect_asks_and_is_refused_while_a_payment_is_in_flight(signed_in, org, alice):
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_eu", settings={"secret_key": SECRET})
    with unit_of_work() as uow:
        payment = Payment(organization_id=org.id, customer_id=alice.id, invoice_id=alice.invoice_id,
                          payment_type="provider", provider_kind="stripe", provider_code="stripe_eu",
                          amount_cents=100, currency="EUR", status="processing")
        uow.session.add(payment)
        uow.session.flush()
        payment_id = payment.id
    ask = signed_in.get("/admin/payment-providers/stripe_eu/disconnect").get_data(as_text=True)
    assert "Disconnect “Stripe”?" in ask
    token = csrf_token_in(ask)
    assert signed_in.post("/admin/payment-providers/stripe_eu/disconnect").status_code == 400  # no CSRF token

    refused = signed_in.post("/admin/payment-providers/stripe_eu/disconnect", data={"csrf_token": token})
    assert refused.status_code == 422 and "still in flight" in refused.get_data(as_text=True)
    assert providers.list_providers(organization_id=org.id)

    with unit_of_work() as uow:
        uow.session.get(Payment, payment_id).status = "failed"
    done = signed_in.post("/admin/payment-providers/stripe_eu/disconnect", data={"csrf_token": token})
    assert done.status_code == 303
    assert "Stripe disconnected." in signed_in.get("/admin/payment-providers").get_data(as_text=True)
    assert providers.list_providers(organization_id=org.id) == []


def test_another_organizations_provider_is_not_found(signed_in, org, other_org):
    providers.connect_provider(organization_id=other_org, kind="stripe", code="theirs", settings={"secret_key": SECRET})
    token = _token(signed_in)

    assert "theirs" not in signed_in.get("/admin/payment-providers").get_data(as_text=True)
    assert signed_in.get("/admin/payment-providers/theirs/edit").status_code == 404
    assert signed_in.post("/admin/payment-providers/theirs/edit", data={"csrf_token": token,
                                                                        "secret_key": "x"}).status_code == 404
    assert signed_in.post("/admin/payment-providers/theirs/disconnect", data={"csrf_token": token}).status_code == 404
    assert _settings(other_org, "theirs") == {"secret_key": SECRET}


def test_the_provider_screens_need_a_session(client, org):
    assert client.get("/admin/payment-providers").status_code == 302
    assert client.get("/admin/payment-providers/new").status_code == 302


# -- A customer's payments ----------------------------------------------------------------------------------------


def test_customer_payment_provider_is_set_synced_and_its_methods_shown(signed_in, org, alice, run_jobs):
    page = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)
    assert "No payment provider connected yet" in page
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    page = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)
    assert 'id="payments"' in page and '<option value="fake_main">' in page
    token = csrf_token_in(page)
    url = f"/admin/customers/{alice.id}/payment-provider"

    missing = signed_in.post(url, headers=HTMX, data={"csrf_token": token, "provider_code": "nope",
                                                      "link": "create"})
    assert "Not one of the connected providers" in missing.get_data(as_text=True)
    no_id = signed_in.post(url, headers=HTMX, data={"csrf_token": token, "provider_code": "fake_main",
                                                    "link": "existing", "provider_customer_id": " "})
    assert "Type the provider&#39;s customer id" in no_id.get_data(as_text=True)
    assert signed_in.post(url, data={"provider_code": "fake_main", "link": "create"}).status_code == 400

    saved = signed_in.post(url, headers=HTMX, data={"csrf_token": token, "provider_code": "fake_main",
                                                    "link": "create"})
    assert saved.status_code == 200 and "Payment provider saved" in saved.get_data(as_text=True)
    run_jobs()
    linked = payment_customers._customer  # noqa: SLF001 (read the row the job wrote)
    with read_only() as session:
        provider_customer_id = linked(session, org.id, alice.id).payment_provider_customer_id
    assert provider_customer_id and provider_customer_id.startswith("cus_")

    with read_only() as session:
        adapter = providers.adapter_for(session, org.id, "fake_main")
    payment_customers.save_new_method(organization_id=org.id, customer_id=alice.id,
                                      provider_method_id=adapter.tokenize_card(fake_provider.CARD_OK, exp_month=3,
                                                                               exp_year=2031))
    section = signed_in.get(f"/admin/customers/{alice.id}/payments", headers=HTMX).get_data(as_text=True)
    assert "<html" not in section and provider_customer_id in section
    assert "Visa •••• 4242" in section and "03/2031" in section and "default" in section
    refreshed = signed_in.post(f"/admin/customers/{alice.id}/payment-methods/refresh", headers=HTMX,
                               data={"csrf_token": token})
    assert refreshed.status_code == 200 and "Visa •••• 4242" in refreshed.get_data(as_text=True)

    # Linking an existing provider customer, then no provider at all.
    signed_in.post(url, headers=HTMX, data={"csrf_token": token, "provider_code": "fake_main", "link": "existing",
                                            "provider_customer_id": provider_customer_id})
    removed = signed_in.post(url, headers=HTMX, data={"csrf_token": token, "provider_code": ""})
    assert "Payment provider removed" in removed.get_data(as_text=True)
    with read_only() as session:
        row = linked(session, org.id, alice.id)
        assert (row.payment_provider, row.payment_provider_code) == (None, None)


def test_a_sync_error_is_shown_and_another_organizations_customer_is_not_found(signed_in, org, alice, other_org):
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    with unit_of_work() as uow:
        row = payment_customers._customer(uow.session, org.id, alice.id)  # noqa: SLF001
        row.payment_provider, row.payment_provider_code = "fake", "fake_main"
        row.payment_provider_error = "No such customer: cus_gone"
    page = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)
    assert "The provider refused this customer: No such customer: cus_gone" in page
    token = csrf_token_in(page)

    from billing.customers.services import upsert_customer

    theirs = upsert_customer(organization_id=other_org, data={"external_id": "bob"})
    assert signed_in.get(f"/admin/customers/{theirs.id}/payments", headers=HTMX).status_code == 404
    assert signed_in.post(f"/admin/customers/{theirs.id}/payment-provider", headers=HTMX, data={
        "csrf_token": token, "provider_code": "fake_main", "link": "create"}).status_code == 404


# -- An invoice's payments ----------------------------------------------------------------------------------------


def test_record_a_partial_payment_with_a_confirmation_then_the_rest(signed_in, org, alice, clock):
    invoice = get_invoice(organization_id=org.id, invoice_id=alice.invoice_id)
    total = invoice.total_amount_cents
    listing = signed_in.get(f"/admin/customers/{alice.id}/invoices", headers=HTMX).get_data(as_text=True)
    assert "Record a payment" in listing and "Mark paid" not in listing
    url = f"/admin/customers/{alice.id}/invoices/{invoice.id}"
    page = signed_in.get(url).get_data(as_text=True)
    assert "No payment yet." in page and f'value="{total // 100}.{total % 100:02d}"' in page  # what is due
    assert 'value="2026-11-10"' in page  # today
    token = csrf_token_in(page)

    bad = signed_in.post(f"{url}/payments", headers=HTMX, data={
        "csrf_token": token, "amount": "1000", "reference": "x" * 41, "paid_on": "2026-12-01"})
    html = bad.get_data(as_text=True)
    assert "At most 40 characters" in html and "Not a day to come" in html
    too_much = signed_in.post(f"{url}/payments", headers=HTMX, data={
        "csrf_token": token, "amount": "1000", "reference": "T-1", "paid_on": "2026-11-09", "confirmed": "1"})
    assert "More than what the invoice still owes" in too_much.get_data(as_text=True)
    sub_cent = signed_in.post(f"{url}/payments", headers=HTMX, data={
        "csrf_token": token, "amount": "1.005", "reference": "T-1", "paid_on": "2026-11-09"})
    assert "More decimals than the currency has" in sub_cent.get_data(as_text=True)

    confirm = signed_in.post(f"{url}/payments", headers=HTMX, data={
        "csrf_token": token, "amount": "4.00", "reference": "T-1", "paid_on": "2026-11-09"})
    html = confirm.get_data(as_text=True)
    assert "Record <strong>€4.00</strong> received on 2026-11-09" in html
    assert "will still be due" in html and 'name="confirmed" value="1"' in html
    with read_only() as session:
        assert session.scalar(select(Payment)) is None  # nothing recorded before the confirmation
    back = signed_in.post(f"{url}/payments", headers=HTMX, data={
        "csrf_token": token, "amount": "4.00", "reference": "T-1", "paid_on": "2026-11-09", "confirmed": "change"})
    assert 'class="form record-payment-form"' in back.get_data(as_text=True) and 'value="T-1"' in back.get_data(
        as_text=True)

    recorded = signed_in.post(f"{url}/payments", headers=HTMX, data={
        "csrf_token": token, "amount": "4.00", "reference": "T-1", "paid_on": "2026-11-09", "confirmed": "1"})
    html = recorded.get_data(as_text=True)
    assert "Payment of €4.00 recorded." in html and 'data-payment="' in html and "T-1" in html and "manual" in html
    after = get_invoice(organization_id=org.id, invoice_id=invoice.id)
    assert (after.payment_status, after.total_paid_amount_cents, after.total_due_amount_cents) == \
        ("pending", 400, total - 400)
    with read_only() as session:
        payment = session.scalar(select(Payment))
        assert payment.paid_at.date().isoformat() == "2026-11-09" and payment.reference == "T-1"

    rest = f"{(total - 400) // 100}.{(total - 400) % 100:02d}"
    signed_in.post(f"{url}/payments", headers=HTMX, data={
        "csrf_token": token, "amount": rest, "reference": "T-2", "paid_on": "", "confirmed": "1"})
    paid = get_invoice(organization_id=org.id, invoice_id=invoice.id)
    assert (paid.payment_status, paid.total_due_amount_cents) == ("succeeded", 0)
    assert "record-payment-form" not in signed_in.get(url).get_data(as_text=True)
    assert signed_in.post(f"{url}/payments", data={"amount": "1", "reference": "x"}).status_code == 400  # CSRF


def test_retry_payment_charges_the_default_card_and_says_how_it_went(signed_in, org, alice, run_jobs, clock):
    url = f"/admin/customers/{alice.id}/invoices/{alice.invoice_id}"
    assert "Retry payment" not in signed_in.get(url).get_data(as_text=True)  # no provider
    token = _token(signed_in, url)
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    signed_in.post(f"/admin/customers/{alice.id}/payment-provider", headers=HTMX, data={
        "csrf_token": token, "provider_code": "fake_main", "link": "create"})
    run_jobs()
    due = get_invoice(organization_id=org.id, invoice_id=alice.invoice_id).total_due_amount_cents
    asked = signed_in.post(f"{url}/retry-payment", headers=HTMX, data={"csrf_token": token}).get_data(as_text=True)
    assert f"Charge €{due / 100:.2f} for invoice " in asked and f">Charge €{due / 100:.2f}</button>" in asked
    # The customer has a provider: the page offers the link where they pay it themselves, with the PDF.
    assert '<input id="pay-link" type="text" readonly value="http' in asked and "/pay/" in asked
    assert "Download PDF" in asked
    no_card = signed_in.post(f"{url}/retry-payment", headers=HTMX, data={"csrf_token": token, "confirmed": "1"})
    assert "no default payment method" in no_card.get_data(as_text=True)

    with read_only() as session:
        adapter = providers.adapter_for(session, org.id, "fake_main")
    declined = payment_customers.save_new_method(
        organization_id=org.id, customer_id=alice.id,
        provider_method_id=adapter.tokenize_card(fake_provider.CARD_DECLINED_AT_CHARGE))
    failed = signed_in.post(f"{url}/retry-payment", headers=HTMX,
                            data={"csrf_token": token, "confirmed": "1"}).get_data(as_text=True)
    assert "The charge failed:" in failed and "failed" in failed and "Retry payment" in failed

    good = payment_customers.save_new_method(organization_id=org.id, customer_id=alice.id,
                                             provider_method_id=adapter.tokenize_card(fake_provider.CARD_OK))
    payment_customers.set_default_method(organization_id=org.id, customer_id=alice.id, method_id=good.id)
    assert declined.id != good.id
    clock.set(clock.now() + timedelta(minutes=5))  # the retry comes later: the payments' order is their creation
    charged = signed_in.post(f"{url}/retry-payment", headers=HTMX,
                             data={"csrf_token": token, "confirmed": "1"}).get_data(as_text=True)
    assert "Charged: the payment succeeded." in charged and "Retry payment" not in charged
    assert get_invoice(organization_id=org.id, invoice_id=alice.invoice_id).payment_status == "succeeded"
    with read_only() as session:
        statuses = [p.status for p in session.scalars(select(Payment).order_by(Payment.created_at))]
    assert statuses == ["failed", "succeeded"]
    again = signed_in.post(f"{url}/retry-payment", headers=HTMX, data={"csrf_token": token})
    assert "Only a finalized invoice that is not fully paid" in again.get_data(as_text=True)


def test_another_organizations_invoice_cannot_be_paid_here(signed_in, org, alice, other_org, billed_customer):
    create_catalog(other_org)
    theirs = billed_customer(other_org, "bob", name="Bob Ltd")
    token = _token(signed_in, f"/admin/customers/{alice.id}")
    for path in (f"/admin/customers/{theirs.id}/invoices/{theirs.invoice_id}/payments",
                 f"/admin/customers/{alice.id}/invoices/{theirs.invoice_id}/payments",
                 f"/admin/customers/{theirs.id}/invoices/{theirs.invoice_id}/retry-payment"):
        answer = signed_in.post(path, data={"csrf_token": token, "amount": "1", "reference": "x", "confirmed": "1"})
        assert answer.status_code == 404, path
    with read_only() as session:
        assert session.scalar(select(Payment)) is None


def test_secrets_module_is_what_seals_them(org):
    """The admin never unseals: what it shows comes from the visible settings."""
    shown = providers.connect_provider(organization_id=org.id, kind="stripe", code="s", settings={"secret_key": SECRET})
    assert shown.visible_settings == secrets.visible({"secret_key": SECRET}) == {"secret_key": f"…{SECRET[-4:]}"}
