"""The portal's usage meters in detail: the filter breakdown and the daily chart of the current period."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from billing.catalog.metrics import create_billable_metric
from billing.catalog.services import create_plan
from billing.customers.services import upsert_customer
from billing.lifecycle import create_subscription
from billing.metering.services import ingest_events
from billing.screens import overview
from tests.web.conftest import create_catalog

HTMX = {"HX-Request": "true"}


@pytest.fixture
def filtered(org, clock, billed_customer):
    """API calls priced by region (eu 0.04 as "Europe", us 0.06, others 0.05) and storage summed, since October."""
    calls = create_billable_metric(organization_id=org.id, data={
        "name": "API calls", "code": "api_calls", "aggregation_type": "count_agg",
        "filters": [{"key": "region", "values": ["eu", "us", "asia"]}]})
    storage = create_billable_metric(organization_id=org.id, data={
        "name": "Storage", "code": "storage_gb", "aggregation_type": "sum_agg", "field_name": "gb"})
    create_plan(organization_id=org.id, data={
        "name": "Startup", "code": "startup", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
        "charges": [
            {"billable_metric_id": calls.id, "charge_model": "standard", "properties": {"amount": "0.05"},
             "filters": [
                 {"values": {"region": ["eu"]}, "properties": {"amount": "0.04"}, "invoice_display_name": "Europe"},
                 {"values": {"region": ["us"]}, "properties": {"amount": "0.06"}}]},
            {"billable_metric_id": storage.id, "charge_model": "standard", "properties": {"amount": "1"}}]})
    customer = billed_customer(org.id, "alice", name="Alice Corp", events=1)  # one call without region, today
    events = [("2026-11-02T10:00:00Z", "api_calls", {"region": "eu"}),
              ("2026-11-02T11:00:00Z", "api_calls", {"region": "eu"}),
              ("2026-11-03T10:00:00Z", "api_calls", {"region": "us"}),
              ("2026-11-04T10:00:00Z", "api_calls", {"region": "asia"}),
              ("2026-11-01T00:30:00Z", "storage_gb", {"gb": "4"}),
              ("2026-11-05T23:59:00Z", "storage_gb", {"gb": "2"}),
              ("2026-11-10T09:00:00Z", "storage_gb", {"gb": "1.5"})]
    ingest_events(organization_id=org.id, raw_events=[
        {"transaction_id": f"t-{i}", "external_subscription_id": "sub-alice", "timestamp": ts, "code": code,
         "properties": props} for i, (ts, code, props) in enumerate(events)])
    return customer


def _meter(html: str, code: str) -> str:
    end = r'(?=<div class="meter" |</div>\s*<p class="subscription-total)'
    match = re.search(rf'<div class="meter" data-metric="{code}">.*?{end}', html, re.S)
    assert match, f"no meter {code}"
    return match.group(0)


def _breakdown(meter: str) -> list[tuple[str, str, str]]:
    rows = re.findall(r'<tr class="filter-line[^"]*">\s*<th scope="row">\s*(.*?)\s*'
                      r'(?:<span class="filter-values">.*?</span>)?\s*</th>'
                      r'\s*<td class="num filter-units"[^>]*>(.*?)</td>\s*<td class="num filter-amount">(.*?)</td>',
                      meter, re.S)
    return [(label.strip(), units, amount) for label, units, amount in rows]


def _bars(meter: str) -> list[tuple[str, str, float, str]]:
    """(day, units, bar height, classes) of each day of the chart."""
    return [(day, units, float(height), classes) for classes, day, units, height in re.findall(
        r'<g class="(day[^"]*)" data-day="([^"]+)" data-units="([^"]+)">.*?<rect class="bar" [^>]*height="([^"]+)"',
        meter, re.S)]


def test_portal_shows_each_filter_of_a_charge_and_the_rest_as_other(client, filtered):
    html = client.get(filtered.portal_path()).get_data(as_text=True)

    calls = _meter(html, "api_calls")
    assert '<span class="units">5</span>' in calls and '<span class="amount">€0.24</span>' in calls
    assert _breakdown(calls) == [("Europe", "2", "€0.08"), ("region: us", "1", "€0.06"), ("Other", "2", "€0.10")]
    assert '<span class="filter-values">region: eu</span>' in calls and "filter-other" in calls
    assert 'title="2 events">2<' in calls
    # a charge without filters has no breakdown
    assert "breakdown" not in _meter(html, "storage_gb")


def test_portal_draws_one_bar_per_day_of_the_current_period(client, filtered):
    html = client.get(filtered.portal_path()).get_data(as_text=True)

    calls = _bars(_meter(html, "api_calls"))
    assert len(calls) == 30 and calls[0][0] == "2026-11-01" and calls[-1][0] == "2026-11-30"
    by_day = {day: (units, height, classes) for day, units, height, classes in calls}
    assert by_day["2026-11-02"][:2] == ("2", 48.0)  # the busiest day reaches the top
    assert by_day["2026-11-03"][:2] == ("1", 24.0) and by_day["2026-11-10"][:2] == ("1", 24.0)
    assert by_day["2026-11-01"][:2] == ("0", 0.0)
    assert by_day["2026-11-10"][2] == "day today" and "today-mark" in _meter(html, "api_calls")
    assert by_day["2026-11-11"][2] == "day future" and by_day["2026-11-09"][2] == "day"

    storage = {day: (units, height) for day, units, height, _ in _bars(_meter(html, "storage_gb"))}
    assert storage["2026-11-01"] == ("4", 48.0) and storage["2026-11-05"] == ("2", 24.0)
    assert storage["2026-11-10"] == ("1.5", 18.0)


def test_the_chart_says_its_numbers_to_screen_readers(client, filtered):
    calls = _meter(client.get(filtered.portal_path()).get_data(as_text=True), "api_calls")

    svg = re.search(r'<svg class="chart" id="([^"]+)"[^>]*role="img" aria-labelledby="([^"]+)"', calls)
    assert svg and svg.group(2) == f"{svg.group(1)}-title {svg.group(1)}-desc"
    assert "API calls: events per day, 1 Nov to 30 Nov 2026</title>" in calls
    assert "2 Nov: 2; 3 Nov: 1; 4 Nov: 1;" in calls and "10 Nov (today): 1;" in calls
    assert "<title>3 Nov: 1 event</title>" in calls and "<title>2 Nov: 2 events</title>" in calls
    assert "Today <strong>1</strong> · peak 2 a day" in calls


def test_the_polled_fragment_has_the_breakdown_and_chart_and_no_inline_style_or_script(client, filtered):
    page = client.get(filtered.portal_path())
    fragment = client.get(filtered.portal_path() + "/usage", headers=HTMX).get_data(as_text=True)

    assert "style-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert "<html" not in fragment and len(_bars(_meter(fragment, "api_calls"))) == 30
    assert _breakdown(_meter(fragment, "api_calls")) == _breakdown(_meter(html, "api_calls"))
    for body in (html, fragment):
        assert " style=" not in body and "<style" not in body
        assert re.findall(r"<script\b[^>]*>", body) in ([], ['<script src="/static/vendor/htmx-2.0.11.min.js" defer>'])


def test_a_weekly_period_started_today_has_a_bar_per_day_from_today(org, clock):
    metric = create_billable_metric(organization_id=org.id, data={"name": "API calls", "code": "api_calls",
                                                                  "aggregation_type": "count_agg"})
    create_plan(organization_id=org.id, data={
        "name": "Weekly", "code": "weekly", "interval": "weekly", "amount_cents": 100, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metric.id, "charge_model": "standard", "properties": {"amount": "1"}}]})
    customer = upsert_customer(organization_id=org.id, data={"external_id": "wk", "name": "Weekly Ltd"})
    create_subscription(organization_id=org.id, data={"external_customer_id": "wk", "plan_code": "weekly",
                                                      "external_id": "sub-wk"})

    [subscription] = overview.subscriptions_with_usage(organization_id=org.id, customer_id=customer.id,
                                                       live_only=True)

    [line] = subscription.lines
    days = [d.day for d in line.daily]
    today = clock.now().date()
    assert days[0] == today and days[-1] == subscription.last_day and 1 <= len(days) <= 7
    assert all((b - a).days == 1 for a, b in zip(days, days[1:], strict=False))
    assert line.today.day == today and not line.today.is_future and all(d.is_future for d in line.daily[1:])
    assert all(d.units == Decimal(0) and d.share == Decimal(0) for d in line.daily) and line.daily_peak == 0


def test_hostile_metric_and_filter_names_are_escaped_in_the_meters(client, org, billed_customer):
    create_catalog(org.id)
    hostile = create_billable_metric(organization_id=org.id, data={
        "name": "<script>alert(1)</script>", "code": "evil", "aggregation_type": "count_agg",
        "filters": [{"key": "k", "values": ["<img src=x onerror=alert(2)>"]}]})
    from billing.catalog.services import get_plan, update_plan

    plan = get_plan(organization_id=org.id, code="startup")
    update_plan(organization_id=org.id, code="startup", data={"charges": [
        {"id": plan.charges[0].id, "billable_metric_id": plan.charges[0].billable_metric_id},
        {"billable_metric_id": hostile.id, "charge_model": "standard", "properties": {"amount": "1"},
         "filters": [{"values": {"k": ["<img src=x onerror=alert(2)>"]}, "properties": {"amount": "1"},
                      "invoice_display_name": "</title><script>alert(3)</script>"}]}]})
    mallory = billed_customer(org.id, "mallory", name="Mallory")

    html = client.get(mallory.portal_path()).get_data(as_text=True)

    assert "<script>alert" not in html and "<img src=x" not in html and "</title><script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: events per day" in html
    assert "&lt;/title&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in html
    assert "k: &lt;img src=x onerror=alert(2)&gt;" in html


def test_the_admin_customer_page_shows_the_same_filter_lines(signed_in, filtered):
    html = signed_in.get(f"/admin/customers/{filtered.id}/usage", headers=HTMX).get_data(as_text=True)

    rows = re.findall(r'<tr class="filter-row[^"]*" data-filter="([^"]*)">.*?filter-units">(.*?)<.*?'
                      r'filter-events">(.*?)<.*?filter-amount">(.*?)<', html, re.S)
    assert rows == [("Europe", "2", "2", "€0.08"), ("region: us", "1", "1", "€0.06"), ("Other", "2", "2", "€0.10")]
