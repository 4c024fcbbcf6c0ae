"""The inbound provider webhook route: who may post, what each refusal answers, what is never logged.

Stripe's signature is checked without a Stripe server (it covers the body with the stored secret), so these
run on the test client and over real HTTP; what an applied event changes is in
tests/integration/test_stripe_payments.py, against localstripe.
"""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest
from sqlalchemy import func, select

from billing.db import read_only
from billing.organizations.services import create_organization
from billing.payments import providers
from billing.payments.models import AppliedProviderEvent
from tests.unit.test_payment_provider_contract import stripe_signed

SECRET = "whsec_route_test_0123456789"  # noqa: S105 (a test's signing secret)
SECRET_KEY = "sk_test_route_secret_key_42"  # noqa: S105


@pytest.fixture
def connected(org):
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_main",
                               settings={"secret_key": SECRET_KEY, "webhook_secret": SECRET})
    return org


def _event(event_id: str = "evt_route_1") -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": "payment_intent.succeeded",
                       "created": int(time.time()),
                       "data": {"object": {"id": "pi_unknown", "object": "payment_intent", "amount": 500,
                                           "currency": "eur", "customer": "cus_1", "status": "succeeded"}}}).encode()


def _applied() -> int:
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(AppliedProviderEvent))


def _post(client, org_id: str, body: bytes, headers: dict[str, str], *, kind: str = "stripe",
          code: str | None = "stripe_main"):
    query = f"?code={code}" if code is not None else ""
    return client.post(f"/webhooks/{kind}/{org_id}{query}", data=body, headers=headers)


def test_a_signed_event_is_acknowledged_once(app, connected, caplog):
    client = app.test_client()
    body = _event()
    caplog.set_level(logging.DEBUG)
    first = _post(client, connected.id, body, stripe_signed(body, SECRET))
    again = _post(client, connected.id, body, stripe_signed(body, SECRET))
    assert first.status_code == 200 and first.json == {"status": 200, "outcome": "ignored",
                                                       "event_id": "evt_route_1"}
    assert again.status_code == 200 and again.json["outcome"] == "duplicate"
    assert _applied() == 1
    signature = stripe_signed(body, SECRET)["Stripe-Signature"]
    assert SECRET not in caplog.text and SECRET_KEY not in caplog.text and signature.split("v1=")[1] not in caplog.text


def test_a_forged_or_stale_signature_is_refused_and_changes_nothing(app, connected, caplog):
    client = app.test_client()
    body = _event()
    caplog.set_level(logging.DEBUG)
    for headers in (stripe_signed(body, "whsec_someone_else"), stripe_signed(body, SECRET, at=time.time() - 600),
                    {"Content-Type": "application/json"}):
        refused = _post(client, connected.id, body, headers)
        assert refused.status_code == 400
        assert refused.json == {"status": 400, "error": "BadRequest: invalid signature",
                                "code": "webhook_signature_invalid"}
    assert _applied() == 0
    assert SECRET not in caplog.text


def test_a_signed_body_that_is_no_event_is_a_bad_request(app, connected):
    body = b'{"not": "an event"}'
    refused = _post(app.test_client(), connected.id, body, stripe_signed(body, SECRET))
    assert refused.status_code == 400 and refused.json["code"] == "webhook_payload_invalid"
    assert _applied() == 0


def test_unknown_organizations_codes_and_kinds_are_not_found(app, connected):
    client = app.test_client()
    body = _event()
    headers = stripe_signed(body, SECRET)
    other = create_organization(name="Other", default_currency="EUR")
    providers.connect_provider(organization_id=other.organization_id, kind="fake", code="fake_main",
                               settings={"webhook_secret": SECRET})
    for org_id, kind, code in [("no-such-organization", "stripe", "stripe_main"),
                               (connected.id, "stripe", "missing"),
                               (connected.id, "stripe", None),
                               (connected.id, "adyen", "stripe_main"),  # the code is a Stripe account
                               (connected.id, "paypal", "stripe_main"),
                               (other.organization_id, "stripe", "stripe_main"),  # another tenant's code
                               (other.organization_id, "stripe", "fake_main")]:  # its code is not Stripe
        answer = _post(client, org_id, body, headers, kind=kind, code=code)
        assert answer.status_code == 404, (org_id, kind, code)
        assert answer.json == {"status": 404, "error": "Not Found", "code": "payment_provider_not_found"}
    assert _applied() == 0


def test_a_body_over_the_limit_is_refused(app, connected):
    body = b" " * (app.config["MAX_CONTENT_LENGTH"] + 1)
    refused = _post(app.test_client(), connected.id, body, stripe_signed(body, SECRET))
    assert refused.status_code == 413 and refused.json["code"] == "payload_too_large"


def test_the_route_needs_no_csrf_token_over_http(live_server, connected):
    # The test client skips nothing here: CSRF protection is on for the app's forms, and this machine
    # endpoint is exempt from it.
    body = _event("evt_route_http")
    answer = httpx.post(f"{live_server}/webhooks/stripe/{connected.id}?code=stripe_main", content=body,
                        headers=stripe_signed(body, SECRET))
    assert answer.status_code == 200 and answer.json()["outcome"] == "ignored"
    assert httpx.get(f"{live_server}/webhooks/stripe/{connected.id}?code=stripe_main").status_code == 405
