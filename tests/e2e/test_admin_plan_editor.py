"""In a real browser: an account manager builds a graduated plan in the htmx editor (adds a charge,
switches its model, adds a tier), sees a refusal inline and a price preview, and saves it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.catalog.metrics import create_billable_metric
from billing.catalog.services import get_plan
from billing.organizations.services import create_admin
from tests.e2e.screens import look_at, open_admin

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def idle(page: Page) -> None:
    """Wait until htmx has no request in flight and has settled what it swapped in.

    NOTE: htmx binds the hx-* attributes of new content when it settles (20 ms after the swap): a
    change a script makes in between is not heard. No person is that quick; a test is.
    """
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")).to_have_count(0)


def test_build_a_graduated_plan_with_a_preview(page: Page, live_server, org):
    problems: list[str] = []  # a CSP refusal or a script error shows up here, not as a failure
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    create_billable_metric(organization_id=org.id, data={
        "name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"})

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    open_admin(page, "Catalog", "Plans")
    page.get_by_role("link", name="New plan").click()
    page.evaluate("window.__marker = 'same page'")

    page.get_by_label("Name", exact=True).fill("Growth")
    page.get_by_label("Code").fill("growth")
    page.get_by_label("Subscription fee").fill("29")
    page.get_by_label("Currency").fill("EUR")

    page.get_by_role("button", name="Add charge").click()
    idle(page)
    charge = page.locator("fieldset.charge")
    expect(charge).to_have_count(1)
    charge.get_by_label("Metric").select_option(label="API calls (api_calls)")
    idle(page)
    expect(charge.locator("legend")).to_have_text("API calls")
    charge.get_by_label("Charge model").select_option("graduated")
    idle(page)
    expect(charge.get_by_label("Tier 1 from")).to_have_value("0")

    charge.get_by_label("Tier 1 to").fill("10")
    charge.get_by_label("Tier 1 price per unit").fill("5")
    charge.get_by_label("Tier 1 flat fee").fill("200")
    charge.get_by_role("button", name="Add tier").click()
    idle(page)
    expect(charge.get_by_label("Tier 2 from")).to_have_value("10")
    expect(charge.get_by_label("Tier 1 flat fee")).to_have_value("200")  # what was typed stays
    charge.get_by_label("Tier 2 from").fill("11")
    charge.get_by_label("Tier 2 flat fee").fill("300")

    # Tier 2 has no price yet: the preview says so, and so does the save, next to the tiers.
    charge.get_by_label("What does it cost?").fill("15")
    expect(charge.locator(".preview-result")).to_contain_text("Fix the charge first")
    page.get_by_role("button", name="Create plan").click()
    expect(page.get_by_role("alert").first).to_contain_text("The plan was not saved")
    expect(charge.locator(".ranges .field-error")).to_contain_text("Per unit: A number, 0 or more")
    expect(charge.get_by_label("Tier 2 price per unit")).to_have_attribute("aria-invalid", "true")

    charge.get_by_label("Tier 2 price per unit").fill("1")
    charge.get_by_role("button", name="Price it").click()
    expect(charge.locator(".preview-amount")).to_have_text("€555.00")
    charge.get_by_label("What does it cost?").fill("0")
    expect(charge.locator(".preview-amount")).to_have_text("€200.00")  # refreshed as it is typed
    assert page.evaluate("window.__marker") == "same page"  # all of it swapped in by htmx

    page.get_by_role("button", name="Create plan").click()

    expect(page).to_have_url(f"{live_server}/admin/plans")
    expect(page.get_by_role("status")).to_have_text("Plan “Growth” created.")
    expect(page.locator('[data-plan="growth"]')).to_contain_text(
        "First 10 API calls at €5.00 each + €200.00 flat, then €1.00 each + €300.00 flat")
    plan = get_plan(organization_id=org.id, code="growth")
    assert plan.amount_cents == 2900
    assert plan.charges[0].properties == {"graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "5", "flat_amount": "200"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "1", "flat_amount": "300"}]}
    assert problems == []


# A script that changes the charge model in the first task after htmx swapped the metric's answer in (the soonest a
# click can land), or while that answer is still on its way: the case the editor once got wrong (the old model's
# fields under the new model's name, because htmx bound the new select only when it settled, 20 ms later).
CHANGE_MODEL_RIGHT_AFTER_METRIC = """([moment, model]) => new Promise(resolve => {
  const pick = () => {
    const select = document.querySelector('fieldset.charge select[name$="-model"]');
    select.value = model;
    select.dispatchEvent(new Event('change', {bubbles: true}));
    resolve();
  };
  document.body.addEventListener(moment, () => setTimeout(pick, 0), {once: true});
  const metric = document.querySelector('fieldset.charge select[name$="-metric"]');
  metric.value = metric.options[1].value;
  metric.dispatchEvent(new Event('change', {bubbles: true}));
})"""


@pytest.mark.parametrize(("moment", "model", "first_field"), [
    ("htmx:afterSwap", "graduated", "Tier 1 from"),  # the metric's fieldset just swapped in, not yet settled
    ("htmx:beforeSend", "package", "Units per package"),  # the metric's request still in flight
])
def test_the_charge_model_and_its_fields_stay_in_step_however_quick(page: Page, live_server, org, moment, model,
                                                                   first_field):
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    create_billable_metric(organization_id=org.id, data={
        "name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"})
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/admin/plans/new")
    page.get_by_role("button", name="Add charge").click()
    idle(page)

    page.evaluate(CHANGE_MODEL_RIGHT_AFTER_METRIC, [moment, model])
    idle(page)

    charge = page.locator("fieldset.charge")
    expect(charge.locator("legend")).to_have_text("API calls")
    expect(charge.get_by_label("Charge model")).to_have_value(model)
    expect(charge.locator(".charge-properties")).to_have_attribute("data-model", model)
    expect(charge.get_by_label(first_field)).to_be_visible()


def test_progressive_billing_thresholds_in_the_editor(page: Page, live_server, org):
    """The "Progressive billing" section: add two thresholds (one repeating), remove one, save; the edit page lists
    what was saved. Looked at 1280 and 390 px wide."""
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    open_admin(page, "Catalog", "Plans")
    page.get_by_role("link", name="New plan").click()
    page.get_by_label("Name", exact=True).fill("Metered")
    page.get_by_label("Code").fill("metered")
    page.get_by_label("Currency").fill("EUR")

    section = page.locator("#thresholds")
    expect(section).to_contain_text("No threshold")
    for _ in range(3):
        section.get_by_role("button", name="Add threshold").click()
        idle(page)
    section = page.locator("#thresholds")
    section.get_by_label("Threshold 1 amount").fill("100")
    section.get_by_label("Threshold 1 name").fill("First step")
    section.get_by_label("Threshold 2 amount").fill("999")
    section.get_by_label("Threshold 3 amount").fill("250")
    section.locator("tr").nth(3).get_by_role("checkbox").check()
    section.get_by_role("button", name="Remove threshold 2").click()
    idle(page)
    section = page.locator("#thresholds")
    expect(section.locator("tr[data-threshold]")).to_have_count(2)
    expect(section.get_by_label("Threshold 1 name")).to_have_value("First step")  # what was typed stays
    look_at(page, "plan-editor-progressive-billing")
    page.get_by_role("button", name="Create plan").click()
    expect(page).to_have_url(f"{live_server}/admin/plans")
    plan = get_plan(organization_id=org.id, code="metered")
    assert [(t.amount_cents, t.recurring, t.threshold_display_name) for t in plan.usage_thresholds] == [
        (10000, False, "First step"), (25000, True, None)]
    page.goto(f"{live_server}/admin/plans/metered/edit")
    expect(page.locator("#thresholds tr[data-threshold]")).to_have_count(2)
    assert problems == []
