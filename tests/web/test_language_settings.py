"""Choosing languages in the admin (issue 19): the organization's default language of documents in Settings › Invoice
PDFs (one of the five Tally ships, audited), the customer form's select (the API still takes any ISO 639-1 code, kept
as it is), and the portal a customer then reads: its own language, else the organization's, else English."""

from __future__ import annotations

import re

from billing.customers.services import get_customer, upsert_customer
from billing.db import read_only
from billing.organizations.language import read_document_locale
from billing.organizations.models import Organization
from tests.web.conftest import csrf_token_in

PAGE = "/admin/settings/invoices"
POST = "/admin/settings/invoices/language"
HTMX = {"HX-Request": "true"}


def _choose(client, code: str, headers=None):
    token = csrf_token_in(client.get(PAGE).get_data(as_text=True))
    return client.post(POST, data={"document_locale": code, "csrf_token": token}, headers=headers or {})


def _portal(client, customer) -> str:
    from billing import links

    url = links.portal_url(customer_id=customer.id, organization_id=customer.organization_id)
    return client.get("/portal/" + url.rsplit("/portal/", 1)[1]).get_data(as_text=True)


def test_the_settings_page_offers_the_five_languages_english_chosen(signed_in, org):
    html = signed_in.get(PAGE).get_data(as_text=True)
    options = re.findall(r'<option[^>]*value="(\w+)"', html.split('id="language-panel"')[1])
    assert options == ["en", "fr", "de", "es", "it"]
    assert re.search(r'<option selected value="en">|<option value="en" selected>', html)


def test_a_chosen_language_is_saved_audited_and_speaks_to_customers_without_their_own(signed_in, org, clock):
    response = _choose(signed_in, "de", headers=HTMX)
    assert response.status_code == 200
    assert "Documents are now in Deutsch" in response.get_data(as_text=True)
    assert read_document_locale(organization_id=org.id) == "de"
    assert "Language of documents changed" in signed_in.get("/admin/audit").get_data(as_text=True)

    plain = upsert_customer(organization_id=org.id, data={"external_id": "plain", "name": "Plain"})
    french = upsert_customer(organization_id=org.id, data={
        "external_id": "french", "name": "French", "billing_configuration": {"document_locale": "fr"}})
    unshipped = upsert_customer(organization_id=org.id, data={
        "external_id": "pt", "name": "Portuguese", "billing_configuration": {"document_locale": "pt"}})
    assert 'lang="de"' in _portal(signed_in, plain) and "Rechnungen" in _portal(signed_in, plain)
    assert 'lang="fr"' in _portal(signed_in, french) and "Factures" in _portal(signed_in, french)
    assert 'lang="de"' in _portal(signed_in, unshipped)  # Tally ships no Portuguese: the organization's
    assert 'lang="en"' in signed_in.get("/admin/customers").get_data(as_text=True)  # the admin stays English


def test_a_language_tally_does_not_ship_is_refused_and_nothing_saved(signed_in, org):
    response = _choose(signed_in, "pt")
    assert response.status_code == 422
    assert "Choose one of the languages listed." in response.get_data(as_text=True)
    with read_only() as session:
        assert session.get(Organization, org.id).document_locale is None


def test_the_customer_form_offers_the_languages_and_keeps_an_api_code(signed_in, org):
    html = signed_in.get("/admin/customers/new").get_data(as_text=True)
    select = re.search(r'<select[^>]* id="document_locale".*?</select>', html, re.S).group(0)
    assert re.findall(r'value="(\w*)"', select) == ["", "en", "fr", "de", "es", "it"]

    customer = upsert_customer(organization_id=org.id, data={
        "external_id": "pt", "name": "Portuguese", "billing_configuration": {"document_locale": "pt"}})
    form = signed_in.get(f"/admin/customers/{customer.id}/edit").get_data(as_text=True)
    select = re.search(r'<select[^>]* id="document_locale".*?</select>', form, re.S).group(0)
    assert re.search(r'<option selected value="pt">|<option value="pt" selected>', select)
    assert "not shipped" in select
    token = csrf_token_in(form)
    from tests.web.test_admin_customer_form import EMPTY_FORM

    saved = signed_in.post(f"/admin/customers/{customer.id}/edit", data={
        **EMPTY_FORM, "external_id": "pt", "name": "Portuguese renamed", "document_locale": "pt",
        "csrf_token": token})
    assert saved.status_code in (200, 302, 303), saved.get_data(as_text=True)
    assert get_customer(organization_id=org.id, external_id="pt").document_locale == "pt"
