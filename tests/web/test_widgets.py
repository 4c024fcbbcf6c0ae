"""The embeddable widgets over HTTP (`/embed/<token>/<widget>`): each shows its token's customer only, live, framed
by the organization's allowed origins only, with no cookie; expired, tampered and misused tokens are refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from billing import ports
from billing.catalog.taxes import create_tax
from billing.db import read_only
from billing.embedding import branding
from billing.embedding.services import issue_embed_token, update_embed_settings
from billing.lifecycle import create_subscription, delete_customer
from billing.payments import providers
from billing.wallets.models import WalletTransaction
from billing.wallets.services import create_wallet, customer_wallets
from tests.web.conftest import create_catalog, csrf_token_in, send_events

HTMX = {"HX-Request": "true"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def alice(org, billed_customer):
    create_catalog(org.id)
    return billed_customer(org.id, "alice", name="Alice Corp", events=3)


@pytest.fixture
def bob(org, alice, billed_customer):
    return billed_customer(org.id, "bob", name="Bob Ltd", events=7)


@pytest.fixture
def no_cookie_anywhere(client):
    """Every answer of the test's client is checked: no widget sets a cookie (third-party iframes lose them)."""
    answers = []
    open_ = client.open

    def recorded(*args, **kwargs):
        answer = open_(*args, **kwargs)
        answers.append(answer)
        return answer

    client.open = recorded
    yield answers
    assert answers
    for answer in answers:
        assert "Set-Cookie" not in answer.headers, answer.request.path


def _path(token: str, widget: str, **query) -> str:
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/embed/{token}/{widget}" + (f"?{suffix}" if suffix else "")


def _token(org_id: str, external_customer_id: str, **data) -> str:
    return issue_embed_token(organization_id=org_id, external_customer_id=external_customer_id, data=data).token


def _csp(response) -> str:
    return response.headers["Content-Security-Policy"]


def _frame_ancestors(response) -> str:
    return re.search(r"frame-ancestors ([^;]*)", _csp(response)).group(1)


def _wallet(org_id: str, external_customer_id: str, **data) -> str:
    created = create_wallet(organization_id=org_id, data={"external_customer_id": external_customer_id,
                                                          "rate_amount": "1", "granted_credits": "20",
                                                          "name": "Credits", **data})
    return created.id


def _purchases() -> int:
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(WalletTransaction).where(
            WalletTransaction.transaction_status == "purchased"))


# --- what each widget shows ---------------------------------------------------------------------------------------

def test_usage_shows_the_customers_meters_live_in_a_frameable_page(client, org, alice, bob, no_cookie_anywhere):
    response = client.get(_path(_token(org.id, "alice"), "usage", theme="dark"))
    html = response.get_data(as_text=True)

    assert response.status_code == 200, html
    assert '<html lang="en" data-theme="dark">' in html
    assert 'class="widget widget-usage" data-widget="usage"' in html
    assert '<span class="units">3</span>' in html and '<span class="amount">€0.15</span>' in html
    assert '<span class="units">7</span>' not in html and "Bob" not in html
    assert 'hx-trigger="every 5s"' in html
    assert "API calls: 3 units from 3 events, €0.15 so far this period." in html  # the meter's text equivalent
    assert '<script src="/static/js/widget.js" defer></script>' in html
    assert '<script src="/static/vendor/htmx-2.0.11.min.js" defer></script>' in html
    assert 'href="/static/css/widgets.css"' in html and re.search(r'href="/embed/[^/]+/theme.css\?v=\d+"', html)
    assert "<style" not in html and " style=" not in html and "<script>" not in html
    assert '<span class="widget-org">Acme Cloud</span>' in html
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Robots-Tag"].startswith("noindex")
    assert _frame_ancestors(response) == "'none'" and response.headers["X-Frame-Options"] == "DENY"


def test_the_usage_poll_is_the_live_block_alone_and_follows_new_events(client, org, alice):
    token = _token(org.id, "alice")
    send_events(org.id, "sub-alice", 2, prefix="more")
    fragment = client.get(_path(token, "usage"), headers=HTMX).get_data(as_text=True)

    assert "<html" not in fragment and '<span class="units">5</span>' in fragment


def test_a_token_limited_to_one_subscription_shows_only_that_one(client, org, alice):
    create_subscription(organization_id=org.id, data={"external_customer_id": "alice", "plan_code": "startup",
                                                      "external_id": "sub-alice-2", "name": "Second"})
    send_events(org.id, "sub-alice-2", 4, prefix="second")
    every = client.get(_path(_token(org.id, "alice"), "usage")).get_data(as_text=True)
    one = client.get(_path(_token(org.id, "alice", external_subscription_id="sub-alice-2"), "usage")) \
        .get_data(as_text=True)
    bill = client.get(_path(_token(org.id, "alice", external_subscription_id="sub-alice-2"), "bill")) \
        .get_data(as_text=True)

    assert 'data-subscription="sub-alice"' in every and 'data-subscription="sub-alice-2"' in every
    assert 'data-subscription="sub-alice-2"' in one and 'data-subscription="sub-alice"' not in one
    assert '<span class="units">4</span>' in one and '<span class="units">3</span>' not in one
    assert 'data-subscription="sub-alice-2"' in bill and 'data-subscription="sub-alice"' not in bill


def test_the_bill_shows_fee_usage_and_taxes_so_far_to_the_cent(client, org, alice, bob):
    create_tax(organization_id=org.id, data={"name": "VAT", "code": "vat", "rate": "20",
                                             "applied_to_organization": True})
    html = client.get(_path(_token(org.id, "alice"), "bill")).get_data(as_text=True)

    # November: the €10.00 fee (billed at the period's end) + 3 calls × €0.05; 20 % VAT on €10.15 = €2.03
    assert re.search(r'<tr class="bill-fee">.*billed at period end.*€10\.00', html, re.S)
    assert re.search(r'<tr class="bill-usage" data-metric="api_calls"><th scope="row">API calls.*€0\.15', html, re.S)
    assert re.search(r'<tr class="bill-tax" data-tax="vat"><th scope="row">VAT 20 %</th>\s*'
                     r'<td class="num amount">€2\.03</td>', html)
    assert re.search(r'Total so far.*<strong>€12\.18</strong>', html, re.S)
    assert "1 Nov 2026 – 30 Nov 2026" in html and '<span class="bill-next">1 Dec 2026</span>' in html
    assert "before coupons and prepaid credits" in html
    assert "€0.35" not in html  # Bob's 7 calls


def test_an_advance_fee_started_mid_period_is_prorated_and_taxed_with_the_plans_taxes(client, org, alice):
    from billing.catalog.models import BillableMetric
    from billing.catalog.services import create_plan
    from billing.customers.services import upsert_customer

    create_tax(organization_id=org.id, data={"name": "VAT", "code": "vat", "rate": "20",
                                             "applied_to_organization": True})
    create_tax(organization_id=org.id, data={"name": "Reduced", "code": "reduced", "rate": "10"})
    with read_only() as session:
        metric_id = session.scalar(select(BillableMetric.id).where(BillableMetric.organization_id == org.id))
    create_plan(organization_id=org.id, data={
        "name": "Pro", "code": "pro", "interval": "monthly", "amount_cents": 3000, "amount_currency": "EUR",
        "pay_in_advance": True, "tax_codes": ["reduced"],
        "charges": [{"billable_metric_id": metric_id, "charge_model": "standard", "properties": {"amount": "0.05"}}]})
    upsert_customer(organization_id=org.id, data={"external_id": "carol", "name": "Carol"})
    create_subscription(organization_id=org.id, data={"external_customer_id": "carol", "plan_code": "pro",
                                                      "external_id": "sub-carol"})
    send_events(org.id, "sub-carol", 2, prefix="carol")
    html = client.get(_path(_token(org.id, "carol"), "bill")).get_data(as_text=True)

    # From 10 Nov: 21 of 30 days of €30.00 = €21.00, billed in advance; 2 calls = €0.10; the plan's 10 % (not the
    # organization's 20 %): €2.10 on the fee's invoice + €0.01 on the usage's = €2.11; total €23.21
    assert re.search(r'<tr class="bill-fee">.*billed in advance · 21 days of 30.*€21\.00', html, re.S)
    assert re.search(r'<tr class="bill-tax" data-tax="reduced"><th scope="row">Reduced 10 %</th>\s*'
                     r'<td class="num amount">€2\.11</td>', html)
    assert 'data-tax="vat"' not in html
    assert re.search(r"Total so far.*<strong>€23\.21</strong>", html, re.S)


def test_the_wallet_shows_balances_credits_and_a_top_up_form(client, org, alice, no_cookie_anywhere):
    _wallet(org.id, "alice")
    html = client.get(_path(_token(org.id, "alice"), "wallet")).get_data(as_text=True)

    assert '<strong class="wallet-balance">€20.00</strong>' in html
    # after the usage so far (€0.15) and no draft invoice
    assert '<strong class="wallet-ongoing">€19.85</strong>' in html
    assert "Offered" in html and 'hx-trigger="every 10s, wallet-changed from:body"' in html
    assert 'name="csrf_token"' in html and "/wallet/" in html and "/top-up" in html


def test_the_invoices_list_the_finalized_ones_with_their_pdf(client, org, alice, bob, no_cookie_anywhere):
    token = _token(org.id, "alice")
    html = client.get(_path(token, "invoices")).get_data(as_text=True)

    assert alice.invoice_number in html and bob.invoice_number not in html
    assert 'hx-trigger="every 10s"' in html
    assert f'href="/embed/{token}/invoices/{alice.invoice_id}.pdf" target="_blank" rel="noopener"' in html
    assert "invoice-pay" not in html  # no payment provider: no Pay button
    pdf = client.get(f"/embed/{token}/invoices/{alice.invoice_id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert client.get(f"/embed/{token}/invoices/{bob.invoice_id}.pdf").status_code == 404


# --- the top-up form ----------------------------------------------------------------------------------------------

def test_a_top_up_needs_the_form_token_and_tallys_own_origin(client, org, alice, bob, settings, no_cookie_anywhere):
    wallet_id = _wallet(org.id, "alice")
    token = _token(org.id, "alice")
    page = client.get(_path(token, "wallet")).get_data(as_text=True)
    url = f"/embed/{token}/wallet/{wallet_id}/top-up"

    assert client.post(url, data={"credits": "5"}).status_code == 403
    assert client.post(url, data={"credits": "5", "csrf_token": _token(org.id, "alice")}).status_code == 403
    foreign = client.post(url, headers={"Origin": "https://evil.example"},
                          data={"credits": "5", "csrf_token": csrf_token_in(page)})
    assert foreign.status_code == 403 and "does not belong" in foreign.get_data(as_text=True)
    assert _purchases() == 0

    bought = client.post(url, headers={"Origin": settings.base_url, **HTMX},
                         data={"credits": "5", "csrf_token": csrf_token_in(page)})
    html = bought.get_data(as_text=True)
    assert bought.status_code == 200, html
    assert "<html" not in html and "Your top-up invoice is issued" in html
    assert bought.headers["HX-Trigger"] == "wallet-changed"
    assert _purchases() == 1
    balances = client.get(_path(token, "wallet"), headers=HTMX).get_data(as_text=True)
    assert "waiting for payment" in balances


def test_a_refused_top_up_says_why_and_writes_nothing(client, org, alice):
    wallet_id = _wallet(org.id, "alice", paid_top_up_min_amount_cents=1000)
    token = _token(org.id, "alice")
    page = client.get(_path(token, "wallet")).get_data(as_text=True)
    refused = client.post(f"/embed/{token}/wallet/{wallet_id}/top-up",
                          data={"credits": "2", "csrf_token": csrf_token_in(page)})

    assert refused.status_code == 422
    assert "The smallest top-up is €10.00 (10 credits)." in refused.get_data(as_text=True)
    assert _purchases() == 0


def test_another_customers_wallet_is_refused_and_nothing_is_written(client, org, alice, bob):
    _wallet(org.id, "alice")
    bobs = _wallet(org.id, "bob")
    token = _token(org.id, "alice")
    page = client.get(_path(token, "wallet")).get_data(as_text=True)
    answer = client.post(f"/embed/{token}/wallet/{bobs}/top-up",
                         data={"credits": "5", "csrf_token": csrf_token_in(page)})

    assert answer.status_code == 404
    assert _purchases() == 0
    [view] = customer_wallets(organization_id=org.id, customer_id=bob.id)
    assert [t.transaction_status for t in view.transactions] == ["granted"]


# --- refusals -----------------------------------------------------------------------------------------------------

def test_a_widget_the_token_does_not_grant_is_refused(client, org, alice):
    token = _token(org.id, "alice", widgets=["usage"])
    assert client.get(_path(token, "usage")).status_code == 200
    for widget in ("bill", "wallet", "invoices"):
        refused = client.get(_path(token, widget))
        html = refused.get_data(as_text=True)
        assert refused.status_code == 403 and "This view is not available." in html
        assert "data-tally-expired" not in html and "Alice" not in html
    assert client.get(f"/embed/{token}/invoices/{alice.invoice_id}.pdf").status_code == 403
    assert client.get(_path(token, "nothing")).status_code == 404


def test_a_deleted_customers_token_shows_nothing(client, org, alice):
    token = _token(org.id, "alice")
    delete_customer(organization_id=org.id, external_id="alice")
    refused = client.get(_path(token, "usage"))
    assert refused.status_code == 403 and "Alice" not in refused.get_data(as_text=True)


def test_an_expired_token_shows_the_expired_view_framed_by_the_organizations_origins(client, org, alice, clock,
                                                                                    no_cookie_anywhere):
    update_embed_settings(organization_id=org.id, data={"frame_ancestors": ["https://app.example.com"]})
    token = _token(org.id, "alice", expires_in=600)
    clock.set(clock.now() + timedelta(minutes=11))

    page = client.get(_path(token, "usage", parent="https://app.example.com"))
    html = page.get_data(as_text=True)
    assert page.status_code == 403
    assert "data-tally-expired" in html and "units" not in html
    assert 'data-parent-origin="https://app.example.com"' in html  # so that the host hears it expired
    assert _frame_ancestors(page) == "https://app.example.com"

    poll = client.get(_path(token, "usage"), headers=HTMX)
    assert poll.status_code == 286
    assert "data-tally-expired" in poll.get_data(as_text=True) and "<html" not in poll.get_data(as_text=True)


def test_a_tampered_token_is_framed_by_no_one(client, org, alice):
    update_embed_settings(organization_id=org.id, data={"frame_ancestors": ["https://app.example.com"]})
    token = _token(org.id, "alice")
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for path in (_path(tampered, "usage", parent="https://app.example.com"), _path("not-a-token", "bill")):
        page = client.get(path)
        assert page.status_code == 403 and "data-tally-expired" in page.get_data(as_text=True)
        assert 'data-parent-origin=""' in page.get_data(as_text=True)
        assert _frame_ancestors(page) == "'none'" and page.headers["X-Frame-Options"] == "DENY"
    assert client.get(_path(tampered, "usage"), headers=HTMX).status_code == 286
    # a portal link is no embed token
    portal_token = alice.portal_path().rsplit("/", 1)[1]
    assert client.get(_path(portal_token, "usage")).status_code == 403


# --- framing, parent, theme, logo ---------------------------------------------------------------------------------

def test_frame_ancestors_follow_the_organization_then_the_installation(client, org, alice, other_org, monkeypatch):
    token = _token(org.id, "alice")
    monkeypatch.setattr(ports.runtime, "frame_ancestors", ("https://default.example",))
    assert _frame_ancestors(client.get(_path(token, "usage"))) == "https://default.example"

    update_embed_settings(organization_id=org.id, data={"frame_ancestors": "https://app.example.com\n"
                                                                          "https://*.example.org"})
    page = client.get(_path(token, "usage"))
    assert _frame_ancestors(page) == "https://app.example.com https://*.example.org"
    assert "X-Frame-Options" not in page.headers
    update_embed_settings(organization_id=other_org, data={"frame_ancestors": ["https://globex.example"]})
    assert _frame_ancestors(client.get(_path(token, "usage"))) == "https://app.example.com https://*.example.org"


@pytest.mark.parametrize(("parent", "exposed"), [
    ("https://app.example.com", "https://app.example.com"),
    ("https://shop.example.org", "https://shop.example.org"),
    ("https://evil.example", ""),
    ("javascript:alert(1)", ""),
    ("", ""),
])
def test_the_parent_origin_is_exposed_only_when_allowed(client, org, alice, parent, exposed):
    update_embed_settings(organization_id=org.id, data={"frame_ancestors": ["https://app.example.com",
                                                                           "https://*.example.org"]})
    html = client.get(_path(_token(org.id, "alice"), "usage", parent=parent)).get_data(as_text=True)
    assert f'data-parent-origin="{exposed}"' in html


def test_the_theme_is_light_dark_or_auto(client, org, alice):
    token = _token(org.id, "alice")
    assert 'data-theme="light"' in client.get(_path(token, "bill", theme="light")).get_data(as_text=True)
    assert 'data-theme="auto"' in client.get(_path(token, "bill", theme="pink")).get_data(as_text=True)
    assert 'data-theme="auto"' in client.get(_path(token, "bill")).get_data(as_text=True)


def test_the_data_expires_at_is_the_tokens_expiry_in_utc(client, org, alice, clock):
    token = _token(org.id, "alice", expires_in=3600)
    html = client.get(_path(token, "invoices")).get_data(as_text=True)
    assert f'data-expires-at="{(clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}"' in html


def test_theme_css_holds_the_organizations_accent_for_each_theme(client, org, alice):
    update_embed_settings(organization_id=org.id, data={"accent_color": "#ffcc00"})
    token = _token(org.id, "alice")
    css = client.get(f"/embed/{token}/theme.css")
    text = css.get_data(as_text=True)
    palette = branding.palette("#ffcc00")

    assert css.status_code == 200 and css.mimetype == "text/css"
    assert palette.light.accent != "#ffcc00"  # too pale on white: darkened
    assert re.search(rf"\[data-theme=light\] \{{\s*--accent: {palette.light.accent};\s*--on-accent: "
                     rf"{palette.light.on_accent};", text)
    assert re.search(rf"\[data-theme=dark\] \{{\s*--accent: {palette.dark.accent};", text)
    assert re.search(rf"@media \(prefers-color-scheme: dark\) \{{\s*\[data-theme=auto\] \{{\s*--accent: "
                     rf"{palette.dark.accent};", text)
    assert client.get("/embed/not-a-token/theme.css").status_code == 404


def test_the_logo_is_served_with_its_type_and_shown_with_the_organizations_name(client, org, alice):
    token = _token(org.id, "alice")
    assert client.get(f"/embed/{token}/logo").status_code == 404

    update_embed_settings(organization_id=org.id, data={"logo": PNG})
    logo = client.get(f"/embed/{token}/logo")
    assert logo.status_code == 200 and logo.mimetype == "image/png" and logo.data == PNG
    html = client.get(_path(token, "usage")).get_data(as_text=True)
    assert re.search(r'<img class="widget-logo" src="/embed/[^"]+/logo\?v=\d+" alt="Acme Cloud" height="20">', html)
    assert client.get("/embed/not-a-token/logo").status_code == 404


# --- paying a top-up ----------------------------------------------------------------------------------------------

@pytest.fixture
def stripe(org, localstripe):
    from tests.web.test_portal_payments import SECRET_KEY

    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_test",
                               settings={"secret_key": SECRET_KEY, "publishable_key": "pk_test_portal",
                                         "api_base": localstripe})
    return localstripe


def _buy(client, org, external_id: str, wallet_id: str, credits: str = "25"):
    token = _token(org.id, external_id)
    page = client.get(_path(token, "wallet")).get_data(as_text=True)
    return client.post(f"/embed/{token}/wallet/{wallet_id}/top-up", headers=HTMX,
                       data={"credits": credits, "csrf_token": csrf_token_in(page)})


def test_without_a_saved_card_a_top_up_is_paid_on_its_page_in_a_new_tab(client, org, lago, run_jobs, stripe,
                                                                         no_cookie_anywhere):
    from tests.web.test_portal_payments import _customer

    _customer(org, lago, run_jobs, "acme")
    wallet_id = _wallet(org.id, "acme")
    bought = _buy(client, org, "acme", wallet_id)
    html = bought.get_data(as_text=True)

    assert bought.status_code == 200 and "HX-Redirect" not in bought.headers  # the pay page refuses to be framed
    assert "pay it to receive the credits" in html
    assert re.search(r'<a class="button button-small top-up-pay" href="http://[^"]+/pay/[^"]+" target="_blank" '
                     r'rel="noopener">', html)
    balances = client.get(_path(_token(org.id, "acme"), "wallet"), headers=HTMX).get_data(as_text=True)
    assert re.search(r'class="button button-small wallet-pay" href="http://[^"]+/pay/[^"]+" target="_blank"',
                     balances)


def test_with_a_default_card_a_top_up_is_charged_by_itself(client, org, lago, run_jobs, stripe, no_cookie_anywhere):
    from tests.web.test_portal_payments import _customer, _save_card

    acme = _customer(org, lago, run_jobs, "acme")
    assert _save_card(client, acme, stripe, "4242424242424242").status_code == 200
    wallet_id = _wallet(org.id, "acme", granted_credits="0")
    bought = _buy(client, org, "acme", wallet_id)

    assert "we are charging your card" in bought.get_data(as_text=True)
    assert "top-up-pay" not in bought.get_data(as_text=True)
    run_jobs()  # the payment core collects the finalized top-up invoice with the default card
    [view] = customer_wallets(organization_id=org.id, customer_id=acme.id)
    assert view.wallet.balance_cents == 2500
