"""A payment provider held in memory, for development (the embedded mode) and the shared contract test."""

# Deterministic: ids count up per instance (cus_fake_1, pm_fake_1, …) and time comes from the `now` it is
# given. The test cards are Stripe's numbers, so that a developer types the ones they already know; the
# browser step (Stripe.js turning a card number into a method id) is `tokenize_card`, and the hosted
# set-up page is `complete_setup`. Webhooks are signed as Stripe signs them: HMAC-SHA256 of
# "<timestamp>.<body>" with the webhook secret, in one header.

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from billing.payments.interface import (
    ChargeRequest,
    ChargeResult,
    CustomerRequest,
    PaymentMethod,
    PaymentStatus,
    ProviderCustomer,
    ProviderError,
    RefundRequest,
    RefundResult,
    RefundStatus,
    SetupRequest,
    SetupSession,
    SignatureInvalid,
    WebhookEvent,
    WebhookKind,
)

CARD_OK = "4242424242424242"
CARD_DECLINED_AT_SETUP = "4000000000000002"  # refused when saved: card_declined
CARD_DECLINED_AT_CHARGE = "4000000000000341"  # saved, then card_declined at every charge
CARD_INSUFFICIENT_FUNDS = "4000000000009995"  # saved, then insufficient_funds at every charge
CARD_REQUIRES_ACTION = "4000002760003184"  # saved; a charge waits for the customer to authenticate
CARD_FLAKY = "4000000000000119"  # saved; each charge's first attempt fails as a lost connection would

SIGNATURE_HEADER = "Fake-Signature"
DEFAULT_WEBHOOK_SECRET = "whsec_fake"  # noqa: S105 (a development default, not a credential)
SIGNATURE_TOLERANCE = 300  # seconds a signed webhook stays acceptable, as Stripe's default

_BRANDS = {"4": "visa", "5": "mastercard", "3": "amex"}


def _kind(value: str) -> WebhookKind:
    try:
        return WebhookKind(value)
    except ValueError:
        return WebhookKind.OTHER


@dataclass
class _Card:
    method: PaymentMethod
    number: str
    customer_id: str | None = None


@dataclass
class _Payment:
    result: ChargeResult
    refunded_cents: int = 0


class FakeProvider:
    """A deterministic in-memory PaymentProvider with test cards and signed webhooks."""

    kind = "fake"

    def __init__(self, *, webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
                 base_url: str = "https://fake-provider.invalid", now: Callable[[], float] = time.time):
        self.webhook_secret = webhook_secret
        self.base_url = base_url.rstrip("/")
        self._now = now
        # Re-entrant: the embedded mode runs jobs in threads, and an operation may record an event.
        self._lock = threading.RLock()
        self._ids = {prefix: itertools.count(1) for prefix in ("cus", "pm", "seti", "pi", "re", "evt")}
        self._customers: dict[str, ProviderCustomer] = {}
        self._cards: dict[str, _Card] = {}
        self._setups: dict[str, SetupSession] = {}
        self._payments: dict[str, _Payment] = {}
        self._answers: dict[str, tuple[str, object, Any]] = {}  # idempotency key -> (operation, request, answer)
        self._flaked: set[str] = set()
        self.events: list[WebhookEvent] = []  # what the provider would have sent, oldest first

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> FakeProvider:
        """Build the fake from a provider's stored settings (the registry's factory)."""
        return cls(webhook_secret=settings.get("webhook_secret", DEFAULT_WEBHOOK_SECRET),
                   base_url=settings.get("api_base", "https://fake-provider.invalid"))

    # -- the PaymentProvider protocol ---------------------------------------------------------------

    def create_customer(self, request: CustomerRequest) -> ProviderCustomer:
        """Create the provider's customer for a Tally customer."""
        def act() -> ProviderCustomer:
            customer = ProviderCustomer(id=self._id("cus"), reference=request.reference, name=request.name,
                                        email=request.email)
            self._customers[customer.id] = customer
            return customer
        return self._once("create_customer", request.idempotency_key, request, act)

    def update_customer(self, customer_id: str, request: CustomerRequest) -> ProviderCustomer:
        """Update the provider's customer with the Tally customer's current details."""
        def act() -> ProviderCustomer:
            customer = replace(self._customer(customer_id), reference=request.reference, name=request.name,
                               email=request.email)
            self._customers[customer_id] = customer
            return customer
        return self._once("update_customer", request.idempotency_key, (customer_id, request), act)

    def start_setup(self, request: SetupRequest) -> SetupSession:
        """Start saving a payment method: a hosted page and a client secret, so either flow can be tried."""
        def act() -> SetupSession:
            self._customer(request.customer_id)
            setup_id = self._id("seti")
            session = SetupSession(id=setup_id, customer_id=request.customer_id,
                                   redirect_url=f"{self.base_url}/setup/{setup_id}",
                                   client_secret=f"{setup_id}_secret")
            self._setups[setup_id] = session
            return session
        return self._once("start_setup", request.idempotency_key, request, act)

    def list_payment_methods(self, customer_id: str) -> Sequence[PaymentMethod]:
        """List the customer's saved payment methods, oldest first."""
        with self._lock:
            self._customer(customer_id)
            return [card.method for card in self._cards.values() if card.customer_id == customer_id]

    def attach_payment_method(self, customer_id: str, method_id: str) -> PaymentMethod:
        """Save a tokenized card for the customer; CARD_DECLINED_AT_SETUP is refused."""
        with self._lock:
            self._customer(customer_id)
            card = self._card(method_id)
            if card.customer_id not in (None, customer_id):
                raise ProviderError(f"payment method {method_id} belongs to another customer",
                                    code="payment_method_unavailable")
            if card.number == CARD_DECLINED_AT_SETUP:
                self._record(WebhookKind.SETUP_FAILED, "setup_intent.setup_failed", customer_id=customer_id,
                             method_id=method_id, error_code="card_declined", error_message="Your card was declined.")
                raise ProviderError("Your card was declined.", code="card_declined")
            if card.customer_id is None:
                card.customer_id = customer_id
                self._record(WebhookKind.PAYMENT_METHOD_ATTACHED, "payment_method.attached",
                             customer_id=customer_id, method_id=method_id)
            return card.method

    def detach_payment_method(self, customer_id: str, method_id: str) -> None:
        """Remove a saved payment method from the customer."""
        with self._lock:
            card = self._card(method_id)
            if card.customer_id != customer_id:
                raise ProviderError(f"no payment method {method_id} for customer {customer_id}",
                                    code="resource_missing")
            card.customer_id = None
            self._record(WebhookKind.PAYMENT_METHOD_DETACHED, "payment_method.detached", customer_id=customer_id,
                         method_id=method_id)

    def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge a saved card, once per idempotency key, as its test number says."""
        with self._lock:
            card = self._card(request.method_id)
            if card.customer_id != request.customer_id:
                raise ProviderError(f"no payment method {request.method_id} for customer {request.customer_id}",
                                    code="resource_missing")
            if card.number == CARD_FLAKY and request.idempotency_key not in self._flaked:
                # Not remembered under the key (no answer was given), so the retry goes through.
                self._flaked.add(request.idempotency_key)
                raise ProviderError("connection to the provider lost", code="connection_error", retryable=True)
            return self._once("charge", request.idempotency_key, request, lambda: self._charge(request, card))

    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund part or all of a succeeded payment, once per idempotency key."""
        def act() -> RefundResult:
            payment = self._payments.get(request.payment_id)
            if payment is None:
                raise ProviderError(f"no payment {request.payment_id}", code="resource_missing")
            paid = payment.result
            if paid.status is not PaymentStatus.SUCCEEDED or paid.currency != request.currency:
                raise ProviderError(f"payment {paid.payment_id} cannot be refunded", code="charge_not_refundable")
            if request.amount_cents > paid.amount_cents - payment.refunded_cents:
                raise ProviderError("refund exceeds what is left of the payment", code="amount_too_large")
            payment.refunded_cents += request.amount_cents
            refund = RefundResult(refund_id=self._id("re"), payment_id=paid.payment_id,
                                  status=RefundStatus.SUCCEEDED, amount_cents=request.amount_cents,
                                  currency=request.currency)
            self._record(WebhookKind.REFUND_SUCCEEDED, "charge.refunded", payment_id=paid.payment_id,
                         refund_id=refund.refund_id, amount_cents=refund.amount_cents, currency=refund.currency)
            return refund
        return self._once("refund", request.idempotency_key, request, act)

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify the Fake-Signature header and read the event; raise SignatureInvalid when it fails."""
        signature = {name.lower(): value for name, value in headers.items()}.get(SIGNATURE_HEADER.lower())
        if not signature:
            raise SignatureInvalid(f"no {SIGNATURE_HEADER} header")
        parts = dict(part.split("=", 1) for part in signature.split(",") if "=" in part)
        timestamp, given = parts.get("t", ""), parts.get("v1", "")
        if not timestamp.isdigit() or not hmac.compare_digest(given, self._sign(timestamp, payload)):
            raise SignatureInvalid("signature does not match")
        if abs(self._now() - int(timestamp)) > SIGNATURE_TOLERANCE:
            raise SignatureInvalid("signature is too old")  # a replay of an event captured earlier
        try:
            data = json.loads(payload)
            kind = data.pop("kind")
            occurred_at = data.pop("occurred_at")
            when = datetime.fromisoformat(occurred_at) if occurred_at else None
            return WebhookEvent(**data, kind=_kind(kind), occurred_at=when)
        except (ValueError, TypeError, KeyError) as exc:
            raise ProviderError(f"unreadable webhook: {exc}", code="invalid_webhook") from exc

    # -- what a browser or the provider's pages would do --------------------------------------------

    def tokenize_card(self, number: str, *, exp_month: int = 12, exp_year: int = 2034) -> str:
        """Turn a card number into an unattached payment method id, as Stripe.js does in the browser."""
        digits = number.replace(" ", "")
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            raise ProviderError("Your card number is incorrect.", code="incorrect_number")
        with self._lock:
            method = PaymentMethod(id=self._id("pm"), type="card", brand=_BRANDS.get(digits[0], "unknown"),
                                   last4=digits[-4:], exp_month=exp_month, exp_year=exp_year)
            self._cards[method.id] = _Card(method=method, number=digits)
            return method.id

    def complete_setup(self, setup_id: str, number: str, *, exp_month: int = 12, exp_year: int = 2034) -> PaymentMethod:
        """Finish a set-up with a card, as the customer would on the hosted page or the embedded form."""
        with self._lock:
            session = self._setups.get(setup_id)
            if session is None:
                raise ProviderError(f"no set-up {setup_id}", code="resource_missing")
            method = self.attach_payment_method(session.customer_id,
                                                self.tokenize_card(number, exp_month=exp_month, exp_year=exp_year))
            self._record(WebhookKind.SETUP_SUCCEEDED, "setup_intent.succeeded", customer_id=session.customer_id,
                         method_id=method.id, setup_id=setup_id)
            return method

    def authenticate(self, payment_id: str, *, succeed: bool = True) -> ChargeResult:
        """Finish a payment that requires action, as the customer would on the 3-D Secure page."""
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None or payment.result.status is not PaymentStatus.REQUIRES_ACTION:
                raise ProviderError(f"payment {payment_id} awaits no action", code="payment_intent_unexpected_state")
            if succeed:
                payment.result = replace(payment.result, status=PaymentStatus.SUCCEEDED, provider_status="succeeded",
                                         next_action_url=None)
            else:
                payment.result = replace(payment.result, status=PaymentStatus.FAILED,
                                         provider_status="requires_payment_method", next_action_url=None,
                                         error_code="authentication_failed",
                                         error_message="The customer did not authenticate the payment.")
            self._record_payment(payment.result)
            return payment.result

    def signed(self, event: WebhookEvent, *, secret: str | None = None,
               at: float | None = None) -> tuple[bytes, dict[str, str]]:
        """Serialize and sign an event as the provider would post it: (body, headers)."""
        data = asdict(event)
        data["kind"] = event.kind.value
        data["occurred_at"] = event.occurred_at.isoformat() if event.occurred_at else None
        payload = json.dumps(data, sort_keys=True).encode()
        timestamp = str(int(self._now() if at is None else at))
        signature = self._sign(timestamp, payload, secret)
        return payload, {SIGNATURE_HEADER: f"t={timestamp},v1={signature}", "Content-Type": "application/json"}

    def charges(self) -> list[ChargeResult]:
        """Every payment taken so far, in the order it was made (each one a real charge)."""
        with self._lock:
            return [payment.result for payment in self._payments.values()]

    # -- inside --------------------------------------------------------------------------------------

    def _charge(self, request: ChargeRequest, card: _Card) -> ChargeResult:
        payment_id = self._id("pi")
        status, provider_status, error_code, error_message, next_action_url = (
            PaymentStatus.SUCCEEDED, "succeeded", None, None, None)
        if card.number == CARD_DECLINED_AT_CHARGE:
            status, provider_status = PaymentStatus.FAILED, "requires_payment_method"
            error_code, error_message = "card_declined", "Your card was declined."
        elif card.number == CARD_INSUFFICIENT_FUNDS:
            status, provider_status = PaymentStatus.FAILED, "requires_payment_method"
            error_code, error_message = "insufficient_funds", "Your card has insufficient funds."
        elif card.number == CARD_REQUIRES_ACTION:
            status, provider_status = PaymentStatus.REQUIRES_ACTION, "requires_action"
            error_code, error_message = "authentication_required", "The customer must authenticate the payment."
            next_action_url = f"{self.base_url}/authenticate/{payment_id}"
        result = ChargeResult(payment_id=payment_id, status=status, amount_cents=request.amount_cents,
                              currency=request.currency, provider_status=provider_status, error_code=error_code,
                              error_message=error_message, next_action_url=next_action_url)
        self._payments[payment_id] = _Payment(result=result)
        self._record_payment(result, customer_id=request.customer_id, method_id=request.method_id)
        return result

    def _record_payment(self, result: ChargeResult, **ids: str | None) -> None:
        kind = {PaymentStatus.SUCCEEDED: WebhookKind.PAYMENT_SUCCEEDED,
                PaymentStatus.FAILED: WebhookKind.PAYMENT_FAILED,
                PaymentStatus.REQUIRES_ACTION: WebhookKind.PAYMENT_REQUIRES_ACTION}.get(
                    result.status, WebhookKind.PAYMENT_PROCESSING)
        provider_type = {WebhookKind.PAYMENT_SUCCEEDED: "payment_intent.succeeded",
                         WebhookKind.PAYMENT_FAILED: "payment_intent.payment_failed",
                         WebhookKind.PAYMENT_REQUIRES_ACTION: "payment_intent.requires_action"}.get(
                             kind, "payment_intent.processing")
        self._record(kind, provider_type, payment_id=result.payment_id, amount_cents=result.amount_cents,
                     currency=result.currency, error_code=result.error_code, error_message=result.error_message,
                     next_action_url=result.next_action_url, **ids)

    def _record(self, kind: WebhookKind, provider_type: str, **fields: Any) -> None:
        self.events.append(WebhookEvent(id=self._id("evt"), kind=kind, provider_type=provider_type,
                                        occurred_at=datetime.fromtimestamp(int(self._now()), UTC), **fields))

    def _once(self, operation: str, key: str, request: object, act: Callable[[], Any]) -> Any:
        # As Stripe does: the same key answers the first answer again; the same key with another
        # request is refused, since it means two different things were meant to happen.
        with self._lock:
            if key in self._answers:
                seen_operation, seen_request, answer = self._answers[key]
                if (seen_operation, seen_request) != (operation, request):
                    raise ProviderError(f"idempotency key {key!r} was used for another request",
                                        code="idempotency_key_reused")
                return answer
            answer = act()
            self._answers[key] = (operation, request, answer)
            return answer

    def _customer(self, customer_id: str) -> ProviderCustomer:
        customer = self._customers.get(customer_id)
        if customer is None:
            raise ProviderError(f"no customer {customer_id}", code="resource_missing")
        return customer

    def _card(self, method_id: str) -> _Card:
        card = self._cards.get(method_id)
        if card is None:
            raise ProviderError(f"no payment method {method_id}", code="resource_missing")
        return card

    def _id(self, prefix: str) -> str:
        return f"{prefix}_fake_{next(self._ids[prefix])}"

    def _sign(self, timestamp: str, payload: bytes, secret: str | None = None) -> str:
        key = (secret if secret is not None else self.webhook_secret).encode()
        return hmac.new(key, timestamp.encode() + b"." + payload, hashlib.sha256).hexdigest()
