"""Admin invoice page: refresh and void buttons (htmx, CSRF), a credit-note form per fee with inline errors;
the portal lists credit notes with signed PDF links."""

from __future__ import annotations

import pytest

from billing import links
from billing.customers.services import upsert_customer
from billing.invoicing import credit_notes
from billing.invoicing.queries import get_invoice
from tests.web.conftest import create_catalog, csrf_token_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alice(org, billed_customer):
    create_catalog(org.id)
    return billed_customer(org.id, "alice", name="Alice Corp", events=3)


def test_credit_note_form_refuses_over_crediting_inline_then_issues_one(signed_in, org, alice, client):
    invoice = get_invoice(organization_id=org.id, invoice_id=alice.invoice_id)
    (fee,) = [f for f in invoice.fees if f.fee_type == "subscription"]
    url = f"/admin/customers/{alice.id}/invoices/{invoice.id}"
    page = signed_in.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and alice.invoice_number in html and f'name="fee_{fee.id}"' in html
    assert "/void" in html and "/refresh" not in html  # finalized and unpaid: void, no refresh
    token = csrf_token_in(html)

    too_much = signed_in.post(f"{url}/credit_notes", headers=HTMX, data={
        "csrf_token": token, "reason": "order_change", f"fee_{fee.id}": "100.00"})
    body = too_much.get_data(as_text=True)
    assert too_much.status_code == 200 and "More than what is left to credit on this fee." in body
    assert 'value="100.00"' in body  # what was typed stays in the form
    refund = signed_in.post(f"{url}/credit_notes", headers=HTMX, data={
        "csrf_token": token, "reason": "order_change", f"fee_{fee.id}": "1.00", "refund": "1.00"})
    assert "More than what is left to credit or refund on this invoice." in refund.get_data(as_text=True)

    sub_cent = signed_in.post(f"{url}/credit_notes", headers=HTMX, data={
        "csrf_token": token, "reason": "order_change", f"fee_{fee.id}": "2.005"})
    assert "More decimals than the currency has." in sub_cent.get_data(as_text=True)  # not rounded to 2.01

    # A valid note asks first, naming its total with taxes and how it splits; the answer posts what was typed again.
    asked = signed_in.post(f"{url}/credit_notes", headers=HTMX, data={
        "csrf_token": token, "reason": "order_change", f"fee_{fee.id}": "2.00"}).get_data(as_text=True)
    assert (f"Issue a credit note of €2.00 (taxes included) on invoice {alice.invoice_number}: €0.00 refunded, "
            "€0.00 off what it owes, €2.00 credited to the next invoices?") in asked
    assert f'<input type="hidden" name="fee_{fee.id}" value="2.00">' in asked and ">Issue €2.00</button>" in asked
    assert credit_notes.list_credit_notes(organization_id=org.id, invoice_id=invoice.id).items == []
    issued = signed_in.post(f"{url}/credit_notes", headers=HTMX, data={
        "csrf_token": token, "reason": "order_change", f"fee_{fee.id}": "2.00", "confirmed": "1"})
    body = issued.get_data(as_text=True)
    assert issued.status_code == 200 and f"Credit note {alice.invoice_number}-CN1 issued." in body
    (note,) = credit_notes.list_credit_notes(organization_id=org.id, invoice_id=invoice.id).items
    assert (note.total_amount_cents, note.credit_amount_cents, note.refund_amount_cents) == (200, 200, 0)
    # Its state and reason in words on the invoice page, the customer page and the list, never Lago's codes.
    for page in (f"/admin/customers/{alice.id}/invoices/{invoice.id}", f"/admin/customers/{alice.id}",
                 "/admin/credit-notes"):
        html = signed_in.get(page).get_data(as_text=True)
        assert "Available" in html and "(available)" not in html and "order change" not in html, page
    assert "Order change" in signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)
    pdf = signed_in.get(f"/admin/customers/{alice.id}/credit_notes/{note.id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    # The portal lists it with a signed link to its PDF.
    portal_url = links.portal_url(customer_id=alice.id, organization_id=org.id)
    portal = client.get("/portal/" + portal_url.rsplit("/portal/", 1)[1])
    portal_html = portal.get_data(as_text=True)
    assert note.number in portal_html and "/files/credit_notes/" in portal_html
    file_url = links.credit_note_file_url(credit_note_id=note.id, organization_id=org.id)
    served = client.get("/files/credit_notes/" + file_url.rsplit("/files/credit_notes/", 1)[1])
    assert served.status_code == 200 and served.data.startswith(b"%PDF")

    # An offset: taken off what the unpaid invoice still owes, nothing credited.
    owed = get_invoice(organization_id=org.id, invoice_id=invoice.id).total_due_amount_cents
    offset = signed_in.post(f"{url}/credit_notes", headers=HTMX, data={
        "csrf_token": token, "reason": "order_change", f"fee_{fee.id}": "1.00", "offset": "1.00", "confirmed": "1"})
    assert f"Credit note {alice.invoice_number}-CN2 issued." in offset.get_data(as_text=True)
    second = next(n for n in credit_notes.list_credit_notes(organization_id=org.id, invoice_id=invoice.id).items
                  if n.id != note.id)
    assert (second.offset_amount_cents, second.credit_amount_cents) == (second.total_amount_cents, 0)
    assert get_invoice(organization_id=org.id, invoice_id=invoice.id).total_due_amount_cents == \
        owed - second.total_amount_cents

    total = get_invoice(organization_id=org.id, invoice_id=invoice.id).total_amount_cents
    asked = signed_in.post(f"{url}/void", headers=HTMX, data={"csrf_token": token}).get_data(as_text=True)
    assert f"Void invoice {alice.invoice_number} of €{total / 100:.2f}? " in asked and "button-danger-solid" in asked
    assert get_invoice(organization_id=org.id, invoice_id=invoice.id).status == "finalized"
    voided = signed_in.post(f"{url}/void", headers=HTMX, data={"csrf_token": token, "confirmed": "1"})
    assert voided.status_code == 200 and "Voided" in voided.get_data(as_text=True)
    assert get_invoice(organization_id=org.id, invoice_id=invoice.id).status == "voided"
    again = signed_in.post(f"{url}/void", headers=HTMX, data={"csrf_token": token, "confirmed": "1"})
    assert "Only a finalized invoice that is not paid can be voided." in again.get_data(as_text=True)


def test_refresh_button_on_a_draft_and_csrf_required(signed_in, org, clock, billed_customer):
    create_catalog(org.id)
    upsert_customer(organization_id=org.id, data={"external_id": "bob", "invoice_grace_period": 5})
    bob = billed_customer(org.id, "bob", name="Bob", events=1)
    url = f"/admin/customers/{bob.id}/invoices/{bob.invoice_id}"
    html = signed_in.get(url).get_data(as_text=True)
    assert "/refresh" in html and "/void" not in html
    assert signed_in.post(f"{url}/refresh", headers=HTMX).status_code in (400, 422)  # no CSRF token
    token = csrf_token_in(html)
    asked = signed_in.post(f"{url}/refresh", headers=HTMX, data={"csrf_token": token}).get_data(as_text=True)
    assert "Refresh draft " in asked and "Refreshed" not in asked
    refreshed = signed_in.post(f"{url}/refresh", headers=HTMX, data={"csrf_token": token, "confirmed": "1"})
    assert refreshed.status_code == 200 and "Refreshed from the current usage." in refreshed.get_data(as_text=True)


def test_a_draft_is_finalized_on_demand_after_a_question_naming_its_total(signed_in, org, billed_customer):
    create_catalog(org.id)
    upsert_customer(organization_id=org.id, data={"external_id": "bob", "invoice_grace_period": 5})
    bob = billed_customer(org.id, "bob", name="Bob", events=1)
    url = f"/admin/customers/{bob.id}/invoices/{bob.invoice_id}"
    html = signed_in.get(url).get_data(as_text=True)
    assert "Finalize now" in html and "PDF preview" in html
    token = csrf_token_in(html)
    draft = get_invoice(organization_id=org.id, invoice_id=bob.invoice_id)
    # Without JavaScript too: a plain post answers with the whole page, asking.
    asked = signed_in.post(f"{url}/finalize", data={"csrf_token": token}).get_data(as_text=True)
    assert "<html" in asked
    assert f"Finalize draft {draft.number} now, for €{draft.total_amount_cents / 100:.2f}?" in asked
    assert f'href="{url}" hx-get="{url}" hx-target="#invoice">Cancel</a>' in asked
    assert get_invoice(organization_id=org.id, invoice_id=bob.invoice_id).status == "draft"
    done = signed_in.post(f"{url}/finalize", headers=HTMX, data={"csrf_token": token, "confirmed": "1"})
    finalized = get_invoice(organization_id=org.id, invoice_id=bob.invoice_id)
    assert finalized.status == "finalized"
    text = done.get_data(as_text=True)
    assert f"Finalized: invoice {finalized.number} is issued to the customer." in text
    assert "Finalize now" not in text and "Download PDF" in text
    again = signed_in.post(f"{url}/finalize", headers=HTMX, data={"csrf_token": token, "confirmed": "1"})
    assert "Only a draft can be finalized" in again.get_data(as_text=True)
