"""Wallet screens: the admin panel on the customer page and the portal's prepaid credits (htmx, CSRF)."""

from __future__ import annotations

import re

import pytest

from billing.wallets.services import customer_wallets
from tests.web.conftest import create_catalog, csrf_token_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alice(org, billed_customer):
    create_catalog(org.id)
    return billed_customer(org.id, "alice", name="Alice Corp", events=3)


def _wallet(org, alice):
    [view] = customer_wallets(organization_id=org.id, customer_id=alice.id)
    return view


def test_admin_creates_grants_tops_up_marks_paid_sets_rule_and_terminates(signed_in, org, alice):
    page = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)
    assert "No wallet." in page
    token = csrf_token_in(page)
    base = f"/admin/customers/{alice.id}"
    created = signed_in.post(f"{base}/wallets", headers=HTMX, data={
        "csrf_token": token, "name": "Credits", "rate_amount": "1.5", "granted_credits": "10"})
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and "<html" not in html and "Wallet created." in html
    # 10 credits at 1.50 = €15.00; the ongoing balance takes off November's 3 calls (€0.15).
    assert '<strong class="wallet-balance">€15.00</strong>' in html
    assert '<strong class="wallet-ongoing">€14.85</strong>' in html
    wallet_id = _wallet(org, alice).wallet.id
    topped = signed_in.post(f"{base}/wallets/{wallet_id}/transactions", headers=HTMX,
                            data={"csrf_token": token, "kind": "top_up", "credits": "4"})
    assert "Top-up invoice issued" in topped.get_data(as_text=True)
    assert topped.headers["HX-Trigger"] == "invoices-changed"
    view = _wallet(org, alice)
    purchase = next(t for t in view.transactions if t.transaction_status == "purchased")
    assert purchase.status == "pending" and view.wallet.balance_cents == 1500
    invoices = signed_in.get(f"{base}/invoices", headers=HTMX).get_data(as_text=True)
    assert f"/invoices/{purchase.invoice_id}/paid" in invoices and "Mark paid" in invoices
    paid = signed_in.post(f"{base}/invoices/{purchase.invoice_id}/paid", headers=HTMX, data={"csrf_token": token})
    assert paid.status_code == 200 and paid.headers["HX-Trigger"] == "wallets-changed"
    assert _wallet(org, alice).wallet.balance_cents == 2100  # 14 credits × 1.50
    rule = signed_in.post(f"{base}/wallets/{wallet_id}/rules", headers=HTMX, data={
        "csrf_token": token, "trigger": "threshold", "threshold_credits": "5", "method": "fixed",
        "granted_credits": "10"})
    assert "Top-up rules saved." in rule.get_data(as_text=True) and "threshold at ≤ 5 credits" in rule.get_data(
        as_text=True)
    voided = signed_in.post(f"{base}/wallets/{wallet_id}/transactions", headers=HTMX,
                            data={"csrf_token": token, "kind": "void", "credits": "1"})
    assert "Credits voided." in voided.get_data(as_text=True)
    assert _wallet(org, alice).wallet.balance_cents == 1950
    ended = signed_in.post(f"{base}/wallets/{wallet_id}/terminate", headers=HTMX, data={"csrf_token": token})
    assert "Wallet terminated" in ended.get_data(as_text=True)
    assert _wallet(org, alice).wallet.status == "terminated" and _wallet(org, alice).wallet.balance_cents == 0


def test_admin_wallet_forms_need_the_csrf_token_and_report_errors(signed_in, org, alice):
    refused = signed_in.post(f"/admin/customers/{alice.id}/wallets", data={"rate_amount": "1"})
    assert refused.status_code == 400
    token = csrf_token_in(signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True))
    bad = signed_in.post(f"/admin/customers/{alice.id}/wallets", headers=HTMX,
                         data={"csrf_token": token, "rate_amount": "-1"})
    assert 'role="alert"' in bad.get_data(as_text=True)
    assert customer_wallets(organization_id=org.id, customer_id=alice.id) == []


def test_portal_shows_balances_polls_them_and_tops_up_with_an_invoice(client, signed_in, org, alice):
    token = csrf_token_in(signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True))
    signed_in.post(f"/admin/customers/{alice.id}/wallets", headers=HTMX, data={
        "csrf_token": token, "rate_amount": "1", "granted_credits": "20"})
    html = client.get(alice.portal_path()).get_data(as_text=True)
    assert "Prepaid credits" in html and '<strong class="wallet-balance">€20.00</strong>' in html
    assert '<strong class="wallet-ongoing">€19.85</strong>' in html
    assert 'hx-trigger="every 10s"' in html and "/wallets" in html
    fragment = client.get(alice.portal_path() + "/wallets", headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment and "wallet-balance" in fragment
    wallet_id = _wallet(org, alice).wallet.id
    portal_token = csrf_token_in(html)
    bought = client.post(f"{alice.portal_path()}/wallets/{wallet_id}/top-up", headers=HTMX,
                         data={"csrf_token": portal_token, "credits": "5"})
    text = bought.get_data(as_text=True)
    assert bought.status_code == 200 and "top-up invoice is issued" in text
    assert bought.headers["HX-Trigger"] == "invoices-changed"
    assert re.search(r"Purchased</td><td>pending</td><td class=\"num\">\+5</td>", text)
    assert _wallet(org, alice).wallet.balance_cents == 2000  # pending until the invoice is paid
    refused = client.post(f"{alice.portal_path()}/wallets/{wallet_id}/top-up", headers=HTMX,
                          data={"csrf_token": portal_token, "credits": "-3"})
    assert "Enter a positive number" in refused.get_data(as_text=True)
