"""The events explorer of the admin customer page: latest events, their problems in words, search and pages."""

from __future__ import annotations

import re

import pytest

from billing.catalog.metrics import create_billable_metric
from billing.metering.services import ingest_events
from tests.web.conftest import create_catalog

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alice(org, billed_customer):
    create_catalog(org.id)
    create_billable_metric(organization_id=org.id, data={"name": "Storage", "code": "storage_gb",
                                                         "aggregation_type": "sum_agg", "field_name": "gb"})
    return billed_customer(org.id, "alice", name="Alice Corp", events=1)  # alice-nov-0, at 2026-11-10 12:00


def _send(organization_id: str, *events: dict) -> None:
    ingest_events(organization_id=organization_id, raw_events=[
        {"external_subscription_id": "sub-alice", "timestamp": "2026-11-09T10:00:00Z", **event} for event in events])


def _rows(html: str) -> dict[str, str]:
    """Each event row of the explorer by transaction id."""
    rows = re.finditer(r'<tr class="event-row[^"]*" data-transaction-id="([^"]*)">.*?</tr>', html, re.S)
    return {m.group(1): m.group(0) for m in rows}


def test_explorer_shows_the_latest_events_with_their_problems_in_words(signed_in, org, alice):
    _send(org.id,
          {"transaction_id": "ok-1", "code": "storage_gb", "properties": {"gb": 2.5, "region": "eu"},
           "timestamp": "2026-11-09T08:00:00Z"},
          {"transaction_id": "bad-value", "code": "storage_gb", "properties": {"gb": "lots"}},
          {"transaction_id": "bad-missing", "code": "storage_gb", "properties": {}},
          {"transaction_id": "bad-code", "code": "nobody_knows", "timestamp": "2026-11-09T11:00:00Z"},
          {"transaction_id": "too-early", "code": "api_calls", "timestamp": "2026-09-01T10:00:00Z"})
    ingest_events(organization_id=org.id, raw_events=[{"transaction_id": "not-alices", "code": "api_calls",
                                                       "external_subscription_id": "sub-bob"}])

    html = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)

    rows = _rows(html)
    assert list(rows) == ["alice-nov-0", "bad-code", "bad-missing", "bad-value", "ok-1", "too-early"]  # newest first
    assert "not-alices" not in rows
    ok = rows["ok-1"]
    assert "event-problem" not in ok and "9 Nov 2026, 08:00:00 UTC" in ok and "storage_gb" in ok
    assert "{&#34;gb&#34;:2.5,&#34;region&#34;:&#34;eu&#34;}" in ok and ">2.5<" in ok and ">ok</span>" in ok
    assert "event-problem" in rows["bad-value"] and "not a number: counted as 0" in rows["bad-value"]
    assert "missing from the properties: counted as 0" in rows["bad-missing"]
    assert "No billable metric has this code: not billed" in rows["bad-code"]
    assert "No subscription was live at this time: not billed" in rows["too-early"]


def test_explorer_finds_an_event_by_exact_transaction_id_and_filters_by_code(signed_in, org, alice):
    _send(org.id, *({"transaction_id": f"ev-{i}", "code": "api_calls"} for i in range(12)),
          {"transaction_id": "gb-1", "code": "storage_gb", "properties": {"gb": 1}})
    path = f"/admin/customers/{alice.id}/events"

    found = signed_in.get(path, query_string={"transaction_id": "ev-1"}, headers=HTMX).get_data(as_text=True)
    by_code = signed_in.get(path, query_string={"code": "storage_gb"}, headers=HTMX).get_data(as_text=True)
    nothing = signed_in.get(path, query_string={"transaction_id": "ev-"}, headers=HTMX).get_data(as_text=True)
    whole_page = signed_in.get(path, query_string={"transaction_id": "ev-1"}).get_data(as_text=True)

    assert list(_rows(found)) == ["ev-1"] and "<html" not in found and "Invoices" not in found
    assert list(_rows(by_code)) == ["gb-1"]
    assert _rows(nothing) == {} and "No event matches transaction id “ev-”." in nothing
    assert "<html" in whole_page and list(_rows(whole_page)) == ["ev-1"] and 'value="ev-1"' in whole_page


def test_explorer_pages_with_htmx(signed_in, org, alice):
    _send(org.id, *({"transaction_id": f"ev-{i:02d}", "code": "api_calls",
                     "timestamp": f"2026-11-09T10:{i:02d}:00Z"} for i in range(25)))
    path = f"/admin/customers/{alice.id}/events"

    first = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)
    second = signed_in.get(path, query_string={"page": 2, "code": "api_calls"}, headers=HTMX).get_data(as_text=True)

    assert len(_rows(first)) == 20 and "Page 1 of 2 · 26 in all" in first
    assert f'hx-get="{path}?page=2"' in first
    assert list(_rows(second)) == [f"ev-{i:02d}" for i in range(5, -1, -1)]
    assert f'hx-get="{path}?page=1&amp;code=api_calls"' in second


def test_another_organizations_customer_events_are_not_found(signed_in, other_org, billed_customer):
    create_catalog(other_org)
    theirs = billed_customer(other_org, "wile", name="Wile E. Coyote", events=2)
    response = signed_in.get(f"/admin/customers/{theirs.id}/events", headers=HTMX)
    assert response.status_code == 404 and "wile-nov" not in response.get_data(as_text=True)


def test_hostile_event_properties_are_escaped(signed_in, org, alice):
    _send(org.id, {"transaction_id": "<script>alert(1)</script>", "code": "<b>code</b>",
                   "properties": {"note": "<img src=x onerror=alert(1)>", "</code>": "x"}})

    html = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)

    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html and "<b>code</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
