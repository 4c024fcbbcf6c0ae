"""Admin › Payment providers for Adyen and GoCardless: the kind chosen first, their own settings (secrets
write-only, shown as "…last4", a blank one keeps the stored value, a blank shown one is removed), refusals by field
in words, the webhook URL with what to select at each, and disconnecting as for Stripe."""

from __future__ import annotations

from billing.db import read_only
from billing.payments import providers
from tests.web.conftest import csrf_token_in

HTMX = {"HX-Request": "true"}
API_KEY = "AQEyhmfxK4_adyen_api_key_7777"  # noqa: S105 (a test key)
HMAC = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
TOKEN = "sandbox_gc_access_token_8888"  # noqa: S105
GC_SECRET = "gc_webhook_secret_9999"  # noqa: S105


def _settings(org_id: str, code: str) -> dict:
    with read_only() as session:
        return providers.provider_settings(session, org_id, code)[1]


def test_the_list_offers_to_connect_each_kind(signed_in):
    page = signed_in.get("/admin/payment-providers").get_data(as_text=True)
    for kind, name in (("stripe", "Stripe"), ("adyen", "Adyen"), ("gocardless", "GoCardless")):
        assert f'href="/admin/payment-providers/new?kind={kind}">Connect {name}</a>' in page
    assert signed_in.get("/admin/payment-providers/new?kind=paypal").status_code == 404
    assert signed_in.get("/admin/payment-providers/new?kind=fake").status_code == 404


def test_connect_adyen_refuses_by_field_then_shows_masked_settings_and_what_to_register(signed_in, org, settings):
    form = signed_in.get("/admin/payment-providers/new?kind=adyen").get_data(as_text=True)
    assert "<h1>Connect Adyen</h1>" in form
    for name in ("api_key", "merchant_account", "hmac_key", "live_prefix", "api_base"):
        assert f'name="{name}"' in form
    assert 'name="secret_key"' not in form and 'name="publishable_key"' not in form
    assert form.count('type="password"') == 2  # the API key and the HMAC key
    token = csrf_token_in(form)

    refused = signed_in.post("/admin/payment-providers/new?kind=adyen", headers=HTMX, data={
        "csrf_token": token, "code": "adyen_eu", "hmac_key": "not hex", "live_prefix": "no/slash",
        "api_base": "ftp://x"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "Not saved" in html
    assert "Required: the API key of Adyen&#39;s web service user" in html
    assert "Required: the merchant account payments go to" in html
    assert "Hexadecimal, as Adyen shows it" in html and "Only the prefix of the live URLs" in html
    assert "An address such as http://127.0.0.1:8420" in html
    assert providers.list_providers(organization_id=org.id) == []  # nothing written

    saved = signed_in.post("/admin/payment-providers/new?kind=adyen", headers=HTMX, data={
        "csrf_token": token, "name": "Adyen EU", "code": "adyen_eu", "api_key": API_KEY,
        "merchant_account": "AcmeCloudECOM", "hmac_key": HMAC, "live_prefix": "", "api_base": ""})
    assert saved.headers["HX-Redirect"] == "/admin/payment-providers"
    assert _settings(org.id, "adyen_eu") == {"api_key": API_KEY, "merchant_account": "AcmeCloudECOM",
                                             "hmac_key": HMAC}
    page = signed_in.get("/admin/payment-providers").get_data(as_text=True)
    assert "Adyen EU connected." in page and 'data-provider="adyen_eu"' in page
    assert f"…{API_KEY[-4:]}" in page and f"…{HMAC[-4:]}" in page and "AcmeCloudECOM" in page
    assert API_KEY not in page and HMAC not in page
    assert f'value="{settings.base_url}/webhooks/adyen/{org.id}?code=adyen_eu"' in page
    assert "Standard webhook" in page and "HMAC key" in page
    for event in ("AUTHORISATION", "CANCELLATION", "REFUND", "REFUND_FAILED", "REFUNDED_REVERSED",
                  "RECURRING_CONTRACT"):
        assert f'<span class="mono">{event}</span>' in page
    assert 'href="/admin/payment-providers/adyen_eu/edit"' in page


def test_edit_adyen_keeps_blank_secrets_and_removes_a_blank_test_server(signed_in, org):
    providers.connect_provider(organization_id=org.id, kind="adyen", code="adyen_eu", name="Adyen EU",
                               settings={"api_key": API_KEY, "merchant_account": "AcmeCloudECOM", "hmac_key": HMAC,
                                         "api_base": "http://127.0.0.1:8421"})
    form = signed_in.get("/admin/payment-providers/adyen_eu/edit").get_data(as_text=True)
    assert API_KEY not in form and HMAC not in form
    assert f"Stored: …{API_KEY[-4:]}" in form and f"Stored: …{HMAC[-4:]}" in form
    assert 'value="AcmeCloudECOM"' in form and 'value="http://127.0.0.1:8421"' in form
    token = csrf_token_in(form)

    edited = signed_in.post("/admin/payment-providers/adyen_eu/edit", headers=HTMX, data={
        "csrf_token": token, "name": "Adyen Europe", "api_key": "", "hmac_key": "",
        "merchant_account": "AcmeCloudLive", "live_prefix": "1797a841fbb37ca7-AdyenDemo", "api_base": ""})
    assert edited.headers["HX-Redirect"] == "/admin/payment-providers"
    assert _settings(org.id, "adyen_eu") == {"api_key": API_KEY, "merchant_account": "AcmeCloudLive",
                                             "hmac_key": HMAC, "live_prefix": "1797a841fbb37ca7-AdyenDemo"}
    [shown] = providers.list_providers(organization_id=org.id)
    assert (shown.code, shown.name, shown.kind) == ("adyen_eu", "Adyen Europe", "adyen")

    # The merchant account cannot be emptied: required, and nothing changes.
    refused = signed_in.post("/admin/payment-providers/adyen_eu/edit", headers=HTMX, data={
        "csrf_token": token, "merchant_account": "", "hmac_key": "zz"})
    html = refused.get_data(as_text=True)
    assert "Hexadecimal, as Adyen shows it" in html
    assert _settings(org.id, "adyen_eu")["merchant_account"] == "AcmeCloudLive"
    emptied = signed_in.post("/admin/payment-providers/adyen_eu/edit", headers=HTMX, data={
        "csrf_token": token, "merchant_account": ""})
    assert "Required: the merchant account payments go to" in emptied.get_data(as_text=True)
    assert _settings(org.id, "adyen_eu")["merchant_account"] == "AcmeCloudLive"


def test_connect_and_edit_gocardless(signed_in, org, settings):
    form = signed_in.get("/admin/payment-providers/new?kind=gocardless").get_data(as_text=True)
    assert "<h1>Connect GoCardless</h1>" in form
    assert 'name="access_token"' in form and 'name="webhook_secret"' in form and 'name="environment"' in form
    assert '<option selected value="sandbox">' in form and 'value="live"' in form
    token = csrf_token_in(form)

    refused = signed_in.post("/admin/payment-providers/new?kind=gocardless", headers=HTMX, data={
        "csrf_token": token, "code": "gc", "environment": "staging"})
    html = refused.get_data(as_text=True)
    assert "Required: a read-write access token from GoCardless" in html
    assert "Required: the secret of the webhook endpoint at GoCardless" in html and "Sandbox or live" in html
    assert providers.list_providers(organization_id=org.id) == []

    saved = signed_in.post("/admin/payment-providers/new?kind=gocardless", headers=HTMX, data={
        "csrf_token": token, "code": "gc", "access_token": TOKEN, "webhook_secret": GC_SECRET,
        "environment": "sandbox"})
    assert saved.headers["HX-Redirect"] == "/admin/payment-providers"
    assert _settings(org.id, "gc") == {"access_token": TOKEN, "webhook_secret": GC_SECRET, "environment": "sandbox"}
    page = signed_in.get("/admin/payment-providers").get_data(as_text=True)
    assert "GoCardless connected." in page and f"…{TOKEN[-4:]}" in page and f"…{GC_SECRET[-4:]}" in page
    assert TOKEN not in page and GC_SECRET not in page
    assert f'value="{settings.base_url}/webhooks/gocardless/{org.id}?code=gc"' in page
    assert "Webhook endpoint" in page and "Webhook-Signature" in page

    edit = signed_in.get("/admin/payment-providers/gc/edit").get_data(as_text=True)
    assert TOKEN not in edit and f"Stored: …{TOKEN[-4:]}" in edit
    edited = signed_in.post("/admin/payment-providers/gc/edit", headers=HTMX, data={
        "csrf_token": token, "access_token": "", "webhook_secret": "gc_rotated_0000", "environment": "live"})
    assert edited.headers["HX-Redirect"]
    assert _settings(org.id, "gc") == {"access_token": TOKEN, "webhook_secret": "gc_rotated_0000",
                                       "environment": "live"}


def test_disconnect_works_for_every_kind(signed_in, org):
    providers.connect_provider(organization_id=org.id, kind="adyen", code="adyen_eu",
                               settings={"api_key": API_KEY, "merchant_account": "M", "hmac_key": HMAC})
    providers.connect_provider(organization_id=org.id, kind="gocardless", code="gc",
                               settings={"access_token": TOKEN, "webhook_secret": GC_SECRET})
    token = csrf_token_in(signed_in.get("/admin/payment-providers").get_data(as_text=True))
    for code, name in (("adyen_eu", "Adyen"), ("gc", "GoCardless")):
        ask = signed_in.get(f"/admin/payment-providers/{code}/disconnect").get_data(as_text=True)
        assert "Disconnect" in ask and code in ask
        done = signed_in.post(f"/admin/payment-providers/{code}/disconnect", data={"csrf_token": token})
        assert done.status_code == 303
        assert f"{name} disconnected." in signed_in.get("/admin/payment-providers").get_data(as_text=True)
    assert providers.list_providers(organization_id=org.id) == []


def test_another_organizations_adyen_is_not_found(signed_in, other_org):
    providers.connect_provider(organization_id=other_org, kind="adyen", code="theirs",
                               settings={"api_key": API_KEY, "merchant_account": "M", "hmac_key": HMAC})
    assert signed_in.get("/admin/payment-providers/theirs/edit").status_code == 404
