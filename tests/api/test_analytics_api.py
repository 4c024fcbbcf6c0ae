"""Lago's analytics endpoints through the official lago-python-client: exact figures from hand-built invoices
(tests/analytics_data.py) across August to November 2026, Lago's filters and refusals, and another organization's
invoices never counted."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from sqlalchemy import update

from billing.db import unit_of_work
from billing.organizations.models import Organization
from billing.organizations.services import create_organization
from tests.analytics_data import build_books


@pytest.fixture
def books(clock, org, lago):
    """The organization's books, and a second organization with the same books (which must never be counted)."""
    other = create_organization(name="Other Cloud", default_currency="EUR")
    build_books(other.organization_id)
    return build_books(org.id)


def _rows(listing: dict, root: str, *fields: str) -> list[tuple]:
    return [tuple(getattr(row, field) for field in ("month", *fields)) for row in listing[root]]


def test_mrr_spreads_subscription_fees_by_interval(books, lago):
    rows = _rows(lago.mrrs.find_all(), "mrrs", "currency", "amount_cents")
    assert rows == [
        ("2026-08-01T00:00:00Z", "EUR", 2_000),   # the yearly advance fee of 24,000, a twelfth
        ("2026-09-01T00:00:00Z", "EUR", 12_000),  # + the monthly fee: 10,000 − 500 coupons + 500 taxes
        ("2026-10-01T00:00:00Z", "EUR", 16_333),  # + the weekly fee of 1,000 × 52 / 12 (voided invoice left out)
        ("2026-10-01T00:00:00Z", "USD", 5_000),
        ("2026-11-01T00:00:00Z", "EUR", 12_000),
    ]
    assert _rows(lago.mrrs.find_all({"currency": "usd"}), "mrrs", "currency", "amount_cents") == [
        ("2026-10-01T00:00:00Z", "USD", 5_000)]
    assert _rows(lago.mrrs.find_all({"months": 2}), "mrrs", "currency", "amount_cents") == [
        ("2026-10-01T00:00:00Z", "EUR", 16_333), ("2026-10-01T00:00:00Z", "USD", 5_000),
        ("2026-11-01T00:00:00Z", "EUR", 12_000)]


def test_a_month_without_subscription_fees_is_listed_empty(clock, org, lago):
    clock.set("2027-01-05T10:00:00Z")
    build_books(org.id)
    rows = _rows(lago.mrrs.find_all({"months": 3}), "mrrs", "currency", "amount_cents")
    assert rows == [("2026-11-01T00:00:00Z", "EUR", 12_000), ("2026-12-01T00:00:00Z", "EUR", 2_000),
                    ("2027-01-01T00:00:00Z", "EUR", 2_000)]
    clock.set("2027-09-05T10:00:00Z")
    assert _rows(lago.mrrs.find_all({"months": 1}), "mrrs", "currency", "amount_cents") == [
        ("2027-09-01T00:00:00Z", None, None)]


def test_gross_revenue_counts_finalized_totals_less_refunds_and_instant_fees(books, lago):
    rows = _rows(lago.gross_revenues.find_all(), "gross_revenues", "currency", "amount_cents", "invoices_count")
    assert rows == [
        ("2026-08-01T00:00:00Z", "EUR", 24_000, 1),
        ("2026-09-01T00:00:00Z", "EUR", 10_000, 1),   # 13,000 less a 3,000 refund
        ("2026-10-01T00:00:00Z", "EUR", 17_900, 3),   # 15,200 + 1,000 + 1,000 + a 700 fee without invoice
        ("2026-10-01T00:00:00Z", "USD", 5_000, 1),
        ("2026-11-01T00:00:00Z", "EUR", 10_000, 1),   # the draft is not revenue yet
    ]
    acme = _rows(lago.gross_revenues.find_all({"external_customer_id": "acme", "currency": "EUR"}),
                 "gross_revenues", "amount_cents", "invoices_count")
    assert acme == [("2026-09-01T00:00:00Z", 10_000, 1), ("2026-10-01T00:00:00Z", 15_900, 1),
                    ("2026-11-01T00:00:00Z", 10_000, 1)]


def test_months_are_the_organizations_calendar_months(books, lago, org):
    with unit_of_work() as uow:
        uow.session.execute(update(Organization).where(Organization.id == org.id).values(timezone="Europe/Paris"))
    rows = _rows(lago.gross_revenues.find_all({"months": 2, "currency": "EUR"}), "gross_revenues", "amount_cents")
    # the fee of 31 October 23:30 UTC was billed on 1 November in Paris
    assert rows == [("2026-10-01T00:00:00Z", 17_200), ("2026-11-01T00:00:00Z", 10_700)]


def test_invoiced_usage_groups_charge_fees_by_metric(books, lago):
    rows = _rows(lago.invoiced_usages.find_all(), "invoiced_usages", "code", "currency", "amount_cents")
    assert rows == [
        ("2026-10-01T00:00:00Z", "api_calls", "EUR", 4_700),   # 4,250 − 250 coupons + 700 without invoice
        ("2026-10-01T00:00:00Z", "storage_gb", "EUR", 1_200),
        ("2026-09-01T00:00:00Z", "api_calls", "EUR", 3_000),
    ]


def test_overdue_balance_sums_what_overdue_invoices_still_owe(books, lago):
    rows = _rows(lago.overdue_balances.find_all(), "overdue_balances", "currency", "amount_cents", "lago_invoice_ids")
    assert rows == [("2026-10-01T00:00:00Z", "EUR", 15_200, [books.invoices["oct"]]),
                    ("2026-10-01T00:00:00Z", "USD", 4_000, [books.invoices["initech-oct"]])]
    assert lago.overdue_balances.find_all({"external_customer_id": "globex"})["overdue_balances"] == []


def test_invoice_collection_counts_finalized_invoices_by_payment_status(books, lago):
    rows = _rows(lago.invoice_collections.find_all(), "invoice_collections", "currency", "payment_status",
                 "invoices_count", "amount_cents")
    assert rows == [
        ("2026-08-01T00:00:00Z", "EUR", "succeeded", 1, 24_000),
        ("2026-09-01T00:00:00Z", "EUR", "succeeded", 1, 13_000),
        ("2026-10-01T00:00:00Z", "EUR", "failed", 1, 15_200),
        ("2026-10-01T00:00:00Z", "USD", "pending", 1, 5_000),
        ("2026-10-01T00:00:00Z", "EUR", "succeeded", 2, 2_000),
        ("2026-11-01T00:00:00Z", "EUR", "pending", 1, 10_000),
    ]


@pytest.mark.parametrize(("query", "details"), [
    ({"currency": "EURO"}, {"currency": ["value_is_invalid"]}),
    ({"months": "twelve"}, {"months": ["invalid_type"]}),
    ({"months": "-1"}, {"months": ["value_is_out_of_range"]}),
])
def test_bad_filters_are_refused_in_lagos_format(books, lago, query, details):
    with pytest.raises(LagoApiError) as refused:
        lago.mrrs.find_all(query)
    assert refused.value.status_code == 422
    assert refused.value.response == {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
                                      "error_details": details}


def test_every_report_needs_the_organizations_key(live_server):
    for report in ("mrr", "gross_revenue", "invoiced_usage", "overdue_balance", "invoice_collection"):
        answer = httpx.get(f"{live_server}/api/v1/analytics/{report}", headers={"Authorization": "Bearer nope"})
        assert answer.status_code == 401
