"""Admin add-ons (list, create, edit, delete with inline validation over htmx) and the customer page's
one-off invoice form; the portal lists the one-off invoice with its add-on lines."""

from __future__ import annotations

import re

from billing.catalog.add_ons import create_add_on, get_add_on, list_add_ons
from billing.catalog.taxes import create_tax
from billing.customers.services import get_customer, upsert_customer
from billing.errors import NotFound
from billing.invoicing.queries import list_invoices
from billing.links import portal_url
from tests.web.conftest import csrf_token_in

HTMX = {"HX-Request": "true"}


def _form(token: str, **fields: object) -> dict[str, object]:
    data = {"csrf_token": token, "name": "", "code": "", "amount": "", "amount_currency": "",
            "invoice_display_name": "", "description": ""}
    data.update(fields)
    return data


def test_create_edit_and_delete_an_add_on_with_inline_errors(signed_in, org):
    create_tax(organization_id=org.id, data={"name": "VAT", "code": "vat20", "rate": "20"})
    empty = signed_in.get("/admin/add-ons")
    assert empty.status_code == 200 and "No add-on yet." in empty.get_data(as_text=True)
    page = signed_in.get("/admin/add-ons/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'value="EUR"' in html and 'value="vat20"' in html
    token = csrf_token_in(html)

    # Refused over htmx: 200 with the form block alone, each reason next to its field.
    refused = signed_in.post("/admin/add-ons/new", headers=HTMX,
                             data=_form(token, code="setup", amount="12.345", amount_currency="EUR"))
    fragment = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "<html" not in fragment
    assert 'data-field="name"' in fragment and "Required" in fragment
    assert "Too many decimals for this currency" in fragment
    refused = signed_in.post("/admin/add-ons/new", headers=HTMX,
                             data=_form(token, name="Setup", code="setup", amount="0", amount_currency="EURO"))
    fragment = refused.get_data(as_text=True)
    assert "Above 0" in fragment and "A currency code (ISO 4217), e.g. EUR" in fragment
    assert list_add_ons(organization_id=org.id).total_count == 0

    created = signed_in.post("/admin/add-ons/new", headers=HTMX, data=_form(
        token, name="Setup fee", code="setup", amount="150.50", amount_currency="EUR",
        invoice_display_name="Onboarding", description="Done in a day", tax_codes="vat20"))
    assert created.status_code == 200 and created.headers["HX-Redirect"] == "/admin/add-ons"
    add_on = get_add_on(organization_id=org.id, code="setup")
    assert (add_on.name, add_on.amount_cents, add_on.amount_currency, add_on.invoice_display_name,
            [t.code for t in add_on.taxes]) == ("Setup fee", 15050, "EUR", "Onboarding", ["vat20"])
    listed = signed_in.get("/admin/add-ons").get_data(as_text=True)
    assert 'data-add-on="setup"' in listed and "€150.50" in listed and "created." in listed

    # A taken code, without htmx: 422 and the whole page.
    taken = signed_in.post("/admin/add-ons/new", data=_form(token, name="Other", code="setup", amount="1",
                                                            amount_currency="EUR"))
    assert taken.status_code == 422 and "Already used by another add-on" in taken.get_data(as_text=True)

    edit = signed_in.get("/admin/add-ons/setup/edit").get_data(as_text=True)
    assert 'value="150.50"' in edit and 'value="vat20" checked' in edit
    saved = signed_in.post("/admin/add-ons/setup/edit", headers=HTMX, data=_form(
        token, name="Setup fee", code="setup", amount="99", amount_currency="EUR", description=""))
    assert saved.headers["HX-Redirect"] == "/admin/add-ons"
    add_on = get_add_on(organization_id=org.id, code="setup")
    assert (add_on.amount_cents, add_on.description, add_on.invoice_display_name, add_on.taxes) == (
        9900, None, None, [])

    ask = signed_in.get("/admin/add-ons/setup/delete")
    assert ask.status_code == 200 and "Invoices already issued keep their lines" in ask.get_data(as_text=True)
    deleted = signed_in.post("/admin/add-ons/setup/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    try:
        get_add_on(organization_id=org.id, code="setup")
        raise AssertionError("the add-on is still there")
    except NotFound:
        pass
    assert signed_in.get("/admin/add-ons/setup/edit").status_code == 404


def test_another_organizations_add_on_is_not_found(signed_in, other_org):
    create_add_on(organization_id=other_org, data={"name": "Theirs", "code": "theirs", "amount_cents": 100,
                                                   "amount_currency": "EUR"})
    assert signed_in.get("/admin/add-ons/theirs/edit").status_code == 404
    assert "theirs" not in signed_in.get("/admin/add-ons").get_data(as_text=True)


def test_issue_a_one_off_invoice_from_the_customer_page_and_see_it_in_the_portal(signed_in, org, client):
    customer = upsert_customer(organization_id=org.id, data={"external_id": "alice", "name": "Alice"})
    page = signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert "No add-on yet" in page
    create_add_on(organization_id=org.id, data={"name": "Consulting hour", "code": "consulting",
                                                "amount_cents": 12000, "amount_currency": "EUR"})
    create_add_on(organization_id=org.id, data={"name": "Setup fee", "code": "setup", "amount_cents": 5000,
                                                "amount_currency": "EUR"})
    page = signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    token = csrf_token_in(page)
    assert 'name="add_on_code"' in page and 'id="one-off-currency"' in page  # the customer has no currency yet
    line = signed_in.get(f"/admin/customers/{customer.id}/one-off-invoices/line", headers=HTMX)
    assert line.status_code == 200 and line.get_data(as_text=True).count('name="add_on_code"') == 1

    url = f"/admin/customers/{customer.id}/one-off-invoices"
    # Refused: no currency, a price with too many decimals, an empty form.
    refused = signed_in.post(url, headers=HTMX, data={"csrf_token": token, "add_on_code": ["consulting", "setup"],
                                                      "units": ["2.5", ""], "unit_price": ["", "1.234"],
                                                      "description": ["Workshop", ""], "currency": ""})
    fragment = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "Too many decimals for this currency" in fragment
    assert 'value="Workshop"' in fragment and 'value="2.5"' in fragment  # what was typed stays
    refused = signed_in.post(url, headers=HTMX, data={"csrf_token": token, "add_on_code": "consulting",
                                                      "units": "2.5", "currency": ""})
    assert "The customer has no currency yet: choose one" in refused.get_data(as_text=True)
    refused = signed_in.post(url, headers=HTMX, data={"csrf_token": token, "add_on_code": "", "currency": "EUR"})
    assert "Add at least one line" in refused.get_data(as_text=True)
    refused = signed_in.post(url, headers=HTMX, data={"csrf_token": token, "add_on_code": "consulting",
                                                      "units": "-1", "currency": "EUR"})
    assert refused.status_code == 200 and "Units: 0 or more" in refused.get_data(as_text=True)
    assert list_invoices(organization_id=org.id).total_count == 0

    typed = {"csrf_token": token, "add_on_code": ["consulting", "setup"], "units": ["2.5", ""],
             "unit_price": ["", "45.50"], "description": ["Workshop", ""], "currency": "EUR"}
    # The first post asks, naming the total before taxes of the lines typed (2.5 × 120.00 + 45.50), and writes nothing.
    asked = signed_in.post(url, headers=HTMX, data=typed).get_data(as_text=True)
    assert "Issue an invoice of €345.50 before taxes to Alice now?" in asked
    assert ">Issue €345.50 + taxes</button>" in asked
    assert '<input type="hidden" name="unit_price" value="45.50">' in asked
    assert "Consulting hour" in asked and "2.5 × the add-on&#39;s price · Workshop" in asked
    assert list_invoices(organization_id=org.id).total_count == 0
    assert get_customer(organization_id=org.id, external_id="alice").currency is None
    # Cancel shows the form again as it was typed.
    cancel = re.search(r'hx-get="([^"]+)" hx-target="#one-off">Cancel', asked).group(1).replace("&amp;", "&")
    form = signed_in.get(cancel, headers=HTMX).get_data(as_text=True)
    assert 'value="Workshop"' in form and 'value="45.50"' in form and ">Issue invoice</button>" in form

    issued = signed_in.post(url, headers=HTMX, data={**typed, "confirmed": "1"})
    fragment = issued.get_data(as_text=True)
    assert issued.status_code == 200 and issued.headers["HX-Trigger"] == "invoices-changed"
    # 2.5 × 120.00 + 45.50 = 345.50 (no tax defined).
    assert re.search(r"Invoice \S+ issued: €345\.50\.", fragment)
    (invoice,) = list_invoices(organization_id=org.id).items
    assert (invoice.invoice_type, invoice.status, invoice.total_amount_cents, invoice.currency) == (
        "one_off", "finalized", 34550, "EUR")
    invoices = signed_in.get(f"/admin/customers/{customer.id}/invoices", headers=HTMX).get_data(as_text=True)
    assert invoice.number in invoices and "one-off" in invoices
    detail = signed_in.get(f"/admin/customers/{customer.id}/invoices/{invoice.id}").get_data(as_text=True)
    assert "Consulting hour × 2.5" in detail and "Workshop" in detail and "€300.00" in detail

    # Without htmx: back to the customer page, which says so.
    asked = signed_in.post(url, data={"csrf_token": token, "add_on_code": "setup"})
    assert asked.status_code == 200 and "Issue an invoice of €50.00 before taxes to Alice now?" in asked.get_data(
        as_text=True)
    again = signed_in.post(url, data={"csrf_token": token, "add_on_code": "setup", "confirmed": "1"})
    assert again.status_code == 303
    assert "issued: €50.00" in signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True)

    portal = client.get("/portal/" + portal_url(customer_id=customer.id, organization_id=org.id).rsplit(
        "/portal/", 1)[1]).get_data(as_text=True)
    assert invoice.number in portal and "one-off" in portal
    assert "Consulting hour × 2.5: <span class=\"amount\">€300.00</span>" in portal and "Workshop" in portal
    assert "Setup fee: <span class=\"amount\">€45.50</span>" in portal
