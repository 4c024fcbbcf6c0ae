"""The audit trail page (filters and pages kept in the URL, amounts as money) and the History blocks of the plan,
metric, add-on, customer and invoice pages; a portal change names its customer as the actor; what the admin changes
of coupons, taxes, metrics and add-ons names its account manager."""

from __future__ import annotations

import re
from datetime import timedelta

from billing.audit.actors import Actor, acting_as, current_actor
from billing.audit.services import AuditFilters, list_entries
from billing.catalog.services import get_plan, update_plan
from billing.customers.services import upsert_customer
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


def _manager_entries(org_id: str, actor: str) -> list:
    return list(reversed(list_entries(organization_id=org_id, filters=AuditFilters(actor=actor), per_page=100).items))


def test_the_admin_records_coupons_taxes_and_applications_under_its_account_manager(signed_in, org, account_manager):
    customer = upsert_customer(organization_id=org.id, data={"external_id": "alice", "name": "Alice",
                                                             "currency": "EUR"})
    token = csrf_token_in(signed_in.get("/admin/discounts").get_data(as_text=True))
    coupon = {"coupon-csrf_token": token, "coupon-name": "Ten euros", "coupon-code": "ten",
              "coupon-coupon_type": "fixed_amount", "coupon-value": "10.50", "coupon-currency": "eur",
              "coupon-frequency": "once", "coupon-reusable": "y"}
    assert signed_in.post("/admin/discounts/coupons", headers=HTMX, data=coupon).status_code == 200
    assert signed_in.post("/admin/discounts/coupons", data=coupon).status_code == 422  # the code is taken
    tax = {"tax-csrf_token": token, "tax-name": "VAT", "tax-code": "vat20", "tax-rate": "20"}
    assert signed_in.post("/admin/discounts/taxes", headers=HTMX, data=tax).status_code == 200
    assert signed_in.post("/admin/discounts/taxes", data={**tax, "tax-code": "big", "tax-rate": "120"}).status_code \
        == 422
    page = signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    applied = signed_in.post(f"/admin/customers/{customer.id}/coupons", headers=HTMX,
                             data={"csrf_token": csrf_token_in(page), "coupon_code": "ten"})
    assert applied.status_code == 200

    entries = _manager_entries(org.id, account_manager)
    assert [(e.action, e.object_type, e.object_label, e.actor_kind) for e in entries] == [
        ("coupon.created", "coupon", "Ten euros", "account_manager"),
        ("tax.created", "tax", "VAT", "account_manager"),
        ("customer.coupon_applied", "customer", "Alice", "account_manager")]
    assert entries[0].changes["amount_cents"] == [None, 1050] and entries[0].currency == "EUR"
    assert entries[2].changes["coupon_code"] == [None, "ten"]
    history = signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True).split(
        'id="history-heading"', 1)[1]
    assert "Coupon applied" in history and "€10.50" in history

    filtered = signed_in.get("/admin/audit?object_type=coupon").get_data(as_text=True)
    options = {value: label for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', filtered)}
    assert (options["coupon"], options["tax"], options["customer.coupon_applied"]) == ("Coupon", "Tax",
                                                                                       "Coupon applied")
    assert '<option value="coupon" selected>' in filtered
    assert filtered.count("data-audit-action=") == 1 and "Coupon created" in filtered


def test_metric_and_add_on_pages_show_their_history(signed_in, org, account_manager):
    create_catalog(org.id)
    token = csrf_token_in(signed_in.get("/admin/metrics/new").get_data(as_text=True))
    form = {"csrf_token": token, "name": "Storage", "code": "storage", "description": "", "aggregation_type": "sum_agg",
            "field_name": "gb", "expression": "", "rounding_function": "", "rounding_precision": "", "filters": ""}
    assert signed_in.post("/admin/metrics/new", headers=HTMX, data=form).status_code == 200
    refused = signed_in.post("/admin/metrics/storage/edit", data={**form, "field_name": ""})
    assert refused.status_code == 422  # a sum needs a field: nothing saved, nothing recorded
    saved = signed_in.post("/admin/metrics/storage/edit", headers=HTMX,
                           data={**form, "name": "Storage (GB)", "filters": "region: eu, us"})
    assert saved.status_code == 200
    page = signed_in.get("/admin/metrics/storage/edit").get_data(as_text=True)
    history = page.split('id="history-heading"', 1)[1]
    assert history.index("Metric changed") < history.index("Metric created") and account_manager in history
    assert "filters › region" in history and "Storage (GB)" in history
    assert signed_in.post("/admin/metrics/storage/delete", data={"csrf_token": token}).status_code == 303

    add_on = {"csrf_token": token, "name": "Setup", "code": "setup", "amount": "50.00", "amount_currency": "EUR",
              "invoice_display_name": "", "description": ""}
    assert signed_in.post("/admin/add-ons/new", headers=HTMX, data=add_on).status_code == 200
    assert signed_in.post("/admin/add-ons/setup/edit", data={**add_on, "amount": "0"}).status_code == 422
    assert signed_in.post("/admin/add-ons/setup/edit", headers=HTMX, data={**add_on, "amount": "60.00"}).status_code \
        == 200
    history = signed_in.get("/admin/add-ons/setup/edit").get_data(as_text=True).split('id="history-heading"', 1)[1]
    assert "Add-on changed" in history and "€50.00</span> → <span class=\"after\">€60.00" in history
    assert signed_in.post("/admin/add-ons/setup/delete", data={"csrf_token": token}).status_code == 303

    entries = _manager_entries(org.id, account_manager)
    assert [e.action for e in entries] == ["billable_metric.created", "billable_metric.updated",
                                           "billable_metric.deleted", "add_on.created", "add_on.updated",
                                           "add_on.deleted"]
    assert entries[1].changes == {"name": ["Storage", "Storage (GB)"], "filters.region": [None, ["eu", "us"]]}
