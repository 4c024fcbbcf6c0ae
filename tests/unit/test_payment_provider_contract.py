"""The payment provider contract: one suite that every PaymentProvider implementation passes.

The fake, and Stripe against localstripe (tests/servers/stripe.py); an adapter joins by adding a harness to
`HARNESSES` (Adyen and GoCardless against their test servers), so that what the core relies on is checked
once for all. A harness is built from the test's `request`, to ask for the fixtures it needs (a server).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import pytest
import stripe

from billing.payments import fake
from billing.payments.adyen import AdyenProvider
from billing.payments.interface import (
    ChargeRequest,
    CustomerRequest,
    PaymentProvider,
    PaymentStatus,
    ProviderError,
    RefundRequest,
    RefundStatus,
    SetupRequest,
    SignatureInvalid,
    WebhookEvent,
)
from billing.payments.stripe import StripeProvider

_keys = itertools.count(1)


def key(name: str) -> str:
    """A fresh idempotency key: providers remember keys, and a harness may outlive one test."""
    return f"contract-{name}-{next(_keys)}"


@dataclass
class Harness:
    """One implementation under the contract, and what a browser and the provider would do around it."""

    provider: PaymentProvider
    cards: Mapping[str, str]  # ok, declined_at_setup, declined_at_charge, requires_action -> a test card
    tokenize: Callable[[str], str]  # a card number -> an unattached method id, as the provider's JS gives
    sent_event: Callable[[], tuple[bytes, dict[str, str]]]  # a webhook the provider really sent
    forged_event: Callable[[], tuple[bytes, dict[str, str]]]  # the same, signed with another secret
    currency: str = "EUR"
    # The same webhook without its signature: without the header where it travels in one (the default), without
    # the signature field where it travels in the body (Adyen).
    unsigned: Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]] = lambda body, _headers: (body, {})
    # What a refund's answer says at once: Adyen answers "received" and tells the outcome in a notification.
    refund_answer: RefundStatus = RefundStatus.SUCCEEDED


def fake_harness(request: pytest.FixtureRequest) -> Harness:
    provider = fake.FakeProvider(webhook_secret="whsec_contract")

    def sent() -> tuple[bytes, dict[str, str]]:
        return provider.signed(provider.events[-1])

    def forged() -> tuple[bytes, dict[str, str]]:
        return provider.signed(provider.events[-1], secret="whsec_someone_else")

    return Harness(provider=provider, tokenize=provider.tokenize_card, sent_event=sent, forged_event=forged,
                   cards={"ok": fake.CARD_OK, "declined_at_setup": fake.CARD_DECLINED_AT_SETUP,
                          "declined_at_charge": fake.CARD_DECLINED_AT_CHARGE,
                          "requires_action": fake.CARD_REQUIRES_ACTION})


def stripe_signed(payload: bytes, secret: str, at: float | None = None) -> dict[str, str]:
    """The headers Stripe posts a webhook with: `t=<time>,v1=<HMAC-SHA256 of "<time>.<body>">`."""
    timestamp = str(int(time.time() if at is None else at))
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={signature}", "Content-Type": "application/json; charset=utf-8"}


def stripe_harness(request: pytest.FixtureRequest) -> Harness:
    from tests.servers import stripe as localstripe

    base_url = request.getfixturevalue("localstripe")
    secret_key, webhook_secret = f"sk_test_contract_{next(_keys)}", "whsec_contract"
    provider = StripeProvider.from_settings({"secret_key": secret_key, "webhook_secret": webhook_secret,
                                             "api_base": base_url, "publishable_key": "pk_test_contract"})
    browser = stripe.StripeClient(secret_key, base_addresses={"api": base_url})
    started = int(time.time()) - 1

    def tokenize(number: str) -> str:
        # What Stripe.js does in the browser; localstripe takes a raw card number through the API.
        method = browser.v1.payment_methods.create(params={
            "type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
        return method.id

    def last_payment_event() -> bytes:
        # The event localstripe recorded (and posts to its webhooks) for this test's payment, serialized as
        # it posts it; localstripe lists oldest first.
        events: list[dict] = []
        params = {"type": "payment_intent.succeeded", "created[gte]": str(started), "limit": "100"}
        while True:
            page = localstripe.get(base_url, "/v1/events", params, key=secret_key)
            events += page["data"]
            if not page["has_more"]:
                break
            params["starting_after"] = page["data"][-1]["id"]
        return json.dumps(events[-1], indent=2, sort_keys=True).encode()

    def sent() -> tuple[bytes, dict[str, str]]:
        payload = last_payment_event()
        return payload, stripe_signed(payload, webhook_secret)

    def forged() -> tuple[bytes, dict[str, str]]:
        payload = last_payment_event()
        return payload, stripe_signed(payload, "whsec_someone_else")

    # localstripe's test cards (localstripe/resources.py): 4000000000000002 is refused when attached,
    # 4000000000000341 attaches and is declined at each charge, 4000002500003155 asks for 3-D Secure.
    return Harness(provider=provider, tokenize=tokenize, sent_event=sent, forged_event=forged,
                   cards={"ok": "4242424242424242", "declined_at_setup": "4000000000000002",
                          "declined_at_charge": "4000000000000341", "requires_action": "4000002500003155"})


def adyen_harness(request: pytest.FixtureRequest) -> Harness:
    from tests.fakes import adyen as fake_adyen

    base_url = request.getfixturevalue("adyen_server")
    # A merchant account per harness: stored cards are kept per (merchant account, shopperReference).
    merchant, hmac_key = f"TallyContract{next(_keys)}", "44782DEF547AAA06C910C43932B1EB0C" * 2
    fake_adyen.register_merchant(base_url, merchant, hmac_key)
    provider = AdyenProvider.from_settings({"api_key": fake_adyen.TEST_API_KEY, "merchant_account": merchant,
                                            "hmac_key": hmac_key, "api_base": base_url})
    holders = {"4988438843884305": fake_adyen.HOLDER_DECLINED, "5555341244441115": fake_adyen.HOLDER_NOT_ENOUGH_BALANCE}

    def tokenize(number: str) -> str:
        # What Adyen Web's card component gives the page (state.data.paymentMethod), with Adyen's raw test data.
        return json.dumps({"type": "scheme", "encryptedCardNumber": f"test_{number}", "encryptedExpiryMonth": "test_03",
                           "encryptedExpiryYear": "test_2030", "encryptedSecurityCode": "test_737",
                           "holderName": holders.get(number, "J. Smith"),
                           "checkoutAttemptId": f"attempt-{next(_keys)}"})  # Adyen Web's, one per entry

    def last_authorisation() -> bytes:
        sent = [n for n in fake_adyen.notifications(base_url, merchant) if n["eventCode"] == "AUTHORISATION"]
        return sent[-1]["body"].encode()

    def sent() -> tuple[bytes, dict[str, str]]:
        return last_authorisation(), {"Content-Type": "application/json"}

    def forged() -> tuple[bytes, dict[str, str]]:
        item = json.loads(last_authorisation())["notificationItems"][0]["NotificationRequestItem"]
        del item["additionalData"]["hmacSignature"]
        return fake_adyen.notification_body(item, "00" * 32), {"Content-Type": "application/json"}

    def unsigned(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        document = json.loads(body)
        del document["notificationItems"][0]["NotificationRequestItem"]["additionalData"]["hmacSignature"]
        return json.dumps(document).encode(), headers

    # The fake's test cards (tests/fakes/adyen.py): the holder name chooses the refusal, as on Adyen's test
    # platform; 4212 3456 7891 0006 asks for 3-D Secure at each charge.
    return Harness(provider=provider, tokenize=tokenize, sent_event=sent, forged_event=forged, unsigned=unsigned,
                   refund_answer=RefundStatus.PENDING,
                   cards={"ok": fake_adyen.CARD_OK, "declined_at_setup": "4988438843884305",
                          "declined_at_charge": "5555341244441115", "requires_action": fake_adyen.CARD_3DS})


HARNESSES = {"fake": fake_harness, "stripe": stripe_harness, "adyen": adyen_harness}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request) -> Harness:
    return HARNESSES[request.param](request)


def customer_of(harness: Harness) -> str:
    request = CustomerRequest(reference="tally-customer-1", idempotency_key=key("customer"), name="Acme",
                              email="billing@acme.test")
    return harness.provider.create_customer(request).id


def saved_card(harness: Harness, customer_id: str, card: str = "ok") -> str:
    return harness.provider.attach_payment_method(customer_id, harness.tokenize(harness.cards[card])).id


def charge_request(harness: Harness, customer_id: str, method_id: str, amount_cents: int = 12_345) -> ChargeRequest:
    return ChargeRequest(amount_cents=amount_cents, currency=harness.currency, customer_id=customer_id,
                         method_id=method_id, idempotency_key=key("charge"), metadata={"invoice_id": "inv-1"})


def test_a_customer_is_created_once_per_key_and_updated(harness):
    request = CustomerRequest(reference="tally-customer-1", idempotency_key=key("customer"), name="Acme")
    first = harness.provider.create_customer(request)
    assert harness.provider.create_customer(request) == first
    assert first.reference == "tally-customer-1"

    updated = harness.provider.update_customer(first.id, replace(request, name="Acme Ltd",
                                                                 idempotency_key=key("update")))
    assert (updated.id, updated.name) == (first.id, "Acme Ltd")


def test_a_setup_gives_a_page_or_a_client_secret(harness):
    customer_id = customer_of(harness)
    request = SetupRequest(customer_id=customer_id, return_url="https://tally.test/portal/back",
                           idempotency_key=key("setup"))
    session = harness.provider.start_setup(request)
    assert session.customer_id == customer_id
    assert session.redirect_url or session.client_secret
    assert harness.provider.start_setup(request) == session


def test_payment_methods_are_attached_listed_and_detached(harness):
    customer_id = customer_of(harness)
    assert list(harness.provider.list_payment_methods(customer_id)) == []

    first, second = saved_card(harness, customer_id), saved_card(harness, customer_id)
    methods = list(harness.provider.list_payment_methods(customer_id))
    assert [method.id for method in methods] == [first, second]
    assert methods[0].type == "card" and methods[0].last4 == harness.cards["ok"][-4:]
    assert methods[0].exp_month and methods[0].exp_year

    harness.provider.detach_payment_method(customer_id, first)
    assert [method.id for method in harness.provider.list_payment_methods(customer_id)] == [second]


def test_a_card_declined_at_setup_is_refused_for_good(harness):
    customer_id = customer_of(harness)
    with pytest.raises(ProviderError) as refused:
        saved_card(harness, customer_id, "declined_at_setup")
    assert refused.value.code == "card_declined" and not refused.value.retryable
    assert list(harness.provider.list_payment_methods(customer_id)) == []


def test_a_charge_succeeds_once_per_idempotency_key(harness):
    customer_id = customer_of(harness)
    request = charge_request(harness, customer_id, saved_card(harness, customer_id))

    first = harness.provider.charge(request)
    assert first.status is PaymentStatus.SUCCEEDED
    assert (first.amount_cents, first.currency) == (12_345, harness.currency)
    assert first.payment_id and first.error_code is None

    # A retried job, or one whose worker died before Tally wrote the answer, sends the same key.
    assert harness.provider.charge(request) == first


def test_an_idempotency_key_is_not_reused_for_another_charge(harness):
    customer_id = customer_of(harness)
    request = charge_request(harness, customer_id, saved_card(harness, customer_id))
    harness.provider.charge(request)
    with pytest.raises(ProviderError) as refused:
        harness.provider.charge(replace(request, amount_cents=request.amount_cents + 1))
    assert not refused.value.retryable


def test_a_declined_charge_is_an_answer_not_an_error(harness):
    customer_id = customer_of(harness)
    result = harness.provider.charge(charge_request(harness, customer_id,
                                                    saved_card(harness, customer_id, "declined_at_charge")))
    assert result.status is PaymentStatus.FAILED
    assert result.error_code == "card_declined" and result.payment_id


def test_a_charge_that_requires_action_says_where(harness):
    customer_id = customer_of(harness)
    result = harness.provider.charge(charge_request(harness, customer_id,
                                                    saved_card(harness, customer_id, "requires_action")))
    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.next_action_url


def test_a_payment_is_refunded_in_parts_never_beyond_what_was_paid(harness):
    customer_id = customer_of(harness)
    paid = harness.provider.charge(charge_request(harness, customer_id, saved_card(harness, customer_id), 1_000))

    request = RefundRequest(payment_id=paid.payment_id, amount_cents=600, currency=harness.currency,
                            idempotency_key=key("refund"))
    refund = harness.provider.refund(request)
    assert (refund.status, refund.amount_cents, refund.payment_id) == (harness.refund_answer, 600, paid.payment_id)
    assert harness.provider.refund(request) == refund  # the same key refunds once

    with pytest.raises(ProviderError) as refused:
        harness.provider.refund(replace(request, amount_cents=401, idempotency_key=key("refund")))
    assert not refused.value.retryable
    rest = harness.provider.refund(replace(request, amount_cents=400, idempotency_key=key("refund")))
    assert rest.status is harness.refund_answer


def test_a_declined_payment_cannot_be_refunded(harness):
    customer_id = customer_of(harness)
    failed = harness.provider.charge(charge_request(harness, customer_id,
                                                    saved_card(harness, customer_id, "declined_at_charge")))
    with pytest.raises(ProviderError):
        harness.provider.refund(RefundRequest(payment_id=failed.payment_id, amount_cents=1,
                                              currency=harness.currency, idempotency_key=key("refund")))


def test_a_signed_webhook_is_read(harness):
    customer_id = customer_of(harness)
    paid = harness.provider.charge(charge_request(harness, customer_id, saved_card(harness, customer_id)))
    body, headers = harness.sent_event()

    event = harness.provider.parse_webhook(body, headers)
    assert isinstance(event, WebhookEvent) and event.id  # the id Tally dedupes on
    assert event.payment_id == paid.payment_id
    assert (event.amount_cents, event.currency) == (paid.amount_cents, paid.currency)
    assert harness.provider.parse_webhook(body, headers) == event  # read twice, the same event


def test_a_forged_or_tampered_webhook_is_refused(harness):
    customer_id = customer_of(harness)
    harness.provider.charge(charge_request(harness, customer_id, saved_card(harness, customer_id)))
    body, headers = harness.sent_event()

    with pytest.raises(SignatureInvalid):
        harness.provider.parse_webhook(*harness.forged_event())
    with pytest.raises(SignatureInvalid):
        harness.provider.parse_webhook(body.replace(b"12345", b"99999"), headers)
    with pytest.raises(SignatureInvalid):
        harness.provider.parse_webhook(*harness.unsigned(body, headers))


@pytest.mark.parametrize("amount", [0, -1, 10.5, True])
def test_a_charge_is_asked_in_whole_minor_units(amount):
    with pytest.raises(ValueError):
        ChargeRequest(amount_cents=amount, currency="EUR", customer_id="c", method_id="m", idempotency_key="k")


def test_a_charge_without_an_idempotency_key_is_refused():
    with pytest.raises(ValueError):
        ChargeRequest(amount_cents=100, currency="EUR", customer_id="c", method_id="m", idempotency_key="")
    with pytest.raises(ValueError):
        RefundRequest(payment_id="p", amount_cents=100, currency="eur", idempotency_key="k")
