"""The admin's "Could not bill" list: what the clock failed on, for the signed-in organization only, with a count
in the navigation and a "Retry now" that bills it once the data is fixed."""

from __future__ import annotations

import re

from billing.clock import run_billing_clock
from billing.invoicing import failures
from billing.organizations.services import create_admin
from tests.integration.billing_failure_setup import corrupt, repair, subscribe_to, two_plans
from tests.web.conftest import PASSWORD, csrf_token_in, sign_in


def _failing(org_id: str, clock) -> None:
    clock.set("2026-09-01T00:00:00Z")
    two_plans(org_id)
    subscribe_to(org_id, "good", "startup", at="2026-09-01T00:00:00Z")
    subscribe_to(org_id, "bad", "broken", at="2026-09-01T00:00:00Z")
    corrupt(org_id)
    clock.set("2026-10-01T01:00:00Z")
    run_billing_clock(fan_out=False)
    clock.set("2026-10-01T02:00:00Z")
    run_billing_clock(fan_out=False)  # tried again: a second attempt


def test_the_list_shows_what_could_not_be_billed_and_retry_bills_it_once_fixed(signed_in, org, clock):
    _failing(org.id, clock)

    page = signed_in.get("/admin/billing-failures")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    # The count rides on the Billing section of the navigation, whatever page is open.
    assert re.search(r'Billing <span id="nav-failure-count"><span class="badge[^"]*"[^>]*>1</span>', html)
    [row] = re.findall(r'<tr data-failure="[^"]+">.*?</tr>', html, re.S)
    assert "Customer bad" in row and ">bad</a>" in row and "Billing" in row
    assert "1 Sep 2026 – 1 Oct 2026" in row
    assert '<span class="nowrap">1 Oct 2026, 01:00 UTC</span>' in row  # since
    assert '<span class="nowrap">1 Oct 2026, 02:00 UTC</span>' in row  # last attempt
    assert "InvalidProperties: invalid standard properties: {&#39;amount&#39;: [&#39;invalid_amount&#39;]}" in row
    assert re.search(r'<td class="num hide-narrow">2</td>', row)  # attempts
    assert re.search(r'href="/admin/customers/[^"#]+#subscription-[^"]+"', row)
    retry = re.search(r'hx-post="(/admin/billing-failures/[^"]+/retry)"', row).group(1)
    token = csrf_token_in(html)

    # The first post asks, naming the subscription, its customer and the period, and retries nothing.
    asked = signed_in.post(retry, data={"csrf_token": token}, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Bill bad of Customer bad now, for the period 1 Sep 2026 – 1 Oct 2026?" in asked
    assert ">Bill it now</button>" in asked and 'name="confirmed" value="1"' in asked
    assert "It failed again" not in asked and "<html" not in asked
    [failure] = failures.open_failures(organization_id=org.id)
    assert failure.attempts == 2
    plain = signed_in.post(retry, data={"csrf_token": token}).get_data(as_text=True)  # without JavaScript too
    assert "<html" in plain and "Bill bad of Customer bad now" in plain
    assert 'href="/admin/billing-failures" hx-get="/admin/billing-failures" hx-target="#failures">Cancel</a>' in plain

    answer = {"csrf_token": token, "confirmed": "1"}
    again = signed_in.post(retry, data=answer, headers={"HX-Request": "true"})
    fragment = again.get_data(as_text=True)
    assert again.status_code == 200 and "It failed again: InvalidProperties" in fragment
    assert "<html" not in fragment  # the list's fragment only

    repair(org.id)
    fixed = signed_in.post(retry, data=answer, headers={"HX-Request": "true"})
    fragment = fixed.get_data(as_text=True)
    assert "Done: 1 invoice issued." in fragment and "Every subscription was billed" in fragment
    assert '<span id="nav-failure-count" hx-swap-oob="true"></span>' in fragment.replace("\n", "")
    html = signed_in.get("/admin/billing-failures").get_data(as_text=True)
    assert 'data-failure="' not in html and 'badge-count' not in html
    stale = signed_in.post(retry, data={"csrf_token": token})  # a second tab's button: nothing left to ask or do
    assert stale.status_code == 200 and "Done: nothing was due any more." in stale.get_data(as_text=True)


def test_another_organizations_manager_sees_none_of_it(client, org, other_org, clock):
    _failing(org.id, clock)
    create_admin(email="boss@globex.test", password=PASSWORD, organization_id=other_org)
    sign_in(client, "boss@globex.test")

    html = client.get("/admin/billing-failures").get_data(as_text=True)
    assert "Every subscription was billed" in html and "badge-count" not in html

    from billing.invoicing.failures import open_failures

    [failure] = open_failures(organization_id=org.id)
    token = csrf_token_in(html)
    assert client.post(f"/admin/billing-failures/{failure.id}/retry", data={"csrf_token": token}).status_code == 404
    assert len(open_failures(organization_id=org.id)) == 1


def test_the_nav_links_to_the_list(signed_in):
    html = signed_in.get("/admin/invoices").get_data(as_text=True)  # the Billing section's pages
    assert 'href="/admin/billing-failures"' in html and "badge-count" not in html


def test_every_billing_clock_step_has_its_words():
    from billing.invoicing import failures
    from wording import BILLING_STEPS

    assert set(BILLING_STEPS) == {failures.BILLING, failures.ACTIVATION, failures.ENDING}
