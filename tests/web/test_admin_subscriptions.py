"""Managing a customer's subscriptions from the admin customer page: assign a plan, terminate (with the
final invoice), change plan (upgrade now, downgrade at period end), override prices; inline refusals,
CSRF and organization scoping."""

from __future__ import annotations

import re

import pytest

from billing.catalog.metrics import create_billable_metric, get_billable_metric
from billing.catalog.services import create_plan
from billing.customers.services import upsert_customer
from billing.lifecycle import create_subscription
from billing.subscriptions.services import get_subscription
from tests.web.conftest import create_catalog, csrf_token_in

HTMX = {"HX-Request": "true"}
PLAUSIBLE_START = "Within 5 years before today and 10 years after"


@pytest.fixture
def alice(org, billed_customer):
    """Alice on `startup` (€10.00 a month, API calls at €0.05) since October; it is 10 Nov 2026."""
    create_catalog(org.id)
    calls = get_billable_metric(organization_id=org.id, code="api_calls")
    for code, name, cents in (("scale", "Scale", 5000), ("basic", "Basic", 500)):
        create_plan(organization_id=org.id, data={
            "name": name, "code": code, "interval": "monthly", "amount_cents": cents, "amount_currency": "EUR",
            "charges": [{"billable_metric_id": calls.id, "charge_model": "standard",
                         "properties": {"amount": "0.02"}}]})
    return billed_customer(org.id, "alice", name="Alice Corp", events=3)


def _page(client, customer) -> str:
    return client.get(f"/admin/customers/{customer.id}").get_data(as_text=True)


def _post(client, customer, path: str, data: dict | None = None, *, htmx: bool = True):
    token = csrf_token_in(_page(client, customer))
    return client.post(f"/admin/customers/{customer.id}{path}", data={**(data or {}), "csrf_token": token},
                       headers=HTMX if htmx else {})


def _field_error(html: str, name: str) -> str:
    block = re.search(rf'<div class="[^"]*field[^"]*" data-field="{re.escape(name)}">(.*?)</div>', html, re.S)
    assert block, f"no field {name}"
    error = re.search(r'<p class="field-error"[^>]*>(.*?)</p>', block.group(1), re.S)
    return error.group(1).strip() if error else ""


def _result(html: str) -> str:
    found = re.search(r'<div class="flash flash-success result" role="status">(.*?)</div>', html, re.S)
    assert found, html[:3000]
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


# ---------------------------------------------------------------- assigning


def test_the_customer_page_offers_the_organizations_plans_with_a_fresh_subscription_id(signed_in, alice,
                                                                                        other_org):
    create_catalog(other_org, plan_name="Globex Plan")
    html = _page(signed_in, alice)

    form = re.search(r'<details class="manage assign">(.*?)</details>', html, re.S).group(1)
    assert "Startup · €10.00 per month, billed at the end of the month" in form and "Scale · €50.00" in form
    assert "Globex" not in form
    assert 'id="assign-external-id" name="external_id" value="alice"' in form  # sub-alice is the other one
    assert "Manage this subscription" in html


def test_assign_a_plan_now_and_later(signed_in, org, alice, clock):
    response = _post(signed_in, alice, "/subscriptions", {"plan_code": "scale", "external_id": "alice-scale",
                                                          "billing_time": "anniversary", "name": "Second"})

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert response.headers["HX-Retarget"] == "#usage"
    assert _result(html) == "Subscribed to Scale (alice-scale): it starts now."
    subscription = get_subscription(organization_id=org.id, external_id="alice-scale")
    assert (subscription.status, subscription.billing_time, subscription.name) == ("active", "anniversary", "Second")
    assert 'data-subscription="alice-scale"' in html

    later = _post(signed_in, alice, "/subscriptions", {"plan_code": "basic", "external_id": "alice-basic",
                                                       "start_date": "2026-12-01", "billing_time": "calendar"})
    assert _result(later.get_data(as_text=True)) == \
        "Subscribed to Basic (alice-basic) from 1 Dec 2026: pending until then."
    pending = get_subscription(organization_id=org.id, external_id="alice-basic")
    assert pending.status == "pending" and pending.subscription_at.isoformat() == "2026-12-01T00:00:00+00:00"

    today = _post(signed_in, alice, "/subscriptions", {"plan_code": "basic", "external_id": "alice-today",
                                                       "start_date": "2026-11-10"})
    assert "it starts now" in _result(today.get_data(as_text=True))
    assert get_subscription(organization_id=org.id, external_id="alice-today").started_at == clock.now()


def test_assign_without_javascript_redirects_to_the_page(signed_in, org, alice):
    response = _post(signed_in, alice, "/subscriptions", {"plan_code": "scale", "external_id": "alice-2"}, htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/customers/{alice.id}"
    assert "Subscribed to Scale (alice-2): it starts now." in _page(signed_in, alice)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"plan_code": ""}, "plan_code", "Required"),
    ({"plan_code": "nope"}, "plan_code", "Choose one of the plans"),
    ({"plan_code": "usd"}, "plan_code", "This customer is billed in another currency"),
    ({"plan_code": "scale", "start_date": "next week"}, "start_date", "Not a valid date"),
    ({"plan_code": "scale", "start_date": "0202-11-01"}, "start_date", PLAUSIBLE_START),
    ({"plan_code": "scale", "start_date": "9999-12-31"}, "start_date", PLAUSIBLE_START),
    ({"plan_code": "scale", "external_id": "sub-bob"}, "external_id", "Already used by another live subscription"),
    ({"plan_code": "scale", "billing_time": "lunar"}, "billing_time", "Not one of the choices"),
])
def test_assign_refusals_are_shown_next_to_their_field(signed_in, org, alice, billed_customer, data, field, message):
    billed_customer(org.id, "bob", name="Bob")
    create_plan(organization_id=org.id, data={"name": "Dollars", "code": "usd", "interval": "monthly",
                                              "amount_cents": 100, "amount_currency": "USD"})
    response = _post(signed_in, alice, "/subscriptions", {"external_id": "alice-2", **data})

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Retarget" not in response.headers
    assert "Not subscribed: see the fields marked below." in html
    assert _field_error(html, field) == message
    assert '<details class="manage assign" open>' in html


# ---------------------------------------------------------------- terminating


def test_terminate_asks_first_then_links_the_final_invoice(signed_in, org, alice, clock):
    clock.set("2026-11-10T12:01:00Z")  # a minute after the 3 calls of November
    confirm = signed_in.get(f"/admin/customers/{alice.id}/subscriptions/{alice.subscription_id}/terminate",
                            headers=HTMX)
    html = confirm.get_data(as_text=True)
    assert "Terminate <span class=\"mono\">sub-alice</span> now? Its final invoice is issued at once" in html
    assert "<article" not in html and "Terminate now" in html
    assert get_subscription(organization_id=org.id, external_id="sub-alice").status == "active"

    response = _post(signed_in, alice, f"/subscriptions/{alice.subscription_id}/terminate")

    html = response.get_data(as_text=True)
    assert response.headers["HX-Trigger"] == "invoices-changed"
    subscription = get_subscription(organization_id=org.id, external_id="sub-alice")
    assert subscription.status == "terminated"
    number = re.search(r'Final invoice <span class="mono">([^<]+)</span>', html).group(1)
    assert number != alice.invoice_number
    assert _result(html) == f"sub-alice is terminated. Final invoice {number}: €3.48 · PDF"
    assert re.search(r'<a href="/admin/customers/[^/]+/invoices/[^"]+\.pdf">PDF</a>', html)
    page = _page(signed_in, alice)
    assert number in page and "Manage this subscription" not in page  # its only subscription has ended


def test_the_invoices_list_refreshes_itself_when_told(signed_in, alice):
    html = _page(signed_in, alice)
    assert re.search(rf'<div id="invoices" hx-get="/admin/customers/{alice.id}/invoices" '
                     r'hx-trigger="invoices-changed from:body[^"]*"', html)


def test_terminating_a_pending_subscription_cancels_it(signed_in, org, alice):
    _post(signed_in, alice, "/subscriptions", {"plan_code": "basic", "external_id": "later",
                                               "start_date": "2027-01-01"})
    pending = get_subscription(organization_id=org.id, external_id="later")

    response = _post(signed_in, alice, f"/subscriptions/{pending.id}/terminate")

    assert _result(response.get_data(as_text=True)) == "later was canceled before it started: nothing is billed."
    assert "HX-Trigger" not in response.headers
    assert get_subscription(organization_id=org.id, external_id="later").status == "canceled"


def test_an_ended_subscription_cannot_be_terminated_again(signed_in, alice):
    _post(signed_in, alice, f"/subscriptions/{alice.subscription_id}/terminate")
    response = _post(signed_in, alice, f"/subscriptions/{alice.subscription_id}/terminate")
    assert response.status_code == 404


# ---------------------------------------------------------------- changing plan


def test_an_upgrade_starts_now_and_bills_the_old_plan(signed_in, org, alice):
    response = _post(signed_in, alice, f"/subscriptions/{alice.subscription_id}/plan", {"plan_code": "scale"})

    html = response.get_data(as_text=True)
    assert _result(html).startswith("Upgraded to Scale: it starts now, and Startup was billed up to now. "
                                    "Final invoice")
    assert response.headers["HX-Trigger"] == "invoices-changed"
    current = get_subscription(organization_id=org.id, external_id="sub-alice")
    assert current.plan.code == "scale" and current.status == "active" and current.id != alice.subscription_id
    assert "Scale <span class=\"muted small mono\">scale</span>" in html


def test_a_downgrade_is_scheduled_for_the_end_of_the_period(signed_in, org, alice):
    response = _post(signed_in, alice, f"/subscriptions/{alice.subscription_id}/plan", {"plan_code": "basic"})

    html = response.get_data(as_text=True)
    assert _result(html) == "Downgrade to Basic scheduled for 1 Dec 2026: Startup stays until then."
    assert get_subscription(organization_id=org.id, external_id="sub-alice").plan.code == "startup"
    assert "Changes to <strong>Basic</strong> on 1 Dec 2026" in html
    # The pending subscription that replaces it is told on the current one, not listed on its own.
    assert html.count('<article class="subscription" data-subscription="sub-alice">') == 1
    confirm = signed_in.get(f"/admin/customers/{alice.id}/subscriptions/{alice.subscription_id}/terminate",
                            headers=HTMX).get_data(as_text=True)
    assert "The downgrade to Basic is canceled too." in confirm


@pytest.mark.parametrize(("plan_code", "message"), [
    ("", "Required"),
    ("startup", "Already on this plan"),
    ("nope", "Choose one of the plans"),
    ("usd", "This customer is billed in another currency"),
])
def test_plan_change_refusals_are_shown_on_the_subscription(signed_in, org, alice, plan_code, message):
    create_plan(organization_id=org.id, data={"name": "Dollars", "code": "usd", "interval": "monthly",
                                              "amount_cents": 10000, "amount_currency": "USD"})
    response = _post(signed_in, alice, f"/subscriptions/{alice.subscription_id}/plan", {"plan_code": plan_code})

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert _field_error(html, f"change-{alice.subscription_id}") == message
    assert f'<details class="manage" data-manage="{alice.subscription_id}" open>' in html
    assert get_subscription(organization_id=org.id, external_id="sub-alice").plan.code == "startup"


# ---------------------------------------------------------------- overrides


def _override_form(html: str) -> dict[str, str | list[str]]:
    """The editor's text and hidden inputs as the browser would send them."""
    form: dict[str, str | list[str]] = {}
    for tag in re.findall(r'<input type="(?:text|hidden)"[^>]*>', html):
        name = re.search(r' name="([^"]+)"', tag).group(1)
        value = re.search(r' value="([^"]*)"', tag).group(1)
        if name == "charges" or name.endswith("-ranges"):
            form.setdefault(name, []).append(value)
        elif name != "csrf_token":
            form[name] = value
    return form


def test_override_a_subscriptions_prices_and_see_the_difference(signed_in, org, alice):
    editor = signed_in.get(f"/admin/customers/{alice.id}/subscriptions/{alice.subscription_id}/overrides",
                           headers=HTMX).get_data(as_text=True)
    assert "<article" not in editor and "Plan: €10.00" in editor and "Plan: €0.05 per API call" in editor
    assert "The same prices as the plan." in editor
    form = _override_form(editor)
    assert form["amount"] == "10.00" and form["trial_period"] == "0"
    [key] = form["charges"]
    assert form[f"c-{key}-p-amount"] == "0.05"

    changed = {**form, "amount": "8", f"c-{key}-p-amount": "0.04", "trial_period": "7"}
    diff = _post(signed_in, alice, f"/subscriptions/{alice.subscription_id}/overrides/diff", changed)
    text = " ".join(re.sub(r"<[^>]+>", "", diff.get_data(as_text=True)).split())
    assert "Subscription fee: €10.00 → €8.00" in text and "Free trial: none → 7 days" in text
    assert "API calls: €0.05 per API call → €0.04 per API call" in text

    saved = _post(signed_in, alice, f"/subscriptions/{alice.subscription_id}/overrides", changed)

    html = saved.get_data(as_text=True)
    assert saved.headers["HX-Retarget"] == "#usage"
    assert _result(html) == ("Prices of sub-alice saved: Subscription fee €10.00 → €8.00; Free trial none → 7 days; "
                             "API calls €0.05 per API call → €0.04 per API call.")
    subscription = get_subscription(organization_id=org.id, external_id="sub-alice")
    assert subscription.plan.parent_id is not None and subscription.plan.amount_cents == 800
    assert subscription.plan.charges[0].properties == {"amount": "0.04"}
    assert "custom prices" in html and 'class="before">€10.00</span> → <span class="after">€8.00</span>' in html
    assert "trial: 7 days left" not in html  # the trial counts from the start in October: over


def test_override_refusals_are_shown_next_to_their_input(signed_in, org, alice):
    editor = signed_in.get(f"/admin/customers/{alice.id}/subscriptions/{alice.subscription_id}/overrides",
                           headers=HTMX).get_data(as_text=True)
    form = _override_form(editor)
    [key] = form["charges"]

    local = _post(signed_in, alice, f"/subscriptions/{alice.subscription_id}/overrides",
                  {**form, "amount": "8.001"}).get_data(as_text=True)
    assert _field_error(local, "amount") == "Too many decimals for this currency"

    refused = _post(signed_in, alice, f"/subscriptions/{alice.subscription_id}/overrides",
                    {**form, f"c-{key}-p-amount": "-1", "trial_period": "-3"}).get_data(as_text=True)
    assert "The prices were not saved" in refused and "<article" not in refused
    assert _field_error(refused, f"c-{key}-p-amount") == "A number, 0 or more"
    assert _field_error(refused, "trial_period") == "0 or more days"
    assert get_subscription(organization_id=org.id, external_id="sub-alice").plan.parent_id is None


def test_graduated_overrides_can_add_a_tier_before_saving(signed_in, org, alice):
    calls = get_billable_metric(organization_id=org.id, code="api_calls")
    create_plan(organization_id=org.id, data={
        "name": "Tiered", "code": "tiered", "interval": "monthly", "amount_cents": 2000, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": calls.id, "charge_model": "graduated", "properties": {"graduated_ranges": [
            {"from_value": 0, "to_value": None, "per_unit_amount": "0.01", "flat_amount": "0"}]}}]})
    create_subscription(organization_id=org.id, data={"external_customer_id": "alice", "plan_code": "tiered",
                                                      "external_id": "alice-tiered"})
    subscription = get_subscription(organization_id=org.id, external_id="alice-tiered")
    url = f"/subscriptions/{subscription.id}/overrides"
    form = _override_form(signed_in.get(f"/admin/customers/{alice.id}{url}", headers=HTMX).get_data(as_text=True))
    [key] = form["charges"]
    [row] = form[f"c-{key}-p-ranges"]

    more = _post(signed_in, alice, url, {**form, f"c-{key}-p-r-{row}-to": "1000", "op": f"add_range:{key}:-"})
    html = more.get_data(as_text=True)
    assert html.count("<tr data-range=") == 2 and "The prices were not saved" not in html
    form = _override_form(html)
    new_row = form[f"c-{key}-p-ranges"][1]
    form[f"c-{key}-p-r-{new_row}-price"] = "0.005"

    _post(signed_in, alice, url, form)

    plan = get_subscription(organization_id=org.id, external_id="alice-tiered").plan
    assert plan.parent_id is not None
    assert plan.charges[0].properties == {"graduated_ranges": [
        {"from_value": 0, "to_value": 1000, "per_unit_amount": "0.01", "flat_amount": "0"},
        {"from_value": 1000, "to_value": None, "per_unit_amount": "0.005", "flat_amount": "0"}]}


# ---------------------------------------------------------------- CSRF, scoping, escaping


def test_subscription_forms_require_the_csrf_token(signed_in, org, alice):
    for path, data in (("/subscriptions", {"plan_code": "scale", "external_id": "x"}),
                       (f"/subscriptions/{alice.subscription_id}/terminate", {}),
                       (f"/subscriptions/{alice.subscription_id}/plan", {"plan_code": "scale"}),
                       (f"/subscriptions/{alice.subscription_id}/overrides", {"amount": "1"})):
        response = signed_in.post(f"/admin/customers/{alice.id}{path}", data=data, headers=HTMX)
        assert response.status_code == 400, path
    assert get_subscription(organization_id=org.id, external_id="sub-alice").status == "active"


def test_another_organizations_or_customers_subscription_is_not_found(signed_in, org, other_org, alice,
                                                                     billed_customer):
    create_catalog(other_org, plan_name="Globex Plan")
    wile = billed_customer(other_org, "wile", name="Wile E. Coyote")
    bob = billed_customer(org.id, "bob", name="Bob")
    token = csrf_token_in(_page(signed_in, alice))

    attempts = [(wile.id, wile.subscription_id), (alice.id, bob.subscription_id), (alice.id, "nope")]
    for customer_id, subscription_id in attempts:
        base = f"/admin/customers/{customer_id}/subscriptions/{subscription_id}"
        assert signed_in.get(f"{base}/terminate").status_code == 404
        assert signed_in.get(f"{base}/overrides").status_code == 404
        for action, data in (("terminate", {}), ("plan", {"plan_code": "startup"}), ("overrides", {"amount": "1"})):
            assert signed_in.post(f"{base}/{action}", data={**data, "csrf_token": token},
                                  headers=HTMX).status_code == 404, (base, action)
    assert signed_in.post(f"/admin/customers/{wile.id}/subscriptions", headers=HTMX,
                          data={"plan_code": "startup", "csrf_token": token}).status_code == 404
    assert get_subscription(organization_id=other_org, external_id="sub-wile").status == "active"
    assert get_subscription(organization_id=org.id, external_id="sub-bob").status == "active"
    # A plan of another organization cannot be assigned: it is not found.
    create_plan(organization_id=other_org, data={"name": "Globex only", "code": "globex", "interval": "monthly",
                                                 "amount_cents": 100, "amount_currency": "EUR"})
    html = _post(signed_in, alice, "/subscriptions", {"plan_code": "globex", "external_id": "x"}).get_data(as_text=True)
    assert _field_error(html, "plan_code") == "Choose one of the plans"


def test_hostile_names_on_the_subscriptions_are_escaped(signed_in, org):
    metric = create_billable_metric(organization_id=org.id, data={
        "name": "<script>alert(1)</script>", "code": "calls", "aggregation_type": "count_agg"})
    create_plan(organization_id=org.id, data={
        "name": "<img src=x onerror=alert(2)>", "code": "evil", "interval": "monthly", "amount_cents": 100,
        "amount_currency": "EUR", "charges": [{"billable_metric_id": metric.id, "charge_model": "standard",
                                               "properties": {"amount": "1"}}]})
    customer = upsert_customer(organization_id=org.id, data={"external_id": "<b>x</b>", "name": "<i>Evil</i>"})
    create_subscription(organization_id=org.id, data={"external_customer_id": "<b>x</b>", "plan_code": "evil",
                                                      "external_id": "<u>sub</u>"})
    subscription = get_subscription(organization_id=org.id, external_id="<u>sub</u>")

    page = signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    editor = signed_in.get(f"/admin/customers/{customer.id}/subscriptions/{subscription.id}/overrides",
                           headers=HTMX).get_data(as_text=True)
    confirm = signed_in.get(f"/admin/customers/{customer.id}/subscriptions/{subscription.id}/terminate",
                            headers=HTMX).get_data(as_text=True)
    for html in (page, editor, confirm):
        assert "<script>alert" not in html and "<img src=x" not in html and "<u>sub</u>" not in html
    assert "&lt;u&gt;sub&lt;/u&gt;" in confirm and "&lt;script&gt;alert(1)&lt;/script&gt;" in editor


def test_terminating_an_advance_plan_offers_the_credit_note_choice(signed_in, org, alice, clock, run_jobs):
    create_plan(organization_id=org.id, data={
        "name": "Prepaid", "code": "prepaid", "interval": "monthly", "amount_cents": 3000, "amount_currency": "EUR",
        "pay_in_advance": True})
    clock.set("2026-11-01T00:00:00Z")
    prepaid = create_subscription(organization_id=org.id, data={
        "external_customer_id": "alice", "plan_code": "prepaid", "external_id": "alice-prepaid"})
    run_jobs()
    clock.set("2026-11-10T12:00:00Z")
    confirm = signed_in.get(f"/admin/customers/{alice.id}/subscriptions/{prepaid.id}/terminate", headers=HTMX)
    html = confirm.get_data(as_text=True)
    assert "The days paid in advance and not used" in html
    choices = re.findall(r'name="on_termination_credit_note" value="(\w+)"', html)
    assert choices == ["credit", "refund", "offset", "skip"]
    # The arrears plan has no such choice.
    arrears = signed_in.get(f"/admin/customers/{alice.id}/subscriptions/{alice.subscription_id}/terminate",
                            headers=HTMX).get_data(as_text=True)
    assert "on_termination_credit_note" not in arrears and 'name="final_invoice"' in arrears

    response = _post(signed_in, alice, f"/subscriptions/{prepaid.id}/terminate",
                     {"on_termination_credit_note": "credit", "final_invoice": ["skip", "generate"]})

    html = response.get_data(as_text=True)
    note = re.search(r'Credit note <span class="mono">([^<]+)</span>', html).group(1)
    # 11–30 November: 20 of 30 days of €30.00.
    assert f"alice-prepaid is terminated. Credit note {note} for the unused days: €20.00 credited." in _result(html)
    assert get_subscription(organization_id=org.id, external_id="alice-prepaid").on_termination_credit_note == "credit"
    page = _page(signed_in, alice)
    row = re.search(rf'<tr data-credit-note="[^"]+">\s*<td class="mono">{re.escape(note)}(.*?)</tr>', page, re.S)
    assert row and "Order cancellation" in row.group(1) and "€20.00" in row.group(1)
    assert "20 unused days of 30, subscription alice-prepaid terminated" in row.group(1)
    # The customer sees it on their portal too.
    portal = signed_in.get(alice.portal_path()).get_data(as_text=True)
    row = re.search(rf'<tr data-credit-note="[^"]+">\s*<td[^>]*><span class="mono">{re.escape(note)}(.*?)</tr>', portal,
                    re.S)
    assert row and "20 unused days of 30" in row.group(1) and "€20.00" in row.group(1)


def test_terminating_without_credit_note_nor_final_invoice(signed_in, org, alice, clock, run_jobs):
    create_plan(organization_id=org.id, data={
        "name": "Prepaid", "code": "prepaid", "interval": "monthly", "amount_cents": 3000, "amount_currency": "EUR",
        "pay_in_advance": True})
    prepaid = create_subscription(organization_id=org.id, data={
        "external_customer_id": "alice", "plan_code": "prepaid", "external_id": "alice-prepaid"})
    run_jobs()
    response = _post(signed_in, alice, f"/subscriptions/{prepaid.id}/terminate",
                     {"on_termination_credit_note": "skip", "final_invoice": "skip"})
    assert _result(response.get_data(as_text=True)) == "alice-prepaid is terminated. No final invoice, as asked."
    ended = get_subscription(organization_id=org.id, external_id="alice-prepaid")
    assert (ended.on_termination_credit_note, ended.on_termination_invoice) == ("skip", "skip")
    refused = _post(signed_in, alice, f"/subscriptions/{alice.subscription_id}/terminate",
                    {"final_invoice": "later"})
    assert "Not one of the choices for the final invoice" in refused.get_data(as_text=True)
    assert get_subscription(organization_id=org.id, external_id="sub-alice").status == "active"


def test_an_upgrade_from_an_advance_plan_names_its_credit_note(signed_in, org, alice, clock, run_jobs):
    for code, cents in (("prepaid", 3000), ("prepaid_max", 6000)):
        create_plan(organization_id=org.id, data={
            "name": code.title(), "code": code, "interval": "monthly", "amount_cents": cents,
            "amount_currency": "EUR", "pay_in_advance": True})
    clock.set("2026-11-01T00:00:00Z")
    prepaid = create_subscription(organization_id=org.id, data={
        "external_customer_id": "alice", "plan_code": "prepaid", "external_id": "alice-prepaid"})
    run_jobs()
    clock.set("2026-11-10T12:00:00Z")
    response = _post(signed_in, alice, f"/subscriptions/{prepaid.id}/plan", {"plan_code": "prepaid_max"})
    html = response.get_data(as_text=True)
    note = re.search(r'Credit note <span class="mono">([^<]+)</span>', html).group(1)
    # 10–30 November, the change day included: 21 of 30 days of €30.00.
    assert f"Credit note {note} for the unused days: €21.00 credited." in _result(html)
