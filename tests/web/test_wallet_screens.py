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
    # Moving money asks first, naming the credits and what they are worth; nothing happens until answered.
    asked = signed_in.post(f"{base}/wallets/{wallet_id}/transactions", headers=HTMX,
                           data={"csrf_token": token, "kind": "top_up", "credits": "4"}).get_data(as_text=True)
    assert "Top up Credits with 4 credits: an invoice of €6.00 to the customer?" in asked
    assert 'name="confirmed" value="1" class="button-small" autofocus>Invoice €6.00</button>' in asked
    assert '<input type="hidden" name="kind" value="top_up">' in asked and "HX-Trigger" not in asked
    assert len(_wallet(org, alice).transactions) == 1  # the grant only
    topped = signed_in.post(f"{base}/wallets/{wallet_id}/transactions", headers=HTMX,
                            data={"csrf_token": token, "kind": "top_up", "credits": "4", "confirmed": "1"})
    assert "Top-up invoice issued" in topped.get_data(as_text=True)
    assert topped.headers["HX-Trigger"] == "invoices-changed"
    view = _wallet(org, alice)
    purchase = next(t for t in view.transactions if t.transaction_status == "purchased")
    assert purchase.status == "pending" and view.wallet.balance_cents == 1500
    invoices = signed_in.get(f"{base}/invoices", headers=HTMX).get_data(as_text=True)
    assert f"/invoices/{purchase.invoice_id}/paid" in invoices and "Mark paid" in invoices
    asked = signed_in.post(f"{base}/invoices/{purchase.invoice_id}/paid", headers=HTMX, data={"csrf_token": token})
    assert "paid: €6.00 received?" in asked.get_data(as_text=True) and "Mark €6.00 paid" in asked.get_data(as_text=True)
    assert _wallet(org, alice).wallet.balance_cents == 1500 and "HX-Trigger" not in asked.headers
    paid = signed_in.post(f"{base}/invoices/{purchase.invoice_id}/paid", headers=HTMX,
                          data={"csrf_token": token, "confirmed": "1"})
    assert paid.status_code == 200 and paid.headers["HX-Trigger"] == "wallets-changed"
    assert _wallet(org, alice).wallet.balance_cents == 2100  # 14 credits × 1.50
    rule = signed_in.post(f"{base}/wallets/{wallet_id}/rules", headers=HTMX, data={
        "csrf_token": token, "trigger": "threshold", "threshold_credits": "5", "method": "fixed",
        "granted_credits": "10"})
    rule_html = rule.get_data(as_text=True)
    assert "Top-up rules saved." in rule_html
    # The rule in words, as the portal says it to the customer, never its codes ("threshold", "fixed").
    assert "When the ongoing balance falls to 5 credits: 10 credits offered." in rule_html
    assert re.search(r'<ul class="small wallet-rules"><li>[^<]*</li></ul>', rule_html)
    assert not re.search(r'wallet-rules">.*(threshold|fixed|active)', rule_html)
    voided = signed_in.post(f"{base}/wallets/{wallet_id}/transactions", headers=HTMX,
                            data={"csrf_token": token, "kind": "void", "credits": "1", "confirmed": "1"})
    assert "Credits voided." in voided.get_data(as_text=True)
    assert _wallet(org, alice).wallet.balance_cents == 1950
    asked = signed_in.post(f"{base}/wallets/{wallet_id}/terminate", headers=HTMX, data={"csrf_token": token})
    assert "Terminate Credits? Its balance of €19.50 (13 credits) is voided." in asked.get_data(as_text=True)
    assert _wallet(org, alice).wallet.status == "active"
    ended = signed_in.post(f"{base}/wallets/{wallet_id}/terminate", headers=HTMX,
                           data={"csrf_token": token, "confirmed": "1"})
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
    assert re.search(r'Purchased</td><td class="wallet-status" data-label="Status" data-status="pending"><span '
                     r'class="badge badge-due">waiting for payment</span></td>'
                     r'<td class="num" data-label="Credits">\+5</td>', text)
    assert _wallet(org, alice).wallet.balance_cents == 2000  # pending until the invoice is paid
    refused = client.post(f"{alice.portal_path()}/wallets/{wallet_id}/top-up", headers=HTMX,
                          data={"csrf_token": portal_token, "credits": "-3"})
    assert "Enter a positive number" in refused.get_data(as_text=True)


def _panel(signed_in, alice) -> str:
    return signed_in.get(f"/admin/customers/{alice.id}/wallets", headers=HTMX).get_data(as_text=True)


def test_admin_wallet_settings_show_and_enforce_applies_to_and_top_up_limits(signed_in, org, alice):
    token = csrf_token_in(signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True))
    base = f"/admin/customers/{alice.id}"
    # Refused at creation, each reason next to its field, what was typed kept.
    refused = signed_in.post(f"{base}/wallets", headers=HTMX, data={
        "csrf_token": token, "name": "Credits", "rate_amount": "2", "top_up_min": "50", "top_up_max": "10"})
    html = refused.get_data(as_text=True)
    assert 'id="new-top_up_max-error">Lower than the minimum</p>' in html
    assert '<label for="new-top_up_max">Largest paid top-up (EUR)</label>' in html
    assert '<input type="text" id="new-top_up_max" name="top_up_max" value="10" inputmode="decimal" ' \
           'aria-describedby="new-top_up_max-hint new-top_up_max-error" aria-invalid="true">' in html
    assert customer_wallets(organization_id=org.id, customer_id=alice.id) == []
    # A limit with a fraction of a cent is refused, never rounded (€10.005 is not €10.01).
    signed_in.post(f"{base}/wallets", headers=HTMX, data={
        "csrf_token": token, "name": "Credits", "rate_amount": "2", "top_up_min": "10.005"})
    assert customer_wallets(organization_id=org.id, customer_id=alice.id) == []
    unknown = signed_in.post(f"{base}/wallets", headers=HTMX, data={
        "csrf_token": token, "rate_amount": "2", "billable_metric_codes": "nope"}).get_data(as_text=True)
    assert 'id="new-applies_to-error">Not fee types or billable metrics of this organization</p>' in unknown
    created = signed_in.post(f"{base}/wallets", headers=HTMX, data={
        "csrf_token": token, "name": "Credits", "rate_amount": "2", "granted_credits": "10", "top_up_min": "10.00",
        "top_up_max": "50", "fee_types": "subscription", "billable_metric_codes": "api_calls"}).get_data(as_text=True)
    assert "Wallet created." in created
    assert '<span class="wallet-scope">subscription fees and charges of api_calls</span>' in created
    assert '<span class="wallet-limits">€10.00 to €50.00</span>' in created
    view = _wallet(org, alice)
    assert (view.wallet.paid_top_up_min_amount_cents, view.wallet.paid_top_up_max_amount_cents) == (1000, 5000)
    assert view.wallet.allowed_fee_types == ["subscription"]
    assert [m.code for m in view.wallet.billable_metrics] == ["api_calls"]
    wallet_id = view.wallet.id
    # A top-up below the minimum (4 credits at 2.00 = €8.00): refused inline, nothing recorded.
    below = signed_in.post(f"{base}/wallets/{wallet_id}/transactions", headers=HTMX, data={
        "csrf_token": token, "kind": "top_up", "credits": "4", "confirmed": "1"}).get_data(as_text=True)
    assert (f'id="tx-{wallet_id}-credits-error">Below this wallet\'s minimum paid top-up (€10.00)</p>'
            in below.replace("&#39;", "'"))
    assert re.search(r'name="credits" value="4" inputmode="decimal"[^>]*aria-invalid="true"', below)
    assert len(_wallet(org, alice).transactions) == 1
    # The account manager may ignore the limits.
    signed_in.post(f"{base}/wallets/{wallet_id}/transactions", headers=HTMX, data={
        "csrf_token": token, "kind": "top_up", "credits": "4", "ignore_paid_top_up_limits": "1", "confirmed": "1"})
    assert [t.amount_cents for t in _wallet(org, alice).transactions if t.transaction_status == "purchased"] == [800]
    # Settings: refused inline, then saved (nothing ticked: every fee; top-up invoices issued once paid).
    bad = signed_in.post(f"{base}/wallets/{wallet_id}/settings", headers=HTMX, data={
        "csrf_token": token, "top_up_min": "10", "top_up_max": "5"}).get_data(as_text=True)
    assert f'id="settings-{wallet_id}-top_up_max-error">Lower than the minimum</p>' in bad
    saved = signed_in.post(f"{base}/wallets/{wallet_id}/settings", headers=HTMX, data={
        "csrf_token": token, "top_up_min": "", "top_up_max": "30", "invoice_requires_successful_payment": "1"})
    text = saved.get_data(as_text=True)
    assert "Wallet settings saved." in text and '<span class="wallet-scope">every fee</span>' in text
    assert '<span class="wallet-limits">up to €30.00</span>' in text and "top-up invoices issued once paid" in text
    # A top-up waits for its payment: not among the invoices until marked paid here.
    signed_in.post(f"{base}/wallets/{wallet_id}/transactions", headers=HTMX, data={
        "csrf_token": token, "kind": "top_up", "credits": "5", "invoice_requires_successful_payment": "1",
        "confirmed": "1"})
    waiting = next(t for t in _wallet(org, alice).transactions if t.amount_cents == 1000)
    assert waiting.status == "pending" and waiting.invoice_requires_successful_payment
    invoices = signed_in.get(f"{base}/invoices", headers=HTMX).get_data(as_text=True)
    assert waiting.invoice_id not in invoices
    panel = _panel(signed_in, alice)
    assert "invoice issued once paid" in panel and f"/transactions/{waiting.id}/paid" in panel
    asked = signed_in.post(f"{base}/wallets/{wallet_id}/transactions/{waiting.id}/paid", headers=HTMX,
                           data={"csrf_token": token}).get_data(as_text=True)
    assert "Mark the top-up of €10.00 paid? Its 5 credits go into Credits." in asked
    paid = signed_in.post(f"{base}/wallets/{wallet_id}/transactions/{waiting.id}/paid", headers=HTMX,
                          data={"csrf_token": token, "confirmed": "1"})
    assert "Top-up paid" in paid.get_data(as_text=True) and paid.headers["HX-Trigger"] == "invoices-changed"
    assert _wallet(org, alice).wallet.balance_cents == 3000  # 10 granted + 5 paid credits at 2.00
    assert waiting.invoice_id in signed_in.get(f"{base}/invoices", headers=HTMX).get_data(as_text=True)


def test_portal_shows_the_wallet_terms_and_refuses_top_ups_outside_the_limits_inline(client, org, alice):
    from billing.wallets.services import create_wallet

    create_wallet(organization_id=org.id, data={
        "external_customer_id": alice.external_id, "rate_amount": "1", "granted_credits": "20", "name": "Credits",
        "paid_top_up_min_amount_cents": 1000, "paid_top_up_max_amount_cents": 5000,
        "applies_to": {"fee_types": ["charge"]}})
    html = client.get(alice.portal_path()).get_data(as_text=True)
    assert '<span class="wallet-scope">charges</span>' in html
    assert '<span class="wallet-limits">€10.00 to €50.00</span>' in html
    wallet_id = _wallet(org, alice).wallet.id
    token = csrf_token_in(html)
    url = f"{alice.portal_path()}/wallets/{wallet_id}/top-up"
    small = client.post(url, headers=HTMX, data={"csrf_token": token, "credits": "3"}).get_data(as_text=True)
    assert f'id="tx-{wallet_id}-credits-error">The smallest top-up is €10.00 (10 credits).</span>' in small
    assert 'value="3" aria-invalid="true"' in small
    large = client.post(url, headers=HTMX, data={"csrf_token": token, "credits": "60"}).get_data(as_text=True)
    assert "The largest top-up is €50.00 (50 credits)." in large
    assert [t.transaction_status for t in _wallet(org, alice).transactions] == ["granted"]
    bought = client.post(url, headers=HTMX, data={"csrf_token": token, "credits": "20"}).get_data(as_text=True)
    assert "top-up invoice is issued" in bought and "aria-invalid" not in bought
    assert sorted(t.amount_cents for t in _wallet(org, alice).transactions) == [2000, 2000]
