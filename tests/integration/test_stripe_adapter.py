"""What the Stripe adapter does beyond the shared contract, against localstripe and a few canned answers."""

from __future__ import annotations

import itertools
import json
import queue
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from billing.payments.interface import (
    ChargeRequest,
    CustomerRequest,
    PaymentStatus,
    ProviderError,
    SignatureInvalid,
    WebhookKind,
)
from billing.payments.stripe import StripeProvider
from tests.servers import stripe as localstripe_server
from tests.unit.test_payment_provider_contract import stripe_signed

_keys = itertools.count(1)
WEBHOOK_SECRET = "whsec_adapter"  # noqa: S105


def key(name: str) -> str:
    return f"adapter-{name}-{next(_keys)}"


@pytest.fixture
def provider(localstripe: str) -> StripeProvider:
    return StripeProvider(secret_key=f"sk_test_adapter_{next(_keys)}", webhook_secret=WEBHOOK_SECRET,
                          api_base=localstripe)


def _customer_with_card(provider: StripeProvider, base_url: str, number: str = "4242424242424242") -> tuple[str, str]:
    customer = provider.create_customer(CustomerRequest(reference="tally-1", idempotency_key=key("customer")))
    browser = stripe.StripeClient("sk_test_browser", base_addresses={"api": base_url})
    method = browser.v1.payment_methods.create(params={
        "type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    provider.attach_payment_method(customer.id, method.id)
    return customer.id, method.id


def _everything(base_url: str, path: str) -> list[dict]:
    found, params = [], {"limit": "100"}
    while True:
        page = localstripe_server.get(base_url, path, params)
        found += page["data"]
        if not page["has_more"]:
            return found
        params["starting_after"] = page["data"][-1]["id"]


def test_a_retried_charge_gets_the_same_payment_intent_and_charges_once(provider, localstripe):
    customer_id, method_id = _customer_with_card(provider, localstripe)
    request = ChargeRequest(amount_cents=2_500, currency="EUR", customer_id=customer_id, method_id=method_id,
                            idempotency_key=key("charge"), metadata={"tally_payment_id": "pay-1"})

    first, again = provider.charge(request), provider.charge(request)

    assert first == again and first.status is PaymentStatus.SUCCEEDED
    intents = [i for i in _everything(localstripe, "/v1/payment_intents") if i["customer"] == customer_id]
    assert [intent["id"] for intent in intents] == [first.payment_id]
    assert intents[0]["metadata"] == {"tally_payment_id": "pay-1"} and intents[0]["currency"] == "eur"
    charges = localstripe_server.get(localstripe, "/v1/charges", {"customer": customer_id})["data"]
    assert len(charges) == 1


def test_a_customer_carries_its_tally_reference(provider, localstripe):
    created = provider.create_customer(CustomerRequest(reference="tally-42", idempotency_key=key("customer"),
                                                       name="Acme", email="billing@acme.test",
                                                       metadata={"organization": "org-1"}))
    stored = localstripe_server.get(localstripe, f"/v1/customers/{created.id}")
    assert stored["metadata"] == {"tally_customer_id": "tally-42", "organization": "org-1"}
    assert (stored["name"], stored["email"]) == ("Acme", "billing@acme.test")


def test_several_accounts_in_one_process_leave_the_global_key_alone(localstripe):
    first = StripeProvider(secret_key="sk_test_org_a", api_base=localstripe)
    second = StripeProvider(secret_key="sk_test_org_b", api_base=localstripe)
    for adapter in (first, second):
        adapter.create_customer(CustomerRequest(reference="c", idempotency_key=key("customer")))
    assert stripe.api_key is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_is_retryable():
    provider = StripeProvider(secret_key="sk_test_nobody_home", api_base=f"http://127.0.0.1:{_closed_port()}",
                              max_network_retries=0)
    with pytest.raises(ProviderError) as failed:
        provider.create_customer(CustomerRequest(reference="c", idempotency_key=key("customer")))
    assert failed.value.retryable and failed.value.code == "connection_error"
    assert "sk_test_nobody_home" not in str(failed.value)


def test_a_bad_secret_key_is_not_retryable_and_not_shown(localstripe):
    provider = StripeProvider(secret_key="not_a_stripe_key_123", api_base=localstripe)
    with pytest.raises(ProviderError) as failed:
        provider.create_customer(CustomerRequest(reference="c", idempotency_key=key("customer")))
    assert not failed.value.retryable and failed.value.code == "authentication_error"
    assert "not_a_stripe_key_123" not in str(failed.value)


class _Canned(BaseHTTPRequestHandler):
    """Stripe answering one status with an error body (the server's 5xx, a rate limit, a refusal)."""

    status = 500

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": {"type": "api_error", "message": f"canned {self.status}"}}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Stripe-Should-Retry", "false")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (400, False),
                                                   (403, False)])
def test_stripe_failures_are_retryable_only_when_transient(status, retryable):
    handler = type("Canned", (_Canned,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        provider = StripeProvider(secret_key="sk_test_canned", api_base=f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(ProviderError) as failed:
            provider.create_customer(CustomerRequest(reference="c", idempotency_key=key("customer")))
        assert failed.value.retryable is retryable
    finally:
        server.shutdown()
        server.server_close()


def _event_payload(payment_id: str = "pi_1") -> bytes:
    return json.dumps({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "created": 1_700_000_000,
                       "data": {"object": {"id": payment_id, "object": "payment_intent", "amount": 500,
                                           "currency": "eur", "customer": "cus_1", "status": "succeeded"}}}).encode()


def test_a_stale_signature_is_refused(provider):
    payload = _event_payload()
    assert provider.parse_webhook(payload, stripe_signed(payload, WEBHOOK_SECRET)).payment_id == "pi_1"
    with pytest.raises(SignatureInvalid):
        provider.parse_webhook(payload, stripe_signed(payload, WEBHOOK_SECRET, at=time.time() - 301))


def test_a_webhook_without_a_configured_secret_is_refused(localstripe):
    provider = StripeProvider(secret_key="sk_test_no_secret", api_base=localstripe)
    payload = _event_payload()
    with pytest.raises(SignatureInvalid):
        provider.parse_webhook(payload, stripe_signed(payload, WEBHOOK_SECRET))


@pytest.mark.parametrize(("provider_type", "obj", "kind", "fields"), [
    ("payment_intent.payment_failed",
     {"id": "pi_2", "object": "payment_intent", "amount": 700, "currency": "usd", "customer": "cus_2",
      "status": "requires_payment_method", "last_payment_error": {"code": "card_declined", "message": "Declined"}},
     WebhookKind.PAYMENT_FAILED, {"payment_id": "pi_2", "currency": "USD", "error_code": "card_declined"}),
    ("payment_intent.requires_action",
     {"id": "pi_3", "object": "payment_intent", "amount": 700, "currency": "eur", "status": "requires_action",
      "next_action": {"type": "redirect_to_url", "redirect_to_url": {"url": "https://hooks.stripe.test/3ds"}}},
     WebhookKind.PAYMENT_REQUIRES_ACTION, {"next_action_url": "https://hooks.stripe.test/3ds"}),
    ("refund.updated",
     {"id": "re_1", "object": "refund", "amount": 300, "currency": "eur", "payment_intent": "pi_4",
      "status": "succeeded"},
     WebhookKind.REFUND_SUCCEEDED, {"refund_id": "re_1", "payment_id": "pi_4", "amount_cents": 300}),
    ("refund.failed",
     {"id": "re_2", "object": "refund", "amount": 300, "currency": "eur", "payment_intent": "pi_4",
      "status": "failed", "failure_reason": "expired_or_canceled_card"},
     WebhookKind.REFUND_FAILED, {"refund_id": "re_2", "error_code": "expired_or_canceled_card"}),
    ("setup_intent.succeeded",
     {"id": "seti_1", "object": "setup_intent", "customer": "cus_5", "payment_method": "pm_5",
      "status": "succeeded"},
     WebhookKind.SETUP_SUCCEEDED, {"setup_id": "seti_1", "customer_id": "cus_5", "method_id": "pm_5"}),
    ("payment_method.detached", {"id": "pm_6", "object": "payment_method", "customer": None},
     WebhookKind.PAYMENT_METHOD_DETACHED, {"method_id": "pm_6", "customer_id": "cus_6"}),
    ("customer.updated", {"id": "cus_7", "object": "customer"}, WebhookKind.OTHER, {}),
])
def test_stripe_event_types_are_read_in_neutral_terms(provider, provider_type, obj, kind, fields):
    data = {"object": obj}
    if provider_type == "payment_method.detached":
        data["previous_attributes"] = {"customer": "cus_6"}
    payload = json.dumps({"id": "evt_x", "object": "event", "type": provider_type, "created": 1_700_000_000,
                          "data": data}).encode()
    event = provider.parse_webhook(payload, stripe_signed(payload, WEBHOOK_SECRET))
    assert (event.kind, event.provider_type) == (kind, provider_type)
    assert {name: getattr(event, name) for name in fields} == fields


class _Inbox(BaseHTTPRequestHandler):
    received: queue.Queue

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.put((body, dict(self.headers)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_webhook_localstripe_posts_is_verified_and_read(provider, localstripe):
    received: queue.Queue = queue.Queue()
    inbox = ThreadingHTTPServer(("127.0.0.1", 0), type("Inbox", (_Inbox,), {"received": received}))
    threading.Thread(target=inbox.serve_forever, daemon=True).start()
    try:
        localstripe_server.register_webhook(localstripe, f"http://127.0.0.1:{inbox.server_port}/webhooks/stripe",
                                            WEBHOOK_SECRET, webhook_id="adapter-test",
                                            events=["payment_intent.succeeded"])
        customer_id, method_id = _customer_with_card(provider, localstripe)
        paid = provider.charge(ChargeRequest(amount_cents=4_200, currency="EUR", customer_id=customer_id,
                                             method_id=method_id, idempotency_key=key("charge")))
        deadline = time.monotonic() + 10
        while True:  # localstripe posts each event about a second later, to every webhook it knows
            body, headers = received.get(timeout=max(deadline - time.monotonic(), 0.1))
            event = provider.parse_webhook(body, headers)
            if event.payment_id == paid.payment_id:
                break
        assert (event.kind, event.amount_cents, event.currency, event.customer_id) == (
            WebhookKind.PAYMENT_SUCCEEDED, 4_200, "EUR", customer_id)
    finally:
        # localstripe cannot forget a webhook: point this one at events that never come.
        localstripe_server.register_webhook(localstripe, "http://127.0.0.1:9/", WEBHOOK_SECRET,
                                            webhook_id="adapter-test", events=["tally.never"])
        inbox.shutdown()
        inbox.server_close()


def test_a_payment_needing_3d_secure_is_completed_on_the_page_it_names(provider, localstripe):
    customer_id, method_id = _customer_with_card(provider, localstripe, "4000002760003184")
    waiting = provider.charge(ChargeRequest(amount_cents=900, currency="EUR", customer_id=customer_id,
                                            method_id=method_id, idempotency_key=key("charge"), off_session=False,
                                            return_url="https://tally.test/pay/back"))
    assert waiting.status is PaymentStatus.REQUIRES_ACTION and waiting.next_action_url

    with urllib.request.urlopen(waiting.next_action_url) as page:
        assert b"Complete authentication" in page.read()
    secret = urllib.parse.parse_qs(urllib.parse.urlsplit(waiting.next_action_url).query)["client_secret"][0]
    form = urllib.parse.urlencode({"client_secret": secret, "success": "true"}).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as redirected:
        urllib.request.build_opener(NoRedirect).open(urllib.request.Request(waiting.next_action_url, data=form))
    assert redirected.value.code == 303
    assert redirected.value.headers["Location"].startswith("https://tally.test/pay/back?payment_intent=")
    intent = localstripe_server.get(localstripe, f"/v1/payment_intents/{waiting.payment_id}")
    assert intent["status"] == "succeeded"
