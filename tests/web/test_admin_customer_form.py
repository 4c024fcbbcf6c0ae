"""The admin's customer form: creating and editing a customer through upsert_customer (as the API does), each
refusal by its field with nothing written, another organization's customer a 404, CSRF required."""

from __future__ import annotations

import html as html_text
import re

from sqlalchemy import func, select

from billing.catalog.taxes import create_tax
from billing.customers.models import Customer
from billing.customers.services import get_customer, upsert_customer
from billing.db import read_only
from tests.web.conftest import csrf_token_in

HTMX = {"HX-Request": "true"}
EMPTY_FORM = {"external_id": "", "name": "", "legal_name": "", "legal_number": "", "tax_identification_number": "",
              "email": "", "phone": "", "currency": "", "timezone": "", "document_locale": "",
              "invoice_grace_period": "", "net_payment_term": "", "address_line1": "", "address_line2": "",
              "zipcode": "", "city": "", "state": "", "country": "", "shipping_address_line1": "",
              "shipping_address_line2": "", "shipping_zipcode": "", "shipping_city": "", "shipping_state": "",
              "shipping_country": "", "provider_code": "", "link": "create", "provider_customer_id": ""}


def _customers(organization_id: str) -> int:
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(Customer).where(
            Customer.organization_id == organization_id))


def _form(client, url: str, **values) -> dict:
    token = csrf_token_in(client.get(url).get_data(as_text=True))
    return {**EMPTY_FORM, "csrf_token": token, **values}


def _field_error(html: str, field: str) -> str:
    """The error shown by the form's field `field` (empty when there is none)."""
    match = re.search(rf'data-field="{field}".*?(?:<p class="field-error"[^>]*>(.*?)</p>|</div>|</fieldset>)', html,
                      re.S)
    return html_text.unescape(match.group(1) or "") if match else ""


def test_the_list_offers_new_customer_and_the_form_labels_every_field(signed_in, org):
    assert 'href="/admin/customers/new"' in signed_in.get("/admin/customers").get_data(as_text=True)
    html = signed_in.get("/admin/customers/new").get_data(as_text=True)
    for label in ("External id", "Name", "Legal name", "Legal number", "Tax identification number", "Email",
                  "Phone", "Currency", "Time zone", "Language of documents", "Grace period (days)",
                  "Payment term (days)", "Address line 1", "Postal code", "Country"):
        assert f">{label}</label>" in html, label
    assert "<legend>Shipping address</legend>" in html and "<legend>Taxes</legend>" in html
    assert "placeholder=" not in html  # labels, never placeholders as labels


def test_create_a_customer_with_every_detail(signed_in, org, clock):
    create_tax(organization_id=org.id, data={"name": "VAT FR", "code": "vat_fr", "rate": "20"})
    create_tax(organization_id=org.id, data={"name": "Eco tax", "code": "eco", "rate": "1"})
    data = _form(signed_in, "/admin/customers/new", external_id="acme-42", name="Acme Corp",
                 legal_name="Acme SAS", legal_number="RCS 123", tax_identification_number="FR12345678901",
                 email="billing@acme.test", phone="+33 1 23 45 67 89", currency="eur", timezone="Europe/Paris",
                 document_locale="FR", invoice_grace_period="3", net_payment_term="30",
                 address_line1="1 rue de la Paix", zipcode="75002", city="Paris", country="fr",
                 shipping_address_line1="2 quai de Seine",
                 shipping_city="Lyon", shipping_zipcode="69001", shipping_country="FR", tax_codes=["vat_fr"])
    response = signed_in.post("/admin/customers/new", data=data)

    customer = get_customer(organization_id=org.id, external_id="acme-42")
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/customers/{customer.id}"
    assert (customer.name, customer.legal_name, customer.legal_number, customer.tax_identification_number) == (
        "Acme Corp", "Acme SAS", "RCS 123", "FR12345678901")
    assert (customer.currency, customer.timezone, customer.document_locale, customer.country) == (
        "EUR", "Europe/Paris", "fr", "FR")
    assert (customer.invoice_grace_period, customer.net_payment_term) == (3, 30)
    assert (customer.shipping_address_line1, customer.shipping_city, customer.shipping_zipcode,
            customer.shipping_country) == ("2 quai de Seine", "Lyon", "69001", "FR")
    assert [t.code for t in customer.taxes] == ["vat_fr"]
    assert customer.payment_provider is None

    page = signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert "Customer “Acme Corp” created." in page
    assert "2 quai de Seine, 69001, Lyon" in page and "vat_fr" in page and "30 days" in page


def test_an_htmx_create_is_told_where_to_go(signed_in, org):
    data = _form(signed_in, "/admin/customers/new", external_id="by-htmx", name="By htmx")
    response = signed_in.post("/admin/customers/new", data=data, headers=HTMX)
    customer = get_customer(organization_id=org.id, external_id="by-htmx")
    assert response.status_code == 200 and response.headers["HX-Redirect"] == f"/admin/customers/{customer.id}"


def test_refused_input_shows_each_reason_by_its_field_and_writes_nothing(signed_in, org):
    data = _form(signed_in, "/admin/customers/new", external_id="bad-1", name="Bad", currency="EURO",
                 timezone="Mars/Olympus", document_locale="zz", invoice_grace_period="-1", net_payment_term="soon",
                 country="XX", shipping_country="Atlantis")
    response = signed_in.post("/admin/customers/new", data=data, headers=HTMX)
    html = response.get_data(as_text=True)

    assert response.status_code == 200 and "<html" not in html  # the form block, swapped back by htmx
    assert "The customer was not saved" in html
    assert _field_error(html, "currency") == "Not a currency code: three letters, e.g. EUR"
    assert _field_error(html, "timezone") == "Not a time zone name, e.g. Europe/Paris"
    assert _field_error(html, "document_locale") == "Not a language code: two letters, e.g. fr"
    assert _field_error(html, "invoice_grace_period") == "Between 0 and 3650 days"
    assert _field_error(html, "net_payment_term") == "A whole number of days, e.g. 30"
    assert _field_error(html, "country") == "Not a country code: two letters, e.g. FR"
    assert _field_error(html, "shipping_country") == "Not a country code: two letters, e.g. FR"
    assert 'value="Mars/Olympus"' in html  # what was typed stays
    assert _customers(org.id) == 0

    # A provider that is not connected (a stale form): refused by its field, before the service is asked.
    data = _form(signed_in, "/admin/customers/new", external_id="bad-2", name="Bad", provider_code="nowhere")
    plain = signed_in.post("/admin/customers/new", data=data)
    assert plain.status_code == 422
    assert _field_error(plain.get_data(as_text=True), "provider_code") == "Not one of the connected providers"
    assert _customers(org.id) == 0


def test_an_external_id_is_required_and_never_taken_over(signed_in, org):
    upsert_customer(organization_id=org.id, data={"external_id": "taken", "name": "First"})
    missing = signed_in.post("/admin/customers/new", data=_form(signed_in, "/admin/customers/new", name="No id"))
    assert missing.status_code == 422
    assert _field_error(missing.get_data(as_text=True), "external_id") == (
        "Required: your system's id for this customer")
    taken = signed_in.post("/admin/customers/new", data=_form(signed_in, "/admin/customers/new",
                                                              external_id="taken", name="Second"))
    assert _field_error(taken.get_data(as_text=True), "external_id") == (
        "Another customer already has this external id")
    assert get_customer(organization_id=org.id, external_id="taken").name == "First" and _customers(org.id) == 1


def test_edit_a_customer_prefilled_and_clearing_what_is_emptied(signed_in, org):
    create_tax(organization_id=org.id, data={"name": "VAT FR", "code": "vat_fr", "rate": "20"})
    customer = upsert_customer(organization_id=org.id, data={
        "external_id": "acme", "name": "Acme", "phone": "+33 1", "net_payment_term": 15, "tax_codes": ["vat_fr"],
        "shipping_address": {"city": "Lyon", "country": "FR"}, "billing_configuration": {"document_locale": "de"}})
    page = signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert f'href="/admin/customers/{customer.id}/edit"' in page

    url = f"/admin/customers/{customer.id}/edit"
    html = signed_in.get(url).get_data(as_text=True)
    assert 'name="external_id"' not in html and "acme" in html  # shown, never sent
    assert 'value="+33 1"' in html and 'value="15"' in html and 'value="Lyon"' in html and 'value="de"' in html
    assert re.search(r'value="vat_fr" checked', html)

    data = _form(signed_in, url, name="Acme Europe", net_payment_term="", invoice_grace_period="5",
                 shipping_city="Lyon", shipping_country="FR", document_locale="de")  # phone and taxes emptied
    response = signed_in.post(url, data=data)
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/customers/{customer.id}"
    saved = get_customer(organization_id=org.id, external_id="acme")
    assert (saved.name, saved.phone, saved.net_payment_term, saved.invoice_grace_period) == (
        "Acme Europe", None, None, 5)
    assert saved.taxes == [] and saved.shipping_city == "Lyon" and saved.document_locale == "de"
    assert saved.id == customer.id and _customers(org.id) == 1
    assert "Customer “Acme Europe” saved." in signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True)


def test_a_billed_customers_currency_cannot_change(signed_in, org, billed_customer):
    from tests.web.conftest import create_catalog

    create_catalog(org.id)
    billed = billed_customer(org.id, "billed", name="Billed")
    url = f"/admin/customers/{billed.id}/edit"
    response = signed_in.post(url, data=_form(signed_in, url, name="Billed", currency="USD"))
    assert response.status_code == 422
    assert _field_error(response.get_data(as_text=True), "currency") == (
        "Cannot change: the customer is already billed in its currency (subscriptions, invoices)")
    assert get_customer(organization_id=org.id, external_id="billed").currency == "EUR"


def test_another_organizations_customer_is_a_404(signed_in, org, other_org):
    theirs = upsert_customer(organization_id=other_org, data={"external_id": "globex-1", "name": "Theirs"})
    url = f"/admin/customers/{theirs.id}/edit"
    assert signed_in.get(url).status_code == 404
    token = csrf_token_in(signed_in.get("/admin/customers/new").get_data(as_text=True))
    assert signed_in.post(url, data={**EMPTY_FORM, "csrf_token": token, "name": "Mine now"}).status_code == 404
    assert get_customer(organization_id=other_org, external_id="globex-1").name == "Theirs"


def test_the_forms_require_a_csrf_token(signed_in, org):
    customer = upsert_customer(organization_id=org.id, data={"external_id": "acme", "name": "Acme"})
    created = signed_in.post("/admin/customers/new", data={**EMPTY_FORM, "external_id": "no-token", "name": "X"})
    edited = signed_in.post(f"/admin/customers/{customer.id}/edit", data={**EMPTY_FORM, "name": "Changed"})
    assert created.status_code == 400 and edited.status_code == 400
    assert _customers(org.id) == 1 and get_customer(organization_id=org.id, external_id="acme").name == "Acme"


def test_a_new_customer_is_linked_to_a_connected_provider_and_an_edit_leaves_the_link_alone(signed_in, org,
                                                                                           run_jobs):
    from billing.payments import providers

    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    form = signed_in.get("/admin/customers/new").get_data(as_text=True)
    assert '<option value="fake_main">' in form
    response = signed_in.post("/admin/customers/new", data=_form(
        signed_in, "/admin/customers/new", external_id="paying", name="Paying", currency="EUR",
        provider_code="fake_main", link="create"))
    assert response.status_code == 303
    run_jobs()  # the provider's customer is created by a job, as for the API
    linked = get_customer(organization_id=org.id, external_id="paying")
    assert (linked.payment_provider, linked.payment_provider_code, linked.sync_with_provider) == (
        "fake", "fake_main", True)
    assert linked.payment_provider_customer_id and linked.payment_provider_customer_id.startswith("cus_")

    url = f"/admin/customers/{linked.id}/edit"
    page = signed_in.get(url).get_data(as_text=True)
    assert re.search(r'<option selected value="fake_main">|<option value="fake_main" selected>', page)
    data = _form(signed_in, url, name="Paying Ltd", currency="EUR", provider_code="fake_main", link="existing",
                 provider_customer_id=linked.payment_provider_customer_id)
    assert signed_in.post(url, data=data).status_code == 303
    run_jobs()
    edited = get_customer(organization_id=org.id, external_id="paying")
    assert edited.name == "Paying Ltd"
    assert (edited.payment_provider_code, edited.payment_provider_customer_id) == (
        "fake_main", linked.payment_provider_customer_id)


def test_a_tax_deleted_since_the_form_was_shown_is_refused_by_the_taxes(signed_in, org):
    data = _form(signed_in, "/admin/customers/new", external_id="taxed", name="Taxed", tax_codes=["gone"])
    response = signed_in.post("/admin/customers/new", data=data)
    assert response.status_code == 422
    assert _field_error(response.get_data(as_text=True), "tax_codes") == (
        "One of these taxes no longer exists: reload the page")
    assert _customers(org.id) == 0
