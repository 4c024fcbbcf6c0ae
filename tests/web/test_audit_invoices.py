"""The audit trail of invoices changed by hand, through the API and the admin: a draft refreshed or finalized, an
invoice voided, a one-off invoice issued, a credit note changed or voided, a payment status set. One entry each, on
the invoice, naming who did it and what moved; a refused request writes none; another organization sees none."""

from __future__ import annotations

import pytest

from billing.audit.services import AuditFilters, list_entries, object_history
from billing.customers.services import upsert_customer
from billing.invoicing.queries import get_invoice
from billing.organizations.services import create_organization
from tests.web.conftest import create_catalog, csrf_token_in, send_events

HTMX = {"HX-Request": "true"}


def _invoice_entries(org_id: str, **filters):
    """The organization's entries about invoices, oldest first."""
    entries = list_entries(organization_id=org_id, filters=AuditFilters(object_type="invoice", **filters),
                           per_page=100).items
    return list(reversed(entries))


@pytest.fixture
def api(app, org):
    client = app.test_client()

    def call(method: str, path: str, json: dict | None = None, *, status: int = 200, key: str | None = None):
        response = client.open(f"/api/v1{path}", method=method, json=json,
                               headers={"Authorization": f"Bearer {key or org.api_key}"})
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    return call


@pytest.fixture
def draft(org, billed_customer):
    """Bob's October invoice, still a draft (five days of grace)."""
    create_catalog(org.id)
    upsert_customer(organization_id=org.id, data={"external_id": "bob", "invoice_grace_period": 5})
    return billed_customer(org.id, "bob", name="Bob", events=1)


def test_a_draft_refreshed_then_finalized_through_the_api(api, org, draft, clock):
    before = get_invoice(organization_id=org.id, invoice_id=draft.invoice_id)
    clock.set("2026-10-20T10:00:00Z")
    send_events(org.id, "sub-bob", 4, prefix="bob-late-oct")  # late October events: the draft grows by 4 × €0.05
    clock.set("2026-11-02T10:00:00Z")
    api("PUT", f"/invoices/{draft.invoice_id}/refresh")
    api("PUT", f"/invoices/{draft.invoice_id}/finalize")
    api("PUT", f"/invoices/{draft.invoice_id}/finalize", status=422)  # not a draft any more: no second entry
    api("PUT", f"/invoices/{draft.invoice_id}/refresh", status=405)

    refreshed, finalized = _invoice_entries(org.id)
    key = org.api_key[:10]
    assert (refreshed.action, refreshed.actor_kind, refreshed.actor_label, refreshed.object_id, refreshed.currency) \
        == ("invoice.refreshed", "api_key", key, draft.invoice_id, "EUR")
    grown = before.total_amount_cents + 20
    assert refreshed.changes == {"fees_amount_cents": [before.fees_amount_cents, before.fees_amount_cents + 20],
                                 "total_amount_cents": [before.total_amount_cents, grown],
                                 "total_due_amount_cents": [before.total_amount_cents, grown]}
    number = get_invoice(organization_id=org.id, invoice_id=draft.invoice_id).number
    assert (finalized.action, finalized.object_label) == ("invoice.finalized", number)
    assert finalized.changes == {"status": ["draft", "finalized"], "number": [before.number, number]}


def test_a_void_through_the_api_and_a_refused_one(api, app, org, billed_customer, clock):
    create_catalog(org.id)
    alice = billed_customer(org.id, "alice", name="Alice Corp")
    total = get_invoice(organization_id=org.id, invoice_id=alice.invoice_id).total_amount_cents
    globex = create_organization(name="Globex", default_currency="EUR")
    api("POST", f"/invoices/{alice.invoice_id}/void", status=404, key=globex.api_key)  # another tenant's invoice
    api("POST", f"/invoices/{alice.invoice_id}/void")
    api("POST", f"/invoices/{alice.invoice_id}/void", status=405)  # voided already: refused, nothing recorded

    [voided] = _invoice_entries(org.id)
    assert (voided.action, voided.object_label, voided.actor_kind) == ("invoice.voided", alice.invoice_number,
                                                                       "api_key")
    assert voided.changes == {"status": ["finalized", "voided"], "total_due_amount_cents": [total, 0]}
    assert list_entries(organization_id=globex.organization_id).items[0].object_type == "api_key"
    assert len(list_entries(organization_id=globex.organization_id).items) == 1  # its own key's creation only
    assert object_history(organization_id=globex.organization_id, object_ids=[alice.invoice_id]) == []


def test_a_one_off_invoice_credit_notes_and_a_payment_status_through_the_api(api, org, billed_customer, clock):
    create_catalog(org.id)
    alice = billed_customer(org.id, "alice", name="Alice Corp")
    api("POST", "/add_ons", {"add_on": {"name": "Setup", "code": "setup", "amount_cents": 5000,
                                        "amount_currency": "EUR"}})
    api("POST", "/invoices", {"invoice": {"external_customer_id": "alice", "fees": [{"add_on_code": "nope"}]}},
        status=404)
    made = api("POST", "/invoices", {"invoice": {"external_customer_id": "alice", "fees": [
        {"add_on_code": "setup", "units": "2"}, {"add_on_code": "setup", "unit_amount_cents": 1000}]}})["invoice"]
    [issued] = _invoice_entries(org.id, action="invoice.one_off_created")
    assert (issued.object_id, issued.object_label, issued.actor_kind) == (made["lago_id"], made["number"], "api_key")
    assert issued.changes["fees.1.add_on"] == [None, "setup"] and issued.changes["fees.1.units"] == [None, "2"]
    assert issued.changes["fees.1.amount_cents"] == [None, 10000]
    assert issued.changes["fees.2.amount_cents"] == [None, 1000]
    assert issued.changes["total_amount_cents"] == [None, 11000]
    assert issued.changes["status"] == [None, "finalized"]

    invoice = get_invoice(organization_id=org.id, invoice_id=alice.invoice_id)
    fee = next(f for f in invoice.fees if f.fee_type == "subscription")
    note = api("POST", "/credit_notes", {"credit_note": {
        "invoice_id": invoice.id, "reason": "other", "items": [{"fee_id": fee.id, "amount_cents": 100}]}})
    note_id, number = note["credit_note"]["lago_id"], note["credit_note"]["number"]
    api("PUT", f"/credit_notes/{note_id}", {"credit_note": {"metadata": {"ticket": "T-1"}}})
    api("PUT", f"/credit_notes/{note_id}/void")
    api("PUT", f"/credit_notes/{note_id}/void", status=405)  # nothing left to void
    api("PUT", f"/invoices/{invoice.id}", {"invoice": {"payment_status": "failed"}})
    api("PUT", f"/invoices/{invoice.id}", {"invoice": {"payment_status": "failed"}})  # no change: no entry
    api("PUT", f"/invoices/{invoice.id}", {"invoice": {"payment_status": "bogus"}}, status=422)

    entries = [e for e in _invoice_entries(org.id) if e.object_id == invoice.id]
    assert [e.action for e in entries] == ["invoice.credit_note_issued", "invoice.credit_note_changed",
                                           "invoice.credit_note_voided", "invoice.payment_status_changed"]
    _issued, changed, voided, status = entries
    assert changed.changes == {f"{number}.metadata.ticket": [None, "T-1"]}
    assert voided.changes == {f"{number}.credit_status": ["available", "voided"],
                              f"{number}.balance_amount_cents": [100, 0]}
    assert status.changes == {"payment_status": ["pending", "failed"]}


def test_the_admin_records_its_account_manager_and_the_invoice_page_shows_it(signed_in, org, draft, billed_customer,
                                                                             account_manager):
    alice = billed_customer(org.id, "alice", name="Alice Corp")
    for customer, action in ((draft, "refresh"), (draft, "finalize"), (alice, "void")):
        url = f"/admin/customers/{customer.id}/invoices/{customer.invoice_id}"
        token = csrf_token_in(signed_in.get(url).get_data(as_text=True))
        done = signed_in.post(f"{url}/{action}", headers=HTMX, data={"csrf_token": token, "confirmed": "1"})
        assert done.status_code == 200
    entries = _invoice_entries(org.id)
    assert [(e.action, e.object_id, e.actor_kind, e.actor_label) for e in entries] == [
        ("invoice.refreshed", draft.invoice_id, "account_manager", account_manager),
        ("invoice.finalized", draft.invoice_id, "account_manager", account_manager),
        ("invoice.voided", alice.invoice_id, "account_manager", account_manager)]

    page = signed_in.get(f"/admin/customers/{alice.id}/invoices/{alice.invoice_id}").get_data(as_text=True)
    history = page.split('id="history-heading"', 1)[1]
    total = get_invoice(organization_id=org.id, invoice_id=alice.invoice_id).total_amount_cents
    assert "Invoice voided" in history and account_manager in history
    assert f"€{total / 100:.2f}</span> → <span class=\"after\">€0.00" in history  # what was owed, as money
    page = signed_in.get(f"/admin/customers/{draft.id}/invoices/{draft.invoice_id}").get_data(as_text=True)
    history = page.split('id="history-heading"', 1)[1]
    assert history.index("Invoice finalized") < history.index("Draft invoice refreshed")  # newest first
