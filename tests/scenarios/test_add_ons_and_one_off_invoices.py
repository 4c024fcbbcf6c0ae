"""Add-ons and one-off invoices through lago-python-client, every amount to the cent (docs/billing.md).

`client.add_ons` and `client.invoices.create(OneOffInvoice(...))` are used exactly as with Lago.
"""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    AddOn,
    AppliedCoupon,
    Coupon,
    CreditNote,
    Customer,
    OneOffInvoice,
    Tax,
    Wallet,
    WebhookEndpoint,
)
from lago_python_client.models.credit_note import Item, Items
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import func, select

from billing.db import read_only
from billing.invoicing.models import Fee, Invoice
from billing.organizations.models import Organization
from tests.scenarios.test_invoice_lifecycle import _webhooks
from tests.scenarios.test_taxes_and_coupons import _check_invariant
from tests.smtp_sink import smtp  # noqa: F401 (a real SMTP server: aiosmtpd)


def _fees(*fees: InvoiceFee) -> InvoiceFeesList:
    return InvoiceFeesList(__root__=list(fees))


def _one_off(lago, customer: str, *fees: InvoiceFee, currency: str | None = "EUR"):
    return lago.invoices.create(OneOffInvoice(external_customer_id=customer, currency=currency, fees=_fees(*fees)))


def _refused(call) -> LagoApiError:
    with pytest.raises(LagoApiError) as refused:
        call()
    return refused.value


def _stored_invoices() -> int:
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(Invoice))


def _prefix(org) -> str:
    with read_only() as session:
        return session.get(Organization, org.id).document_number_prefix


def _taxes(invoice):
    return [(t.tax_code, t.fees_amount_cents, t.amount_cents) for t in invoice.applied_taxes.__root__]


def _catalog(lago) -> dict[str, object]:
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    lago.taxes.create(Tax(name="Reduced VAT", code="vat10", rate=10.0))
    lago.taxes.create(Tax(name="Digital", code="dig5_5", rate=5.5))
    return {
        "setup": lago.add_ons.create(AddOn(name="Setup fee", code="setup", amount_cents=10000, amount_currency="EUR",
                                           invoice_display_name="Onboarding", description="One-time setup",
                                           tax_codes=["vat10"])),
        "consulting": lago.add_ons.create(AddOn(name="Consulting hour", code="consulting", amount_cents=12550,
                                                amount_currency="EUR")),
        "support": lago.add_ons.create(AddOn(name="Support ticket", code="support", amount_cents=999,
                                             amount_currency="EUR")),
    }


# ---------------------------------------------------------------- add-ons


def test_add_ons_create_read_update_list_delete(lago, clock):
    created = _catalog(lago)["setup"]
    assert (created.name, created.code, created.amount_cents, created.amount_currency) == (
        "Setup fee", "setup", 10000, "EUR")
    assert (created.invoice_display_name, created.description) == ("Onboarding", "One-time setup")
    assert [t.code for t in created.taxes.__root__] == ["vat10"] and created.created_at == "2026-11-10T12:00:00Z"

    found = lago.add_ons.find("setup")
    assert found.lago_id == created.lago_id
    updated = lago.add_ons.update(AddOn(name="Setup", amount_cents=15000, tax_codes=["dig5_5", "vat20"]), "setup")
    assert (updated.name, updated.amount_cents, updated.invoice_display_name) == ("Setup", 15000, "Onboarding")
    assert [t.code for t in updated.taxes.__root__] == ["dig5_5", "vat20"]
    renamed = lago.add_ons.update(AddOn(code="setup-2", tax_codes=[]), "setup")
    assert renamed.code == "setup-2" and renamed.taxes.__root__ == []
    assert _refused(lambda: lago.add_ons.find("setup")).status_code == 404

    listed = lago.add_ons.find_all({"per_page": 2})
    rest = lago.add_ons.find_all({"per_page": 2, "page": 2})
    assert sorted(a.code for a in listed["add_ons"] + rest["add_ons"]) == ["consulting", "setup-2", "support"]
    assert (listed["meta"]["total_count"], listed["meta"]["total_pages"], len(rest["add_ons"])) == (3, 2, 1)

    deleted = lago.add_ons.destroy("setup-2")
    assert deleted.code == "setup-2"
    assert _refused(lambda: lago.add_ons.find("setup-2")).response["code"] == "add_on_not_found"
    assert sorted(a.code for a in lago.add_ons.find_all()["add_ons"]) == ["consulting", "support"]
    # A deleted add-on's code is free again.
    again = lago.add_ons.create(AddOn(name="Setup again", code="setup-2", amount_cents=1, amount_currency="USD"))
    assert again.lago_id != created.lago_id


def test_add_on_validation_errors_are_lagos(lago, clock):
    _catalog(lago)
    taken = _refused(lambda: lago.add_ons.create(AddOn(name="Other", code="setup", amount_cents=1,
                                                       amount_currency="EUR")))
    assert taken.status_code == 422 and taken.response["error_details"] == {"code": ["value_already_exist"]}
    bad = _refused(lambda: lago.add_ons.create(AddOn(code="x", amount_cents=0, amount_currency="EURO")))
    assert bad.status_code == 422
    assert bad.response["error_details"] == {"name": ["value_is_mandatory"], "amount_cents": ["value_is_out_of_range"],
                                             "amount_currency": ["value_is_invalid"]}
    missing = _refused(lambda: lago.add_ons.create(AddOn(name="x", code="x")))
    assert missing.response["error_details"] == {"amount_cents": ["value_is_mandatory"],
                                                 "amount_currency": ["value_is_mandatory"]}
    unknown_tax = _refused(lambda: lago.add_ons.create(AddOn(name="x", code="x", amount_cents=1,
                                                             amount_currency="EUR", tax_codes=["nope"])))
    assert (unknown_tax.status_code, unknown_tax.response["code"]) == (404, "tax_not_found")
    clash = _refused(lambda: lago.add_ons.update(AddOn(code="consulting"), "setup"))
    assert clash.response["error_details"] == {"code": ["value_already_exist"]}
    assert _refused(lambda: lago.add_ons.update(AddOn(name="y"), "nope")).status_code == 404
    assert _refused(lambda: lago.add_ons.destroy("nope")).response["code"] == "add_on_not_found"
    # Nothing was written by the refused requests.
    assert sorted(a.code for a in lago.add_ons.find_all()["add_ons"]) == ["consulting", "setup", "support"]
    no_root = httpx.post(f"{lago.base_api_url}add_ons", json={"name": "x"},
                         headers={"Authorization": f"Bearer {lago.api_key}"})
    assert no_root.status_code == 400 and no_root.json()["status"] == 400


# ---------------------------------------------------------------- one-off invoices


def test_one_off_invoice_amounts_and_taxes_to_the_cent(lago, org, clock):
    add_ons = _catalog(lago)
    lago.customers.create(Customer(external_id="acme", name="Acme", currency="EUR", timezone="UTC"))
    invoice = _one_off(
        lago, "acme",
        InvoiceFee(add_on_code="setup"),  # 1 × 100.00, the add-on's 10 % VAT
        InvoiceFee(add_on_code="consulting", units=2.5, description="Migration workshop"),  # 2.5 × 125.50, org 20 %
        InvoiceFee(add_on_code="support", unit_amount_cents=222, units=1.5, tax_codes=["dig5_5"]),  # 3.33
        InvoiceFee(add_on_code="support", unit_amount_cents=222, units=1.5, tax_codes=["dig5_5"],
                   invoice_display_name="Priority ticket"),
        InvoiceFee(add_on_code="support", units=0.5, tax_codes=[]),  # 0.5 × 9.99 = 4.995 → 5.00, no tax
    )
    _check_invariant(invoice)
    assert (invoice.invoice_type, invoice.status, invoice.payment_status, invoice.currency) == (
        "one_off", "finalized", "pending", "EUR")
    # Numbered at once, per customer: PREFIX-{customer}-{invoice of that customer}.
    assert invoice.number == f"{_prefix(org)}-001-001" and invoice.sequential_id == 1
    assert invoice.issuing_date == "2026-11-10" and invoice.billing_periods.__root__ == []
    fees = invoice.fees.__root__
    assert [f.amount_cents for f in fees] == [10000, 31375, 333, 333, 500]
    assert [f.units for f in fees] == ["1", "2.5", "1.5", "1.5", "0.5"]
    assert [f.precise_unit_amount for f in fees] == ["100", "125.5", "2.22", "2.22", "9.99"]
    # Taxes: the first level that has some, per fee; each tax rounded once on the invoice:
    # 5.5 % of 3.33 is 0.18315, twice: 0.3663 → 0.37 (0.18 + 0.18 per fee would be 0.36).
    assert _taxes(invoice) == [("dig5_5", 666, 37), ("vat10", 10000, 1000), ("vat20", 31375, 6275)]
    assert [f.taxes_amount_cents for f in fees] == [1000, 6275, 18, 18, 0]
    assert [[t.tax_code for t in f.applied_taxes.__root__] for f in fees] == [
        ["vat10"], ["vat20"], ["dig5_5"], ["dig5_5"], []]
    assert (invoice.fees_amount_cents, invoice.taxes_amount_cents, invoice.total_amount_cents,
            invoice.total_due_amount_cents) == (42541, 7312, 49853, 49853)
    setup, consulting, ticket, priority = fees[0], fees[1], fees[2], fees[3]
    assert (setup.item.type, setup.item.code, setup.item.name, setup.item.invoice_display_name,
            setup.item.lago_item_id, setup.item.item_type) == (
        "add_on", "setup", "Setup fee", "Onboarding", add_ons["setup"].lago_id, "AddOn")
    assert (setup.description, consulting.description, consulting.item.invoice_display_name) == (
        "One-time setup", "Migration workshop", "Consulting hour")
    assert (ticket.item.invoice_display_name, priority.item.invoice_display_name) == ("Support ticket",
                                                                                     "Priority ticket")
    assert all(f.lago_invoice_id == invoice.lago_id and f.external_customer_id == "acme" for f in fees)
    assert lago.invoices.find(invoice.lago_id).total_amount_cents == 49853
    listed = lago.invoices.find_all({"external_customer_id": "acme"})["invoices"]
    assert [(i.lago_id, i.invoice_type) for i in listed] == [(invoice.lago_id, "one_off")]
    # /fees by customer lists add-on fees too (they belong to no subscription).
    customer_fees = lago.fees.find_all({"external_customer_id": "acme", "per_page": 100})["fees"]
    assert sorted(f.lago_id for f in customer_fees) == sorted(f.lago_id for f in fees)

    # The customer's taxes come before the organization's (an add-on without taxes of its own).
    lago.customers.create(Customer(external_id="reduced", currency="EUR", tax_codes=["vat10"]))
    reduced = _one_off(lago, "reduced", InvoiceFee(add_on_code="consulting", units=3))
    assert _taxes(reduced) == [("vat10", 37650, 3765)] and reduced.total_amount_cents == 41415
    assert reduced.number == f"{_prefix(org)}-002-001"


def test_a_customer_without_currency_takes_the_invoices_and_a_zero_invoice_is_paid(lago, clock):
    _catalog(lago)
    lago.customers.create(Customer(external_id="newbie"))
    free = _one_off(lago, "newbie", InvoiceFee(add_on_code="support", unit_amount_cents=0, units=3), currency="USD")
    assert (free.currency, free.total_amount_cents, free.payment_status, free.status) == (
        "USD", 0, "succeeded", "finalized")
    assert lago.customers.find("newbie").currency == "USD"
    # Without a currency, the customer's.
    second = _one_off(lago, "newbie", InvoiceFee(add_on_code="support"), currency=None)
    assert second.currency == "USD" and second.fees_amount_cents == 999
    assert second.number.endswith("-002")


def test_coupons_credit_notes_and_prepaid_credits_do_not_apply_to_one_off_invoices(lago, clock):
    _catalog(lago)
    lago.customers.create(Customer(external_id="saver", currency="EUR", tax_codes=["vat10"]))
    lago.coupons.create(Coupon(name="Five", code="five", coupon_type="fixed_amount", amount_cents=500,
                               amount_currency="EUR", frequency="once", expiration="no_expiration"))
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="saver", coupon_code="five"))
    wallet = lago.wallets.create(Wallet(external_customer_id="saver", rate_amount="1", granted_credits="100",
                                        currency="EUR"))
    first = _one_off(lago, "saver", InvoiceFee(add_on_code="consulting"))
    assert (first.fees_amount_cents, first.coupons_amount_cents, first.taxes_amount_cents,
            first.credit_notes_amount_cents, first.prepaid_credit_amount_cents, first.total_amount_cents) == (
        12550, 0, 1255, 0, 0, 13805)
    assert first.credits.__root__ == []
    # A credit note on it leaves a balance; the next one-off invoice does not use it either.
    note = lago.credit_notes.create(CreditNote(
        invoice_id=first.lago_id, reason="order_change", credit_amount_cents=2200,
        items=Items(__root__=[Item(fee_id=first.fees.__root__[0].lago_id, amount_cents=2000)])))
    assert (note.total_amount_cents, note.balance_amount_cents) == (2200, 2200)
    second = _one_off(lago, "saver", InvoiceFee(add_on_code="setup"))
    assert (second.credit_notes_amount_cents, second.prepaid_credit_amount_cents, second.coupons_amount_cents,
            second.total_amount_cents) == (0, 0, 0, 11000)
    assert lago.credit_notes.find(note.lago_id).balance_amount_cents == 2200
    (applied,) = lago.applied_coupons.find_all({"external_customer_id": "saver"})["applied_coupons"]
    assert (applied.status, applied.amount_cents_remaining) == ("active", 500)
    assert lago.wallets.find(wallet.lago_id).balance_cents == 10000


def test_one_off_invoice_errors_write_nothing(lago, clock):
    _catalog(lago)
    lago.customers.create(Customer(external_id="acme", currency="EUR"))

    unknown_add_on = _refused(lambda: _one_off(lago, "acme", InvoiceFee(add_on_code="setup"),
                                               InvoiceFee(add_on_code="nope")))
    assert (unknown_add_on.status_code, unknown_add_on.response["code"]) == (404, "add_on_not_found")
    unknown_customer = _refused(lambda: _one_off(lago, "ghost", InvoiceFee(add_on_code="setup")))
    assert (unknown_customer.status_code, unknown_customer.response["code"]) == (404, "customer_not_found")
    bad_currency = _refused(lambda: _one_off(lago, "acme", InvoiceFee(add_on_code="setup"), currency="EURO"))
    assert bad_currency.status_code == 422
    assert bad_currency.response["error_details"] == {"currency": ["value_is_invalid"]}
    mismatch = _refused(lambda: _one_off(lago, "acme", InvoiceFee(add_on_code="setup"), currency="USD"))
    assert mismatch.status_code == 422
    assert mismatch.response["error_details"] == {"currency": ["currencies_does_not_match"]}
    no_fees = _refused(lambda: _one_off(lago, "acme"))
    assert (no_fees.status_code, no_fees.response["code"]) == (404, "fees_not_found")
    unknown_tax = _refused(lambda: _one_off(lago, "acme", InvoiceFee(add_on_code="setup", tax_codes=["nope"])))
    assert (unknown_tax.status_code, unknown_tax.response["code"]) == (404, "tax_not_found")
    bad_units = _refused(lambda: _one_off(lago, "acme", InvoiceFee(add_on_code="setup"),
                                          InvoiceFee(add_on_code="setup", units=-1, unit_amount_cents=-5)))
    assert bad_units.status_code == 422
    assert bad_units.response["error_details"] == {"fees.1": {"unit_amount_cents": ["value_is_out_of_range"],
                                                              "units": ["value_is_out_of_range"]}}
    headers = {"Authorization": f"Bearer {lago.api_key}"}
    not_a_list = httpx.post(f"{lago.base_api_url}invoices", headers=headers,
                            json={"invoice": {"external_customer_id": "acme", "fees": "setup"}})
    assert not_a_list.status_code == 422 and not_a_list.json()["error_details"] == {"fees": ["invalid_type"]}
    too_fine = httpx.post(f"{lago.base_api_url}invoices", headers=headers, json={"invoice": {
        "external_customer_id": "acme", "fees": [{"add_on_code": "setup", "units": "0.0000000000000001"}]}})
    # More than 15 decimals: out of the decimals' range (docs/billing.md, Limits).
    assert too_fine.json()["error_details"] == {"fees.0": {"units": ["value_is_out_of_range"]}}
    assert _stored_invoices() == 0 and lago.customers.find("acme").currency == "EUR"
    assert _webhooks("invoice.one_off_created") == []


def test_deleting_an_add_on_already_billed_keeps_its_invoices(lago, clock):
    add_ons = _catalog(lago)
    lago.customers.create(Customer(external_id="acme", currency="EUR"))
    invoice = _one_off(lago, "acme", InvoiceFee(add_on_code="setup", units=2))
    lago.add_ons.destroy("setup")
    kept = lago.invoices.find(invoice.lago_id)
    (fee,) = kept.fees.__root__
    assert (fee.item.code, fee.item.name, fee.item.lago_item_id, fee.amount_cents, kept.total_amount_cents) == (
        "setup", "Setup fee", add_ons["setup"].lago_id, 20000, 22000)
    gone = _refused(lambda: _one_off(lago, "acme", InvoiceFee(add_on_code="setup")))
    assert (gone.status_code, gone.response["code"]) == (404, "add_on_not_found")
    # A new add-on may take the code; the old invoice still names the old one.
    fresh = lago.add_ons.create(AddOn(name="New setup", code="setup", amount_cents=5000, amount_currency="EUR"))
    assert _one_off(lago, "acme", InvoiceFee(add_on_code="setup")).fees.__root__[0].item.lago_item_id == fresh.lago_id
    assert lago.invoices.find(invoice.lago_id).fees.__root__[0].item.lago_item_id == add_ons["setup"].lago_id
    with read_only() as session:
        assert session.scalar(select(func.count()).select_from(Fee).where(Fee.add_on_id.is_not(None))) == 2


def test_one_off_invoice_webhook_email_and_pdf(lago, clock, run_jobs, smtp, allow_private_webhooks):  # noqa: F811 (the fixture)
    lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="http://127.0.0.1:9/hooks"))
    _catalog(lago)
    lago.customers.create(Customer(external_id="acme", currency="EUR", email="billing@acme.test"))
    invoice = _one_off(lago, "acme", InvoiceFee(add_on_code="consulting", units=1.25,
                                                description="Architecture review"))
    (hook,) = _webhooks("invoice.one_off_created")
    assert hook["object_type"] == "invoice" and hook["invoice"]["lago_id"] == invoice.lago_id
    # 1.25 × 125.50 = 156.875 → 156.88; VAT 20 % of it: 31.376 → 31.38.
    assert hook["invoice"]["invoice_type"] == "one_off" and hook["invoice"]["total_amount_cents"] == 18826
    assert _webhooks("invoice.created") == []
    run_jobs()
    # The customer's email, with the PDF, through the invoice emails' outbox.
    [mail] = smtp.parsed()
    assert mail["To"] == "billing@acme.test" and invoice.number in mail["Subject"]
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == f"{invoice.number}.pdf"
    downloaded = lago.invoices.download(invoice.lago_id)
    pdf = httpx.get(downloaded.file_url)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf.content, capture_output=True,
                              check=True).stdout.decode()
        assert "Consulting hour" in text and "Architecture review" in text and "1.25" in text
        assert "156.88" in text and "188.26" in text and invoice.number in text
