"""The Stripe adapter: the payment provider port spoken with the official SDK, one client per organization."""

# Each organization connects its own Stripe account, so each adapter holds its own `StripeClient` (its key,
# its API base) and nothing here touches the SDK's process-wide `stripe.api_key`: several organizations'
# adapters live in one process. Idempotency is Stripe's: every write sends the request's key as the
# `Idempotency-Key` header, and a retried call gets Stripe's first answer again (a reused key with other
# parameters is refused by Stripe). Declines are answers (ChargeResult FAILED), not exceptions.
#
# The module imports only the standard library, `stripe` and billing.payments.interface (.importlinter).

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import stripe

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

SIGNATURE_HEADER = "Stripe-Signature"
SIGNATURE_TOLERANCE = 300  # seconds, Stripe's default: an older signed event is a replay
REFERENCE_KEY = "tally_customer_id"  # the customer's metadata key that leads back to Tally's customer
METHOD_TYPES = ("card", "sepa_debit")  # the saved methods Tally lists (Lago's `provider_payment_methods`)
TIMEOUT = 30  # seconds for one request; a job retries a retryable failure with the same key

# NOTE: Lago's mapping of a PaymentIntent's status (lago-api, Invoices::Payments::StripeService):
# processing, requires_confirmation and requires_capture are still under way; requires_payment_method
# means the attempt failed (the intent waits for another method).
PAYMENT_STATUSES = {
    "processing": PaymentStatus.PROCESSING,
    "requires_confirmation": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.PROCESSING,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.FAILED,
    "requires_payment_method": PaymentStatus.FAILED,
}

REFUND_STATUSES = {
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
}

EVENT_KINDS = {
    "payment_intent.succeeded": WebhookKind.PAYMENT_SUCCEEDED,
    "payment_intent.payment_failed": WebhookKind.PAYMENT_FAILED,
    "payment_intent.canceled": WebhookKind.PAYMENT_FAILED,
    "payment_intent.processing": WebhookKind.PAYMENT_PROCESSING,
    "payment_intent.requires_action": WebhookKind.PAYMENT_REQUIRES_ACTION,
    "charge.refunded": WebhookKind.REFUND_SUCCEEDED,
    "refund.failed": WebhookKind.REFUND_FAILED,
    "setup_intent.succeeded": WebhookKind.SETUP_SUCCEEDED,
    "setup_intent.setup_failed": WebhookKind.SETUP_FAILED,
    "payment_method.attached": WebhookKind.PAYMENT_METHOD_ATTACHED,
    "payment_method.detached": WebhookKind.PAYMENT_METHOD_DETACHED,
}
# A refund's own events say what happened to it by its status, not by their type.
REFUND_EVENTS = {"refund.created", "refund.updated", "charge.refund.updated"}

def _payment_status(status: str | None) -> PaymentStatus:
    return PAYMENT_STATUSES.get(status or "", PaymentStatus.PENDING)


def _next_action_url(next_action: Mapping[str, Any] | None) -> str | None:
    # redirect_to_url when a return_url was given; otherwise Stripe.js's use_stripe_sdk, whose 3-D Secure
    # redirect carries the page in `stripe_js` (3-D Secure 2 has none: the pay page calls handleNextAction).
    if not next_action:
        return None
    redirect = next_action.get("redirect_to_url") or {}
    sdk = next_action.get("use_stripe_sdk") or {}
    return redirect.get("url") or (sdk.get("stripe_js") if isinstance(sdk, Mapping) else None) or None


def _tally_refund(refund: Mapping[str, Any]) -> str | None:
    """The refund id Tally put in the refund's metadata (RefundRequest.metadata), as Stripe echoes it."""
    return (refund.get("metadata") or {}).get("tally_refund_id") or None


def _id(value: Any) -> str | None:
    """Return the id of a field that is an id, or an expanded object, or nothing."""
    if isinstance(value, Mapping):
        return value.get("id")
    return value or None


def _upper(currency: str | None) -> str | None:
    return currency.upper() if currency else None


class StripeProvider:
    """The PaymentProvider of one Stripe account, through its own StripeClient."""

    kind = "stripe"

    def __init__(self, *, secret_key: str, webhook_secret: str | None = None, api_base: str | None = None,
                 max_network_retries: int = 1, timeout: float = TIMEOUT):
        if not secret_key:
            raise ValueError("a Stripe secret key is required")
        self._secret_key = secret_key
        self._webhook_secret = webhook_secret or None
        base_addresses = {"api": api_base.rstrip("/")} if api_base else {}
        # The SDK's own retries reuse the request's idempotency key, so they never act twice.
        self._client = stripe.StripeClient(secret_key, base_addresses=base_addresses,
                                           max_network_retries=max_network_retries,
                                           http_client=stripe.RequestsClient(timeout=timeout))
        self._api_base = api_base
        self._unlisted_types: set[str] = set()  # method types this account (or test server) cannot list

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> StripeProvider:
        """Build the adapter from a provider's stored settings (the registry's factory)."""
        # `publishable_key` may be there too: it is for the browser (Stripe.js), not for the adapter.
        return cls(secret_key=settings.get("secret_key", ""), webhook_secret=settings.get("webhook_secret"),
                   api_base=settings.get("api_base"))

    def __repr__(self) -> str:  # the key stays out of logs
        return f"StripeProvider(api_base={self._api_base!r})"

    # -- the PaymentProvider protocol ---------------------------------------------------------------

    def create_customer(self, request: CustomerRequest) -> ProviderCustomer:
        """Create the Stripe customer for a Tally customer, once per idempotency key."""
        customer = self._call(lambda: self._client.v1.customers.create(
            params=self._customer_params(request), options={"idempotency_key": request.idempotency_key}))
        return self._customer(customer, request.reference)

    def update_customer(self, customer_id: str, request: CustomerRequest) -> ProviderCustomer:
        """Update the Stripe customer with the Tally customer's current details."""
        customer = self._call(lambda: self._client.v1.customers.update(
            customer_id, params=self._customer_params(request),
            options={"idempotency_key": request.idempotency_key}))
        return self._customer(customer, request.reference)

    def start_setup(self, request: SetupRequest) -> SetupSession:
        """Start a SetupIntent: Tally's page confirms it with Stripe.js and the client secret."""
        # No Checkout Session (localstripe has none): the embedded form is the one flow for every server.
        intent = self._call(lambda: self._client.v1.setup_intents.create(
            params={"customer": request.customer_id, "payment_method_types": list(request.method_types),
                    "usage": "off_session"},
            options={"idempotency_key": request.idempotency_key}))
        return SetupSession(id=intent["id"], customer_id=_id(intent.get("customer")) or request.customer_id,
                            client_secret=intent.get("client_secret"))

    def list_payment_methods(self, customer_id: str) -> Sequence[PaymentMethod]:
        """List the customer's saved cards and SEPA debits, oldest first."""
        found: list[Mapping[str, Any]] = []
        for method_type in METHOD_TYPES:
            if method_type in self._unlisted_types:
                continue
            try:
                page = self._client.v1.payment_methods.list(
                    params={"customer": customer_id, "type": method_type, "limit": 100})
            except stripe.InvalidRequestError as error:
                # A server that cannot list this type (localstripe lists cards only) answers 400: the
                # customer has none of it there. Cards are always listable, so their refusal is raised.
                if method_type == "card" or error.http_status != 400:
                    raise self._error(error) from None
                self._unlisted_types.add(method_type)
                continue
            except stripe.StripeError as error:
                raise self._error(error) from None
            try:
                found.extend(method.to_dict() for method in page.auto_paging_iter())
            except stripe.StripeError as error:
                raise self._error(error) from None
        # Stripe lists newest first; `created` is in seconds, and the sort is stable for equal ones.
        found.sort(key=lambda method: method.get("created") or 0)
        return [self._method(method) for method in found]

    def attach_payment_method(self, customer_id: str, method_id: str) -> PaymentMethod:
        """Save a method for the customer; one Stripe declines at set-up raises ProviderError."""
        method = self._call(lambda: self._client.v1.payment_methods.attach(
            method_id, params={"customer": customer_id}))
        return self._method(method)

    def detach_payment_method(self, customer_id: str, method_id: str) -> None:
        """Remove a saved method, only from the customer it belongs to."""
        method = self._call(lambda: self._client.v1.payment_methods.retrieve(method_id))
        if _id(method.get("customer")) != customer_id:
            raise ProviderError(f"no payment method {method_id} for customer {customer_id}",
                                code="resource_missing")
        self._call(lambda: self._client.v1.payment_methods.detach(method_id))

    def charge(self, request: ChargeRequest) -> ChargeResult:
        """Create and confirm a PaymentIntent, once per idempotency key; a decline is a FAILED result."""
        params: dict[str, Any] = {
            "amount": request.amount_cents,
            "currency": request.currency.lower(),
            "customer": request.customer_id,
            "payment_method": request.method_id,
            "confirm": True,
            "off_session": request.off_session,
            "metadata": dict(request.metadata),
        }
        if request.return_url:
            params["return_url"] = request.return_url  # where 3-D Secure sends an on-session customer back
        try:
            intent = self._client.v1.payment_intents.create(
                params=params, options={"idempotency_key": request.idempotency_key})
        except stripe.CardError as error:
            return self._declined(request, error)
        except stripe.StripeError as error:
            raise self._error(error) from None
        return self._charge_result(intent.to_dict())

    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund part or all of a PaymentIntent, once per idempotency key."""
        refund = self._call(lambda: self._client.v1.refunds.create(
            params={"payment_intent": request.payment_id, "amount": request.amount_cents,
                    "metadata": dict(request.metadata)},
            options={"idempotency_key": request.idempotency_key}))
        return RefundResult(refund_id=refund["id"], payment_id=_id(refund.get("payment_intent")) or request.payment_id,
                            status=REFUND_STATUSES.get(refund.get("status") or "", RefundStatus.PENDING),
                            amount_cents=refund["amount"], currency=_upper(refund.get("currency")) or request.currency,
                            error_code=refund.get("failure_reason"))

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify the Stripe-Signature header (300 s tolerance) and read the event."""
        if not self._webhook_secret:
            raise SignatureInvalid("no webhook secret is configured for this Stripe account")
        signature = {name.lower(): value for name, value in headers.items()}.get(SIGNATURE_HEADER.lower())
        if not signature:
            raise SignatureInvalid(f"no {SIGNATURE_HEADER} header")
        try:
            text = payload.decode("utf-8")
            stripe.WebhookSignature.verify_header(text, signature, self._webhook_secret,
                                                  tolerance=SIGNATURE_TOLERANCE)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as error:
            raise SignatureInvalid(f"Stripe signature refused: {type(error).__name__}") from None
        try:
            return self._event(json.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise ProviderError(f"unreadable Stripe event: {error}", code="invalid_webhook") from None

    # -- inside --------------------------------------------------------------------------------------

    def _call(self, act: Callable[[], Any]) -> dict[str, Any]:
        """Make one SDK call and return its answer as plain data (StripeObjects are not dicts)."""
        try:
            return act().to_dict()
        except stripe.StripeError as error:
            raise self._error(error) from None

    def _error(self, error: stripe.StripeError) -> ProviderError:
        """Translate an SDK error: transient ones retryable, the rest not; never with the secret key."""
        status = error.http_status
        if isinstance(error, stripe.APIConnectionError):
            code, retryable = "connection_error", True
        elif isinstance(error, stripe.RateLimitError):
            code, retryable = "rate_limit", True
        elif isinstance(error, stripe.AuthenticationError):
            code, retryable = "authentication_error", False
        elif isinstance(error, stripe.PermissionError):
            code, retryable = "permission_error", False
        elif isinstance(error, stripe.IdempotencyError):
            code, retryable = error.code or "idempotency_key_reused", False
        elif isinstance(error, stripe.CardError):
            code, retryable = error.code or "card_declined", False
        elif isinstance(error, stripe.InvalidRequestError):
            code, retryable = error.code or "invalid_request", False
        else:  # APIError: Stripe's 5xx, or a 409 conflict with a concurrent request using the same key
            code, retryable = error.code or "api_error", status is None or status >= 500 or status == 409
        message = error.user_message or type(error).__name__
        return ProviderError(self._redact(f"Stripe: {message}"), code=code, retryable=retryable)

    def _redact(self, text: str) -> str:
        return text.replace(self._secret_key, "sk_***") if self._secret_key else text

    @staticmethod
    def _customer_params(request: CustomerRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"metadata": {**request.metadata, REFERENCE_KEY: request.reference}}
        if request.name is not None:
            params["name"] = request.name
        if request.email is not None:
            params["email"] = request.email
        return params

    @staticmethod
    def _customer(customer: Mapping[str, Any], reference: str) -> ProviderCustomer:
        metadata = customer.get("metadata") or {}
        return ProviderCustomer(id=customer["id"], reference=metadata.get(REFERENCE_KEY) or reference,
                                name=customer.get("name"), email=customer.get("email"))

    @staticmethod
    def _method(method: Mapping[str, Any]) -> PaymentMethod:
        method_type = method.get("type") or "card"
        details = method.get(method_type) or {}
        return PaymentMethod(id=method["id"], type=method_type, brand=details.get("brand"),
                             last4=details.get("last4"), exp_month=details.get("exp_month"),
                             exp_year=details.get("exp_year"))

    @staticmethod
    def _charge_result(intent: Mapping[str, Any]) -> ChargeResult:
        error = intent.get("last_payment_error") or {}
        return ChargeResult(payment_id=intent["id"], status=_payment_status(intent.get("status")),
                            amount_cents=intent["amount"], currency=intent["currency"].upper(),
                            provider_status=intent.get("status"), error_code=error.get("code"),
                            error_message=error.get("message"),
                            next_action_url=_next_action_url(intent.get("next_action")))

    def _declined(self, request: ChargeRequest, error: stripe.CardError) -> ChargeResult:
        """Read a CardError of a confirmed PaymentIntent as the failed payment it is."""
        body = error.json_body if isinstance(error.json_body, Mapping) else {}
        details = body.get("error") or {}
        intent = details.get("payment_intent")
        payment_id = _id(intent)
        if payment_id is None and details.get("charge"):
            # Stripe's error carries the PaymentIntent; a server that names only the charge (localstripe)
            # leads to it through the charge.
            charge = self._call(lambda: self._client.v1.charges.retrieve(details["charge"]))
            payment_id = _id(charge.get("payment_intent"))
        if payment_id is None:
            raise self._error(error)
        provider_status = intent.get("status") if isinstance(intent, Mapping) else None
        return ChargeResult(payment_id=payment_id, status=PaymentStatus.FAILED, amount_cents=request.amount_cents,
                            currency=request.currency, provider_status=provider_status or "requires_payment_method",
                            error_code=error.code or "card_declined",
                            error_message=self._redact(error.user_message or "The card was declined."))

    def _event(self, data: Mapping[str, Any]) -> WebhookEvent:
        provider_type = data["type"]
        obj = (data.get("data") or {}).get("object") or {}
        previous = (data.get("data") or {}).get("previous_attributes") or {}
        kind = EVENT_KINDS.get(provider_type, WebhookKind.OTHER)
        created = data.get("created")
        fields: dict[str, Any] = {
            "id": data["id"], "provider_type": provider_type,
            "occurred_at": datetime.fromtimestamp(int(created), UTC) if created else None,
        }
        object_type = obj.get("object")
        if object_type == "payment_intent":
            error = obj.get("last_payment_error") or {}
            fields.update(payment_id=obj.get("id"), customer_id=_id(obj.get("customer")),
                          method_id=_id(obj.get("payment_method")), amount_cents=obj.get("amount"),
                          currency=_upper(obj.get("currency")), error_code=error.get("code"),
                          error_message=error.get("message"), next_action_url=_next_action_url(obj.get("next_action")))
            if provider_type == "payment_intent.canceled" and not error:
                fields.update(error_code="canceled", error_message=obj.get("cancellation_reason"))
        elif object_type == "charge":
            # charge.refunded: the charge's newest refund when it carries its refunds (older API versions);
            # otherwise the refund.* events name the refund.
            refunds = ((obj.get("refunds") or {}).get("data")) or []
            refund = max(refunds, key=lambda item: item.get("created") or 0) if refunds else {}
            fields.update(payment_id=_id(obj.get("payment_intent")), customer_id=_id(obj.get("customer")),
                          refund_id=refund.get("id"), amount_cents=refund.get("amount"),
                          currency=_upper(obj.get("currency")), refund_reference=_tally_refund(refund))
        elif object_type == "refund":
            status = obj.get("status")
            if provider_type in REFUND_EVENTS or provider_type == "refund.failed":
                kind = {"succeeded": WebhookKind.REFUND_SUCCEEDED, "failed": WebhookKind.REFUND_FAILED,
                        "canceled": WebhookKind.REFUND_FAILED}.get(status or "", WebhookKind.OTHER)
            fields.update(refund_id=obj.get("id"), payment_id=_id(obj.get("payment_intent")),
                          amount_cents=obj.get("amount"), currency=_upper(obj.get("currency")),
                          error_code=obj.get("failure_reason"), refund_reference=_tally_refund(obj))
        elif object_type == "setup_intent":
            error = obj.get("last_setup_error") or {}
            fields.update(setup_id=obj.get("id"), customer_id=_id(obj.get("customer")),
                          method_id=_id(obj.get("payment_method")), error_code=error.get("code"),
                          error_message=error.get("message"), next_action_url=_next_action_url(obj.get("next_action")))
        elif object_type == "payment_method":
            fields.update(method_id=obj.get("id"),
                          customer_id=_id(obj.get("customer")) or _id(previous.get("customer")))
        return WebhookEvent(kind=kind, **fields)
