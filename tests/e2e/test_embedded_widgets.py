"""Tally's widgets embedded in a host product on another origin, in a real browser with third-party cookies blocked.

Tally is served on http://127.0.0.1:<port> (live_server); the demo host product (web/demo_host.py) on
http://localhost:<another port>, another site: its page includes Tally's embed.js and one `<div data-tally-widget>`
per widget, and its backend asks Tally's API for the embed token. The browser is Debian's Chromium with a profile
that blocks third-party cookies (`profile.cookie_controls_mode` = 1, "block third-party cookies"), proven active
by a probe: a cookie a cross-site frame sets is not stored.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from lago_python_client.models import Customer, Subscription, Wallet
from playwright.sync_api import BrowserContext, Frame, Page, expect
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.db import read_only
from billing.embedding.services import PURPOSE, update_embed_settings
from billing.payments import providers
from tests.web.conftest import create_catalog, csrf_token_in
from web.demo_host import create_demo_host

pytestmark = pytest.mark.browser

WIDGETS = ("usage", "bill", "wallet", "invoices")
SECRET_KEY = "sk_test_embedded"  # noqa: S105 (localstripe accepts any sk_test_ key)
BLOCK_THIRD_PARTY_COOKIES = 1  # Chromium's CookieControlsMode::kBlockThirdParty (0: allow them)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serve(app) -> Iterator[int]:
    """Serve a WSGI app on 127.0.0.1 (the browser opens it as http://localhost, another site than 127.0.0.1)."""
    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield port
    finally:
        server.shutdown()


@dataclass(frozen=True)
class Embedding:
    organization_id: str
    customer_id: str
    host: str  # the allowed host product's origin
    other_host: str  # the same product on an origin the organization did not allow
    api: httpx.Client


@pytest.fixture
def embedding(org, lago, live_server, localstripe, run_jobs) -> Iterator[Embedding]:
    """A Stripe-connected organization's customer `acme` (subscription, events, a wallet) and its host product
    on two origins, one allowed to frame the widgets."""
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_test",
                               settings={"secret_key": SECRET_KEY, "publishable_key": "pk_test_embedded",
                                         "api_base": localstripe})
    create_catalog(org.id)
    lago.customers.create(Customer(external_id="acme", name="Acme Robotics", currency="EUR",
                                   billing_configuration={"payment_provider": "stripe",
                                                          "payment_provider_code": "stripe_test",
                                                          "sync_with_provider": True}))
    lago.subscriptions.create(Subscription(external_customer_id="acme", plan_code="startup", external_id="sub-acme"))
    lago.wallets.create(Wallet(external_customer_id="acme", rate_amount="1", currency="EUR", name="Prepaid"))
    api = httpx.Client(base_url=f"{live_server}/api/v1", headers={"Authorization": f"Bearer {org.api_key}"},
                       timeout=10)
    _send_events(api, 3, prefix="first")
    run_jobs()
    with read_only() as session:
        customer_id = session.scalar(select(CustomerRow.id).where(CustomerRow.organization_id == org.id,
                                                                  CustomerRow.external_id == "acme"))
    host = create_demo_host(tally_url=live_server, api_key=org.api_key, customer="acme")
    with ExitStack() as stack:
        allowed, other = (f"http://localhost:{stack.enter_context(_serve(host))}" for _ in range(2))
        update_embed_settings(organization_id=org.id, data={"frame_ancestors": [allowed]})
        stack.callback(api.close)
        yield Embedding(org.id, customer_id, allowed, other, api)


def _send_events(api: httpx.Client, count: int, *, prefix: str) -> None:
    answer = api.post("/events/batch", json={"events": [
        {"transaction_id": f"{prefix}-{i}", "external_subscription_id": "sub-acme", "code": "api_calls"}
        for i in range(count)]})
    answer.raise_for_status()


def _profile(tmp_path, cookie_controls_mode: int):
    profile = tmp_path / f"profile-{cookie_controls_mode}"
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(json.dumps({"profile": {
        "cookie_controls_mode": cookie_controls_mode,
        "block_third_party_cookies": cookie_controls_mode == BLOCK_THIRD_PARTY_COOKIES}}))
    return profile


@pytest.fixture
def open_browser(browser_type, browser_type_launch_args, tmp_path) -> Iterator[Callable[..., BrowserContext]]:
    """Chromium with a profile of its own whose cookie setting is `cookie_controls_mode`."""
    contexts: list[BrowserContext] = []

    def launch(cookie_controls_mode: int = BLOCK_THIRD_PARTY_COOKIES, width: int = 1280) -> BrowserContext:
        context = browser_type.launch_persistent_context(_profile(tmp_path, cookie_controls_mode),
                                                         **browser_type_launch_args,
                                                         viewport={"width": width, "height": 900})
        contexts.append(context)
        return context

    yield launch
    for context in contexts:
        context.close()


@pytest.fixture
def context(open_browser) -> BrowserContext:
    """The browser of these tests: third-party cookies blocked."""
    return open_browser()


@pytest.fixture
def page(context) -> Page:
    return context.pages[0] if context.pages else context.new_page()


@pytest.fixture
def problems(page: Page) -> list[str]:
    """Script errors and CSP refusals, in the host page and in its frames."""
    found: list[str] = []
    page.on("console", lambda message: message.type == "error" and found.append(message.text))
    page.on("pageerror", lambda error: found.append(str(error)))
    return found


@pytest.fixture
def tally_cookies(context: BrowserContext, live_server) -> list[str]:
    """Every Set-Cookie header Tally's answers carry, whatever the browser made of it."""
    tally = urlsplit(live_server).netloc
    found: list[str] = []
    context.on("response", lambda response: urlsplit(response.url).netloc == tally and found.extend(
        header["value"] for header in response.headers_array() if header["name"].lower() == "set-cookie"))
    return found


@Request.application
def _cookie_setter(request: Request) -> Response:
    response = Response("<!doctype html><title>probe</title><p>a third party</p>", mimetype="text/html")
    response.headers.add("Set-Cookie", "probe=1; SameSite=None; Secure; Path=/")
    return response


@pytest.fixture
def cookie_probe() -> Iterator[str]:
    """A site (127.0.0.1, not localhost) whose page sets a cookie meant for third-party use."""
    with _serve(_cookie_setter) as port:
        yield f"http://127.0.0.1:{port}/"


def _third_party_cookies_stored(page: Page, probe: str) -> list[dict]:
    """Frame the probe from the page's site; the cookies it could set (by its answer and by script)."""
    page.evaluate("""url => new Promise(done => {
        const frame = document.createElement("iframe");
        frame.addEventListener("load", done);
        frame.src = url;
        document.body.append(frame);
    })""", probe)
    frame = next(f for f in page.frames if f.url == probe)
    frame.evaluate("document.cookie = 'script=1; SameSite=None; Secure; Path=/'")
    return _cookies_of(page.context, probe)


def _cookies_of(context: BrowserContext, url: str) -> list[dict]:
    """The cookies stored for `url`'s host (`context.cookies(urls)` leaves Secure cookies out of http URLs)."""
    host = urlsplit(url).hostname
    return [cookie for cookie in context.cookies() if cookie["domain"].lstrip(".") == host]


def _widget(page: Page, name: str) -> tuple:
    """The widget's iframe element (scrolled into view: it loads lazily) and its frame once its page is there."""
    iframe = page.locator(f'[data-tally-widget="{name}"] > iframe')
    iframe.scroll_into_view_if_needed()
    handle = iframe.element_handle()
    frame = handle.content_frame()
    frame.wait_for_selector(f'body[data-widget="{name}"]')
    return iframe, frame


def _heights(iframe, frame: Frame) -> tuple[float, int]:
    return (iframe.evaluate("element => element.getBoundingClientRect().height"),
            frame.evaluate("Math.ceil(document.documentElement.getBoundingClientRect().height)"))


def _wait_for_fit(iframe, frame: Frame, timeout: float = 5) -> tuple[float, int]:
    deadline = time.monotonic() + timeout
    while True:
        outer, inner = _heights(iframe, frame)
        if abs(outer - inner) <= 1 or time.monotonic() > deadline:
            return outer, inner
        time.sleep(0.1)


def _token_of(iframe) -> str:
    return urlsplit(iframe.get_attribute("src")).path.split("/")[2]


def test_the_browser_blocks_third_party_cookies_and_the_probe_would_see_them(open_browser, embedding, cookie_probe):
    blocking = open_browser()
    page = blocking.pages[0]
    page.goto(embedding.host)
    assert _third_party_cookies_stored(page, cookie_probe) == []

    allowing = open_browser(cookie_controls_mode=0)  # the control: the same probe, cookies allowed
    page = allowing.pages[0]
    page.goto(embedding.host)
    assert {c["name"] for c in _third_party_cookies_stored(page, cookie_probe)} == {"probe", "script"}


def test_the_host_page_shows_every_widget_at_its_contents_height(page: Page, embedding, live_server, problems,
                                                                tally_cookies):
    page.goto(embedding.host)
    expect(page.get_by_role("heading", name="Acme Cloud — your account")).to_be_visible()
    for name in WIDGETS:
        iframe, frame = _widget(page, name)
        query = parse_qs(urlsplit(iframe.get_attribute("src")).query)
        assert iframe.get_attribute("src").startswith(f"{live_server}/embed/")
        assert query["parent"] == [embedding.host]
        assert frame.locator("body").get_attribute("data-parent-origin") == embedding.host
        theme = "dark" if name == "wallet" else "auto"
        assert query["theme"] == [theme] and frame.locator("html").get_attribute("data-theme") == theme
        outer, inner = _wait_for_fit(iframe, frame)
        assert abs(outer - inner) <= 1 and inner > 40, (name, outer, inner)
        assert frame.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    usage = page.frame_locator('[data-tally-widget="usage"] > iframe')
    expect(usage.locator('[data-subscription="sub-acme"] [data-metric="api_calls"] .units')).to_have_text("3")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: narrower widgets, taller content
    for name in WIDGETS:
        iframe, frame = _widget(page, name)
        outer, inner = _wait_for_fit(iframe, frame)
        assert abs(outer - inner) <= 1, (name, outer, inner)
        assert frame.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), name
    assert problems == []
    assert tally_cookies == [] and _cookies_of(page.context, live_server) == []


def test_a_new_event_shows_in_the_usage_widget_without_a_reload(page: Page, embedding, problems):
    page.goto(embedding.host)
    iframe, frame = _widget(page, "usage")
    meter = frame.locator('[data-subscription="sub-acme"] [data-metric="api_calls"]')
    expect(meter.locator(".units")).to_have_text("3")
    page.evaluate("window.__marker = 'the same host page'")
    frame.evaluate("window.__marker = 'the same widget page'")
    before = _heights(iframe, frame)

    _send_events(embedding.api, 4, prefix="later")

    expect(meter.locator(".units")).to_have_text("7", timeout=12_000)
    expect(meter.locator(".amount")).to_have_text("€0.35")
    assert page.evaluate("window.__marker") == "the same host page"
    assert frame.evaluate("window.__marker") == "the same widget page"
    outer, inner = _wait_for_fit(iframe, frame)
    assert abs(outer - inner) <= 1 and before[1] > 0
    assert problems == []


def _save_card(live_server: str, localstripe: str, embedding: Embedding) -> None:
    """The customer saved a card in the portal before (first party): the default method of the top-ups."""
    method = httpx.post(f"{localstripe}/v1/payment_methods", headers={"Authorization": f"Bearer {SECRET_KEY}"},
                        data={"type": "card", "card[number]": "4242424242424242", "card[exp_month]": "12",
                              "card[exp_year]": "2034", "card[cvc]": "123"})
    method.raise_for_status()
    portal = links.portal_url(customer_id=embedding.customer_id, organization_id=embedding.organization_id)
    form = httpx.get(f"{portal}/payment-methods")
    saved = httpx.post(f"{portal}/payment-methods", headers={"Accept": "application/json"},
                       data={"csrf_token": csrf_token_in(form.text), "payment_method": method.json()["id"]})
    assert saved.status_code == 200, saved.text


def test_a_top_up_in_the_wallet_widget_is_charged_with_third_party_cookies_blocked(
        page: Page, embedding, live_server, localstripe, run_jobs, problems, tally_cookies, cookie_probe):
    _save_card(live_server, localstripe, embedding)
    page.goto(embedding.host)
    assert _third_party_cookies_stored(page, cookie_probe) == []  # this very browser blocks them
    iframe, frame = _widget(page, "wallet")
    expect(frame.locator(".wallet-balance")).to_have_text("€0.00")

    frame.get_by_label("Buy credits").fill("25")
    frame.get_by_role("button", name="Top up").click()
    expect(frame.locator(".top-up-notice")).to_be_visible()
    run_jobs()  # the invoice of the top-up is collected: the saved card is charged (at once without Redis)

    expect(frame.locator(".wallet-balance")).to_have_text("€25.00", timeout=15_000)
    expect(frame.locator(".wallet-transaction").first).to_have_attribute("data-status", "settled")
    outer, inner = _wait_for_fit(iframe, frame)
    assert abs(outer - inner) <= 1
    assert tally_cookies == [] and _cookies_of(page.context, live_server) == []
    assert problems == []


def _listen_for_expiry(page: Page) -> None:
    page.evaluate("""() => {
        window.__expired = [];
        document.addEventListener("tally:expired", event => window.__expired.push(event.detail.widget));
    }""")


def test_an_expired_token_shows_the_expired_view_tells_the_host_and_a_new_token_brings_it_back(
        page: Page, embedding, clock, problems):
    clock.set(datetime.now(UTC))
    page.goto(embedding.host)
    page.evaluate("document.querySelectorAll('[data-token-url]').forEach(e => e.removeAttribute('data-token-url'))")
    _listen_for_expiry(page)
    iframe, frame = _widget(page, "usage")
    expired_token = _token_of(iframe)

    clock.set(clock.now() + timedelta(hours=2))  # past the token's hour: the next poll is answered "expired"

    expect(frame.locator("[data-tally-expired]")).to_be_visible(timeout=12_000)
    page.wait_for_function("window.__expired.includes('usage')", timeout=5_000)
    assert page.evaluate("window.__expired.filter(w => w === 'usage').length") == 1
    outer, inner = _wait_for_fit(iframe, frame)
    assert abs(outer - inner) <= 1

    fresh = page.evaluate("fetch('/embed-token').then(answer => answer.json()).then(answer => answer.token)")
    page.evaluate("token => TallyEmbed.refresh(document.querySelector('[data-tally-widget=usage]'), token)", fresh)
    iframe, frame = _widget(page, "usage")
    assert _token_of(iframe) == fresh != expired_token
    expect(frame.locator('[data-metric="api_calls"] .units')).to_have_text("3")
    assert frame.locator("[data-tally-expired]").count() == 0
    assert problems == []


def test_with_a_token_url_the_host_renews_an_expired_widget_by_itself(page: Page, embedding, clock, problems):
    clock.set(datetime.now(UTC))
    page.goto(embedding.host)
    _listen_for_expiry(page)
    iframe, _ = _widget(page, "usage")
    first = _token_of(iframe)

    clock.set(clock.now() + timedelta(hours=2))

    page.wait_for_function("window.__expired.includes('usage')", timeout=12_000)
    expect(page.locator('[data-tally-widget="usage"]')).not_to_have_attribute("data-token", first, timeout=5_000)
    iframe, frame = _widget(page, "usage")
    assert _token_of(iframe) != first
    expect(frame.locator('[data-metric="api_calls"] .units')).to_have_text("3")
    expect(page.locator("[data-activity]")).to_contain_text("widget's link expired")
    assert problems == []


def test_a_token_expiring_while_shown_tells_the_host_by_its_timer(page: Page, embedding, problems):
    page.goto(embedding.host)
    _listen_for_expiry(page)
    soon = links.sign(purpose=PURPOSE, subject=embedding.customer_id, organization_id=embedding.organization_id,
                      ttl=timedelta(seconds=4), extra={"w": ["bill"]})
    page.evaluate("""token => {
        const element = document.createElement("div");
        element.id = "soon";
        element.dataset.tallyWidget = "bill";
        element.dataset.token = token;
        document.querySelector("main").prepend(element);
    }""", soon)
    frame = page.locator("#soon > iframe").element_handle().content_frame()
    frame.wait_for_selector('body[data-widget="bill"]')
    assert frame.locator("[data-tally-expired]").count() == 0

    page.wait_for_function("window.__expired.includes('bill')", timeout=10_000)
    expect(frame.locator("[data-tally-expired]")).to_be_visible(timeout=12_000)
    assert problems == []


def test_the_host_takes_a_height_only_from_its_widgets_frame_and_within_bounds(page: Page, embedding, problems):
    page.goto(embedding.host)
    usage, usage_frame = _widget(page, "usage")
    bill, bill_frame = _widget(page, "bill")
    fitted = _wait_for_fit(bill, bill_frame)[0]

    # The host page itself (another origin than Tally's) cannot set a widget's height.
    page.evaluate("""() => window.postMessage({source: "tally-widget", type: "resize", widget: "bill",
                                                height: 9}, "*")""")
    # Tally's origin, but the usage widget's window: only the usage iframe may change, and never past 10,000 px.
    usage_frame.evaluate("""() => {
        parent.postMessage({source: "tally-widget", type: "resize", widget: "bill", height: 1e9}, "*");
        parent.postMessage({source: "tally-widget", type: "resize", widget: "usage", height: "1px; color: red"}, "*");
    }""")
    expect(usage).to_have_css("height", "10000px")
    assert bill.evaluate("element => element.getBoundingClientRect().height") == fitted
    usage_frame.evaluate("""() => parent.postMessage({source: "tally-widget", type: "resize", widget: "usage",
                                                      height: -5}, "*")""")
    expect(usage).to_have_css("height", "0px")
    assert problems == []


def test_a_host_origin_that_is_not_allowed_gets_no_widget(page: Page, embedding, live_server):
    refusals: list[str] = []
    page.on("console", lambda message: "frame-ancestors" in message.text and refusals.append(message.text))
    page.goto(embedding.other_host)
    for name in WIDGETS:
        iframe = page.locator(f'[data-tally-widget="{name}"] > iframe')
        iframe.scroll_into_view_if_needed()
        assert iframe.get_attribute("src").startswith(f"{live_server}/embed/")
    deadline = time.monotonic() + 5
    while len(refusals) < len(WIDGETS) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(refusals) == len(WIDGETS), refusals
    assert all(re.match(rf"Framing '{live_server}/' violates the following Content Security Policy directive: "
                        rf'"frame-ancestors {embedding.host}"', text) for text in refusals), refusals
    for name in WIDGETS:
        frame = page.locator(f'[data-tally-widget="{name}"] > iframe').element_handle().content_frame()
        assert frame.evaluate("location.href") == "chrome-error://chromewebdata/"  # the browser's error page
        assert frame.locator("body[data-widget]").count() == 0
    assert page.evaluate("window.TallyEmbed.origin") == live_server
