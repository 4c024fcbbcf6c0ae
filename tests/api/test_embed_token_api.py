"""`POST /api/v1/customers/:external_customer_id/embed_token` (a Tally extension, docs/embedding.md): a host
product's backend asks, with its API key, for a short-lived token of one customer's widgets; bad input gets
Lago's error format, and one organization never reaches another's customers."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from billing.embedding.services import read_embed_token
from billing.organizations.services import create_organization
from tests.web.conftest import create_catalog


@pytest.fixture
def api(live_server, org, lago, clock):
    from lago_python_client.models import Customer, Subscription

    create_catalog(org.id)
    lago.customers.create(Customer(external_id="acme", name="Acme"))
    lago.customers.create(Customer(external_id="bob", name="Bob"))
    lago.subscriptions.create(Subscription(external_customer_id="acme", plan_code="startup", external_id="sub-acme"))
    lago.subscriptions.create(Subscription(external_customer_id="bob", plan_code="startup", external_id="sub-bob"))
    return httpx.Client(base_url=f"{live_server}/api/v1", headers={"Authorization": f"Bearer {org.api_key}"})


def test_a_token_for_every_widget_of_the_customer_lasts_an_hour_by_default(api, live_server, clock):
    answer = api.post("/customers/acme/embed_token")
    assert answer.status_code == 200, answer.text
    embed = answer.json()["embed"]
    assert set(embed) == {"token", "expires_at", "urls", "script_url"}
    assert embed["urls"] == {w: f"{live_server}/embed/{embed['token']}/{w}"
                             for w in ("usage", "bill", "wallet", "invoices")}
    assert embed["script_url"] == f"{live_server}/static/embed.js"
    expires_at = datetime.fromisoformat(embed["expires_at"].replace("Z", "+00:00"))
    assert expires_at - clock.now() == timedelta(hours=1)
    grant = read_embed_token(embed["token"])
    assert grant.external_subscription_id is None and grant.widgets == ("usage", "bill", "wallet", "invoices")


def test_a_token_may_name_one_subscription_some_widgets_and_its_lifetime(api, clock):
    answer = api.post("/customers/acme/embed_token", json={"embed": {
        "external_subscription_id": "sub-acme", "widgets": ["wallet", "usage"], "expires_in": 86_400}})
    assert answer.status_code == 200, answer.text
    embed = answer.json()["embed"]
    assert list(embed["urls"]) == ["usage", "wallet"]
    grant = read_embed_token(embed["token"])
    assert grant.external_subscription_id == "sub-acme" and grant.widgets == ("usage", "wallet")
    assert grant.expires_at - clock.now() == timedelta(hours=24)


@pytest.mark.parametrize(("embed", "field", "code"), [
    ({"widgets": ["usage", "admin"]}, "widgets", "invalid_value"),
    ({"widgets": []}, "widgets", "invalid_value"),
    ({"widgets": "usage"}, "widgets", "invalid_type"),
    ({"expires_in": 86_401}, "expires_in", "value_is_out_of_range"),
    ({"expires_in": 59}, "expires_in", "value_is_out_of_range"),
    ({"expires_in": "soon"}, "expires_in", "invalid_type"),
    ({"external_subscription_id": 12}, "external_subscription_id", "invalid_type"),
])
def test_bad_input_is_refused_in_lagos_format(api, embed, field, code):
    answer = api.post("/customers/acme/embed_token", json={"embed": embed})
    assert answer.status_code == 422
    body = answer.json()
    assert body["status"] == 422 and body["code"] == "validation_errors" and body["error_details"] == {field: [code]}


def test_a_body_that_is_not_an_embed_object_is_a_bad_request(api):
    assert api.post("/customers/acme/embed_token", json={"embed": "all"}).status_code == 400
    assert api.post("/customers/acme/embed_token", json=[1]).status_code == 400


def test_unknown_customers_and_another_customers_subscription_are_not_found(api):
    missing = api.post("/customers/nobody/embed_token")
    assert missing.status_code == 404 and missing.json()["code"] == "customer_not_found"
    foreign = api.post("/customers/acme/embed_token", json={"embed": {"external_subscription_id": "sub-bob"}})
    assert foreign.status_code == 404 and foreign.json()["code"] == "subscription_not_found"


def test_another_organization_cannot_ask_for_a_token_of_these_customers(api, live_server):
    other = create_organization(name="Other", default_currency="EUR")
    answer = httpx.post(f"{live_server}/api/v1/customers/acme/embed_token",
                        headers={"Authorization": f"Bearer {other.api_key}"})
    assert answer.status_code == 404
    assert httpx.post(f"{live_server}/api/v1/customers/acme/embed_token").status_code == 401
