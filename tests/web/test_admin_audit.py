"""The audit trail page (filters and pages kept in the URL, amounts as money) and the History blocks of the plan,
customer and invoice pages; a portal change names its customer as the actor."""

from __future__ import annotations

from datetime import timedelta

from billing.audit.actors import Actor, acting_as, current_actor
from billing.audit.services import AuditFilters, list_entries
from billing.catalog.services import get_plan, update_plan
from billing.wallets.services import create_wallet, customer_wallets
from tests.web.conftest import create_catalog, csrf_token_in

HTMX = {"HX-Request": "true"}
ANN = Actor(kind="account_manager", id="u-ann", label="ann@acme.test")


def _raise_price(org_id: str, cents: int) -> None:
    plan = get_plan(organization_id=org_id, code="startup")
    [charge] = plan.charges
    update_plan(organization_id=org_id, code="startup", data={"amount_cents": cents, "charges": [
        {"id": charge.id, "billable_metric_id": charge.billable_metric_id, "charge_model": "standard",
         "properties": {"amount": "0.075"}}]})


def test_the_audit_page_filters_by_actor_object_action_and_dates(signed_in, org, clock):
    create_catalog(org.id)
    with acting_as(ANN):
        _raise_price(org.id, 1500)
    clock.set(clock.now() + timedelta(days=3))
    for cents in range(1600, 1600 + 26):  # 26 more changes: two pages
        _raise_price(org.id, cents)

    page = signed_in.get("/admin/audit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Page 1 of 2" in html and 'data-audit-action="plan.updated"' in html
    assert '<option value="ann@acme.test"' in html and '<option value="plan"' in html

    mine = signed_in.get("/admin/audit?actor=ann@acme.test").get_data(as_text=True)
    assert mine.count('data-audit-action="plan.updated"') == 1
    assert "€10.00</span> → <span class=\"after\">€15.00" in mine  # amounts as money, not cents
    assert "€0.05</span> → <span class=\"after\">€0.075" in mine  # a unit price keeps its sub-cent digits
    assert "charges › api_calls › amount" in mine

    dated = signed_in.get("/admin/audit?since=2026-11-10&until=2026-11-10").get_data(as_text=True)
    assert dated.count('data-audit-action="plan.updated"') == 1
    later = signed_in.get("/admin/audit?since=2026-11-11&object_type=plan&action=plan.updated", headers=HTMX)
    fragment = later.get_data(as_text=True)
    assert "<html" not in fragment and fragment.count('data-audit-action="plan.updated"') == 25
    assert "page=2" in fragment and "since=2026-11-11" in fragment and "object_type=plan" in fragment
    second = signed_in.get("/admin/audit?since=2026-11-11&object_type=plan&action=plan.updated&page=2")
    assert second.get_data(as_text=True).count('data-audit-action="plan.updated"') == 1

    refused = signed_in.get("/admin/audit?since=soon&until=2026-11-01").get_data(as_text=True)
    assert "Not a date" in refused and 'id="since-error"' in refused
    backwards = signed_in.get("/admin/audit?since=2026-11-12&until=2026-11-01").get_data(as_text=True)
    assert 'id="until-error"' in backwards and "No entry matches these filters." in backwards


def test_history_blocks_on_the_plan_customer_and_invoice_pages(signed_in, org, clock, billed_customer):
    create_catalog(org.id)
    customer = billed_customer(org.id, "acme-1", name="Acme One")
    with acting_as(ANN):
        _raise_price(org.id, 1500)
        create_wallet(organization_id=org.id, data={"external_customer_id": "acme-1", "rate_amount": "1",
                                                    "name": "Prepaid", "granted_credits": "10"})
    plan_page = signed_in.get("/admin/plans/startup/edit").get_data(as_text=True)
    history = plan_page.split('id="history-heading"', 1)[1]
    assert "Plan changed" in history and "ann@acme.test" in history and "€15.00" in history

    customer_page = signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    history = customer_page.split('id="history-heading"', 1)[1]
    assert "Wallet created" in history and "Subscription created" in history and "Plan changed" not in history

    invoice_page = signed_in.get(f"/admin/customers/{customer.id}/invoices/{customer.invoice_id}")
    assert "No change recorded yet." in invoice_page.get_data(as_text=True).split('id="history-heading"', 1)[1]


def test_a_portal_top_up_names_the_customer(client, org, billed_customer):
    create_catalog(org.id)
    alice = billed_customer(org.id, "alice", name="Alice Corp", events=1)
    create_wallet(organization_id=org.id, data={"external_customer_id": "alice", "rate_amount": "1",
                                                "granted_credits": "20", "name": "Credits"})
    page = client.get(alice.portal_path()).get_data(as_text=True)
    [view] = customer_wallets(organization_id=org.id, customer_id=alice.id)
    bought = client.post(f"{alice.portal_path()}/wallets/{view.wallet.id}/top-up",
                         data={"csrf_token": csrf_token_in(page), "credits": "5"})
    assert bought.status_code == 303
    [entry] = list_entries(organization_id=org.id, filters=AuditFilters(action="wallet.topped_up")).items
    assert (entry.actor_kind, entry.actor_id, entry.actor_label) == ("customer", alice.id, "alice")
    assert entry.changes == {"paid_credits": [None, "5"]}
    assert current_actor().kind == "system"
