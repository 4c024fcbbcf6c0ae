"""The portal's plan section: each live subscription's plan in plain words, its own overridden prices,
its trial and a downgrade to come; nothing of another customer's, everything escaped."""

from __future__ import annotations

import re

import pytest

from billing import links
from billing.catalog.metrics import create_billable_metric
from billing.catalog.services import create_plan
from billing.customers.services import upsert_customer
from billing.lifecycle import create_subscription, terminate_subscription
from billing.subscriptions.services import update_subscription
from tests.web.conftest import create_catalog


@pytest.fixture
def alice(org, billed_customer):
    create_catalog(org.id)
    return billed_customer(org.id, "alice", name="Alice Corp", events=3)


def _plan_section(client, customer_id: str, organization_id: str) -> str:
    url = links.portal_url(customer_id=customer_id, organization_id=organization_id)
    html = client.get("/portal/" + url.rsplit("/portal/", 1)[1]).get_data(as_text=True)
    section = re.search(r'<section class="panel" aria-labelledby="plan-title">(.*?)</section>', html, re.S)
    assert section, "no plan section"
    return section.group(1)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_portal_explains_the_plan_in_plain_words(client, alice):
    text = _text(_plan_section(client, alice.id, alice.organization_id))
    assert "Your plan Startup €10.00 per month, billed at the end of the month" in text
    assert "API calls €0.05 per API call" in text


def test_every_charge_model_trial_and_filters_are_explained(client, org, clock):
    calls = create_billable_metric(organization_id=org.id, data={
        "name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"})
    storage = create_billable_metric(organization_id=org.id, data={
        "name": "GB", "code": "storage", "aggregation_type": "sum_agg", "field_name": "gb",
        "filters": [{"key": "region", "values": ["eu", "us"]}]})
    payments = create_billable_metric(organization_id=org.id, data={
        "name": "Payment amount", "code": "payments", "aggregation_type": "sum_agg", "field_name": "amount"})
    seats = create_billable_metric(organization_id=org.id, data={
        "name": "Seats", "code": "seats", "aggregation_type": "max_agg", "field_name": "seats"})
    create_plan(organization_id=org.id, data={
        "name": "Pro", "code": "pro", "interval": "monthly", "amount_cents": 2900, "amount_currency": "EUR",
        "pay_in_advance": True, "trial_period": 14, "description": "For growing teams", "charges": [
            {"billable_metric_id": calls.id, "charge_model": "graduated", "properties": {"graduated_ranges": [
                {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": 1000, "to_value": None, "per_unit_amount": "0.01", "flat_amount": "0"}]}},
            {"billable_metric_id": storage.id, "charge_model": "package", "invoice_display_name": "Storage",
             "properties": {"amount": "5", "package_size": 100, "free_units": 100},
             "filters": [{"values": {"region": ["us"]}, "invoice_display_name": "US storage",
                          "properties": {"amount": "6", "package_size": 100, "free_units": 0}}]},
            {"billable_metric_id": seats.id, "charge_model": "volume", "properties": {"volume_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "2", "flat_amount": "0"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "1.5", "flat_amount": "0"}]}},
            {"billable_metric_id": payments.id, "charge_model": "percentage", "properties": {
                "rate": "2.5", "fixed_amount": "0.10", "free_units_per_events": 1,
                "per_transaction_min_amount": "1", "per_transaction_max_amount": "5"}},
            {"billable_metric_id": payments.id, "charge_model": "dynamic", "properties": {},
             "invoice_display_name": "Pass-through fees"}]})
    customer = upsert_customer(organization_id=org.id, data={"external_id": "bob", "name": "Bob"})
    clock.set("2026-11-05T10:00:00Z")
    create_subscription(organization_id=org.id, data={"external_customer_id": "bob", "plan_code": "pro"})
    clock.set("2026-11-10T12:00:00Z")

    section = _plan_section(client, customer.id, org.id)
    text = _text(section)

    assert "Pro €29.00 per month, billed in advance" in text and "For growing teams" in text
    assert "free trial 9 days left, until 19 Nov 2026: no subscription fee until then." in text
    assert "API calls First 1,000 API calls free, then €0.01 each" in text
    assert "Storage €5.00 per 100 GB (first 100 free) US storage: €6.00 per 100 GB" in text
    assert "Seats €2.00 per seat up to 10; €1.50 per seat for all seats above 10" in text
    assert ("Payment amount 2.5% of payment amount + €0.10 per transaction (first transaction free), "
            "min €1.00, max €5.00 per transaction") in text
    assert "Pass-through fees Priced per event by the amount sent" in text
    assert 'data-charge="api_calls"' in section


def test_the_portal_shows_the_subscriptions_own_prices_and_a_downgrade_to_come(client, org, alice):
    create_plan(organization_id=org.id, data={"name": "Basic", "code": "basic", "interval": "monthly",
                                              "amount_cents": 500, "amount_currency": "EUR"})
    startup = create_subscription(organization_id=org.id, data={
        "external_customer_id": "alice", "plan_code": "startup", "external_id": "sub-alice"})
    charge_id = startup.plan.charges[0].id
    update_subscription(organization_id=org.id, external_id="sub-alice", data={"plan_overrides": {
        "amount_cents": 800, "charges": [{"id": charge_id, "properties": {"amount": "0.04"}}]}})

    text = _text(_plan_section(client, alice.id, org.id))
    assert "€8.00 per month" in text and "€0.04 per API call" in text and "€0.05" not in text

    create_subscription(organization_id=org.id, data={"external_customer_id": "alice", "plan_code": "basic",
                                                      "external_id": "sub-alice"})
    url = links.portal_url(customer_id=alice.id, organization_id=org.id)
    page = client.get("/portal/" + url.rsplit("/portal/", 1)[1]).get_data(as_text=True)
    section = _text(_plan_section(client, alice.id, org.id))
    assert "Changes to Basic on 1 Dec 2026." in section and section.count("per month") == 1
    assert page.count('data-subscription="sub-alice"') == 1  # no meter for the downgrade waiting to start


def test_ended_and_other_customers_subscriptions_are_not_shown(client, org, other_org, alice, billed_customer):
    create_catalog(other_org, plan_name="Globex Plan")
    billed_customer(other_org, "wile", name="Wile")
    create_plan(organization_id=org.id, data={"name": "Secret", "code": "secret", "interval": "monthly",
                                              "amount_cents": 100, "amount_currency": "EUR"})
    upsert_customer(organization_id=org.id, data={"external_id": "carol", "name": "Carol"})
    create_subscription(organization_id=org.id, data={"external_customer_id": "carol", "plan_code": "secret"})
    create_subscription(organization_id=org.id, data={"external_customer_id": "alice", "plan_code": "secret",
                                                      "external_id": "alice-later", "subscription_at":
                                                      "2027-01-01T00:00:00Z"})

    text = _text(_plan_section(client, alice.id, org.id))
    assert "Globex" not in text and text.count("Secret") == 1 and "Starts on 1 Jan 2027" in text

    terminate_subscription(organization_id=org.id, external_id="sub-alice")
    terminate_subscription(organization_id=org.id, external_id="alice-later")
    assert "No active subscription." in _text(_plan_section(client, alice.id, org.id))


def test_hostile_plan_and_metric_names_are_escaped(client, org):
    metric = create_billable_metric(organization_id=org.id, data={
        "name": "<script>alert(1)</script>", "code": "x", "aggregation_type": "count_agg",
        "filters": [{"key": "k", "values": ["<img src=x onerror=alert(2)>"]}]})
    create_plan(organization_id=org.id, data={
        "name": "<b>Plan</b>", "code": "p", "interval": "monthly", "amount_cents": 100, "amount_currency": "EUR",
        "description": "<i>desc</i>", "charges": [{
            "billable_metric_id": metric.id, "charge_model": "standard", "properties": {"amount": "1"},
            "filters": [{"values": {"k": ["<img src=x onerror=alert(2)>"]}, "properties": {"amount": "2"}}]}]})
    customer = upsert_customer(organization_id=org.id, data={"external_id": "c", "name": "C"})
    create_subscription(organization_id=org.id, data={"external_customer_id": "c", "plan_code": "p"})

    section = _plan_section(client, customer.id, org.id)

    assert "<script>" not in section and "<img" not in section and "<b>Plan" not in section and "<i>" not in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section and "&lt;b&gt;Plan&lt;/b&gt;" in section
