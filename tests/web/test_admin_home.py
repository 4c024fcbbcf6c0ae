"""The admin's home: signing in lands on it; what needs attention and how the business is doing, with the figures of
the hand-built books (tests/analytics_data.py); one chart's period changed through htmx; another organization's
invoices never shown."""

from __future__ import annotations

import re

import pytest

from billing.organizations.services import create_organization
from tests.analytics_data import build_books
from tests.web.conftest import sign_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def books(clock, org):
    other = create_organization(name="Other Cloud", default_currency="EUR")
    build_books(other.organization_id)
    return build_books(org.id)


def _attention(html: str, kind: str) -> str:
    match = re.search(rf'data-attention="{kind}">(.*?)</article>', html, re.S)
    assert match, kind
    return match.group(1)


def _count(card: str) -> int:
    return int(re.search(r'class="attention-count">(\d+)<', card).group(1))


def _bars(html: str, chart: str) -> dict[str, str]:
    """A month chart's bars: month → data-amount."""
    svg = re.search(rf'id="chart-{chart}-svg".*?</svg>', html, re.S).group(0)
    return dict(re.findall(r'data-month="([\d-]+)" data-amount="(\d+)"', svg))


def test_signing_in_lands_on_home(client, account_manager):
    response = sign_in(client, account_manager)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    html = client.get("/admin/").get_data(as_text=True)
    assert "<h1>Home</h1>" in html and 'aria-current="page">Home</a>' in html
    assert "Nothing needs attention" in html
    assert client.get("/admin/home").status_code == 200


def test_needs_attention_counts_and_lists_the_most_urgent(client, account_manager, books):
    sign_in(client, account_manager)
    html = client.get("/admin/").get_data(as_text=True)

    drafts = _attention(html, "drafts")
    assert _count(drafts) == 1 and "Acme" in drafts and "finalizes 12 Nov 2026, 09:00 UTC" in drafts
    failed = _attention(html, "failed")
    assert _count(failed) == 1 and "€152.00" in failed and f'/invoices/{books.invoices["oct"]}' in failed
    overdue = _attention(html, "overdue")
    assert _count(overdue) == 2
    assert '<strong data-overdue-currency="EUR">€152.00</strong>' in overdue
    assert '<strong data-overdue-currency="USD">$40.00</strong>' in overdue
    assert overdue.index("Initech") < overdue.index("Acme")  # due 2 October before 15 October
    unbilled = _attention(html, "unbilled")
    assert _count(unbilled) == 1 and "globex_weekly" in unbilled
    wallets = _attention(html, "wallets")
    assert _count(wallets) == 1 and "Globex" in wallets and "€4.00" in wallets


def test_the_business_figures_are_the_analytics_reports(client, account_manager, books):
    sign_in(client, account_manager)
    html = client.get("/admin/").get_data(as_text=True)

    assert _bars(html, "mrr") == {"2026-06-01": "0", "2026-07-01": "0", "2026-08-01": "2000",
                                  "2026-09-01": "12000", "2026-10-01": "16333", "2026-11-01": "12000"}
    assert 'data-figure="mrr">€120.00</strong> <span class="muted small">this month · -26.5% on last month' in html
    assert 'data-figure="invoiced">€100.00</strong>' in html and "-44.1% on last month" in html
    assert 'data-figure="collected">€0.00</strong>' in html
    usage = re.search(r'id="chart-usage-table".*?</table>', html, re.S).group(0)
    assert re.findall(r"<td>([\w ]+)</td>\s*<td class=\"num\">([^<]+)</td>", usage) == [
        ("api_calls", "€77.00"), ("storage_gb", "€12.00")]
    customers = re.search(r'id="chart-customers-table".*?</table>', html, re.S).group(0)
    assert re.findall(r'">(\w+)</a></td>\s*<td class="num">([^<]+)</td>', customers) == [
        ("Acme", "€382.00"), ("Globex", "€260.00")]


def test_a_charts_period_redraws_only_that_chart_and_the_currency_every_chart(client, account_manager, books):
    sign_in(client, account_manager)
    fragment = client.get("/admin/home?mrr_months=3", headers={**HTMX, "HX-Target": "chart-mrr"})
    html = fragment.get_data(as_text=True)
    assert "Needs attention" not in html and "chart-revenue" not in html
    assert _bars(html, "mrr") == {"2026-09-01": "12000", "2026-10-01": "16333", "2026-11-01": "12000"}

    dollars = client.get("/admin/home?currency=usd&mrr_months=12", headers={**HTMX, "HX-Target": "business"})
    html = dollars.get_data(as_text=True)
    assert "Needs attention" not in html and 'value="USD" selected' in html
    assert _bars(html, "mrr")["2026-10-01"] == "5000" and len(_bars(html, "mrr")) == 12

    page = client.get("/admin/home?currency=XXX&mrr_months=7").get_data(as_text=True)  # unknown: the defaults
    assert 'value="EUR" selected' in page and len(_bars(page, "mrr")) == 6
