"""Admin › Settings › Invoice PDFs: the bank details saved (IBAN compacted, BIC upper case) and audited, refused by
field with nothing saved (a mistyped IBAN, a BIC of the wrong shape, an IBAN without its holder), cleared, CSRF
checked, another organization untouched; only admins open it (the role map: tests/web/test_admin_roles.py)."""

from __future__ import annotations

import re

import pytest

from billing.organizations.bank_details import iban_problem, read_bank_details
from billing.organizations.services import create_admin, create_organization
from tests.web.conftest import PASSWORD, csrf_token_in, sign_in

HTMX = {"HX-Request": "true"}
PAGE = "/admin/settings/invoices"
POST = "/admin/settings/invoices/bank-details"
GOOD = {"account_holder": "Acme Cloud SAS", "iban": "fr14 2004 1010 0505 0001 3m02 606", "bic": "psstfrpppar",
        "bank_name": "La Banque Postale", "payment_instructions": "Quote the invoice number."}


def _post(client, headers=None, **values):
    token = csrf_token_in(client.get(PAGE).get_data(as_text=True))
    return client.post(POST, data={**GOOD, **values, "csrf_token": token}, headers=headers or {})


def _error(html: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]+)</p>', html)
    return match.group(1) if match else ""


@pytest.mark.parametrize(("iban", "reason"), [
    ("DE89370400440532013000", None), ("GB82WEST12345698765432", None), ("NO9386011117947", None),
    ("DE89370400440532013001", "invalid_checksum"), ("DE8937040044053201300", "wrong_length"),
    ("ZZ89370400440532013000", "unknown_country"), ("D189370400440532013000", "invalid_format")])
def test_iban_rules(iban, reason):
    assert iban_problem(iban) == reason


def test_the_bank_details_are_saved_compact_and_shown_grouped(signed_in, org):
    saved = _post(signed_in, headers=HTMX)
    html = saved.get_data(as_text=True)
    assert saved.status_code == 200 and "Bank details saved" in html
    details = read_bank_details(organization_id=org.id)
    assert (details.iban, details.bic, details.account_holder) == ("FR1420041010050500013M02606", "PSSTFRPPPAR",
                                                                   "Acme Cloud SAS")
    assert 'value="FR14 2004 1010 0505 0001 3M02 606"' in signed_in.get(PAGE).get_data(as_text=True)
    audit = signed_in.get("/admin/audit").get_data(as_text=True)
    assert "Bank details changed" in audit


@pytest.mark.parametrize(("values", "field", "words"), [
    ({"iban": "FR14 2004 1010 0505 0001 3M02 607"}, "iban", "check digits do not match"),
    ({"iban": "FR14 2004 1010 0505 0001 3M02"}, "iban", "length of this country"),
    ({"bic": "PSST-FR"}, "bic", "Not a BIC"),
    ({"account_holder": ""}, "account_holder", "Required with an IBAN"),
])
def test_a_refused_detail_is_told_by_its_field_and_nothing_is_saved(signed_in, org, values, field, words):
    refused = _post(signed_in, headers=HTMX, **values)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and words in _error(html, field)
    assert 'aria-invalid="true"' in html
    assert not read_bank_details(organization_id=org.id).any
    plain = _post(signed_in, **values)  # without htmx: 422 and the same reason
    assert plain.status_code == 422 and words in _error(plain.get_data(as_text=True), field)


def test_blank_fields_clear_the_details(signed_in, org):
    _post(signed_in)
    cleared = _post(signed_in, headers=HTMX, **{name: "" for name in GOOD})
    assert "Bank details removed" in cleared.get_data(as_text=True)
    assert not read_bank_details(organization_id=org.id).any


def test_without_its_csrf_token_nothing_is_saved(signed_in, org):
    refused = signed_in.post(POST, data=GOOD, headers=HTMX)
    assert refused.status_code in (200, 400)
    assert not read_bank_details(organization_id=org.id).any


def test_another_organization_is_untouched(signed_in, org):
    other = create_organization(name="Globex")
    _post(signed_in)
    assert read_bank_details(organization_id=org.id).any and not read_bank_details(
        organization_id=other.organization_id).any


@pytest.mark.parametrize("role", ["manager", "finance"])
def test_managers_and_finance_cannot_open_it_or_save(client, org, role):
    email = f"{role}@acme.test"
    create_admin(email=email, password=PASSWORD, organization_id=org.id, role=role)
    assert sign_in(client, email).status_code == 302
    assert client.get(PAGE).status_code == 403
    token = csrf_token_in(client.get("/admin/customers").get_data(as_text=True))
    assert client.post(POST, data={**GOOD, "csrf_token": token}).status_code == 403
    assert not read_bank_details(organization_id=org.id).any
