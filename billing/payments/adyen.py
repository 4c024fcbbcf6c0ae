"""The Adyen adapter: the payment provider port spoken with the official SDK (Checkout API v72), per merchant account.

Adyen has no customer object: a shopper is the `shopperReference` sent with each payment, and the cards it
saves are stored under (merchant account, shopperReference). So the provider customer id *is* that reference
(Tally's customer id), `create_customer`/`update_customer` make no call, and everything else names it.

- Set-up: a payment link (`POST /paymentLinks`) for a zero amount that stores the card
  (`storePaymentMethodMode: enabled`, `recurringProcessingModel: UnscheduledCardOnFile`, the shopperReference);
  the customer pays it on Adyen's hosted page and comes back to `returnUrl`.
- Stored methods: Checkout's `GET /storedPaymentMethods?shopperReference=&merchantAccount=` (v70+, what
  the SDK 16 generates; the older Recurring API's listRecurringDetails is not used) and
  `DELETE /storedPaymentMethods/{id}` to forget one.
- `attach_payment_method` takes what Adyen Web's card component gives the page (`state.data.paymentMethod`, as
  JSON) and stores it with a zero-value authorisation (`/payments`, `storePaymentMethod`); a method id that is
  already stored (from the hosted page) is simply returned.
- Charges: `/payments` with the stored method, `shopperInteraction: ContAuth`,
  `recurringProcessingModel: UnscheduledCardOnFile`, the port's idempotency key as `Idempotency-Key`.
- Refunds: the modifications API (`/payments/{pspReference}/refunds`). Adyen answers `received`: the refund is
  PENDING until the REFUND notification says how it ended.
- Notifications: standard webhooks (`notificationItems`), each item's HMAC-SHA256 (in
  additionalData.hmacSignature) checked with the merchant's HMAC key. Adyen sends one item per request; a
  request with several is refused (the port reads one event per request).

Nothing here touches the SDK's module-level defaults: each adapter has its own client (its key, its base).
The module imports only the standard library, `Adyen` and billing.payments.interface (.importlinter).
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import Adyen

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

SDK_TEST_ORIGIN = "https://checkout-test.adyen.com"  # the SDK's own base, replaced by `api_base` when given
TIMEOUT = 30  # seconds for one request; a job retries a retryable failure with the same key
SETUP_CURRENCY = "EUR"  # a zero-value authorisation's currency when the customer has none yet
RECURRING_MODEL = "UnscheduledCardOnFile"  # Lago's: invoices charged when due, not on a fixed schedule

# NOTE: Lago's mapping of Adyen's resultCode (BILLING.md, Payments and dunning), with the port's
# requires_action for the results that wait for the shopper (3-D Secure, a redirect).
PAYMENT_STATUSES = {
    "Authorised": PaymentStatus.SUCCEEDED,
    "SentForSettle": PaymentStatus.SUCCEEDED,
    "Settled": PaymentStatus.SUCCEEDED,
    "AuthorisedPending": PaymentStatus.PROCESSING,
    "Received": PaymentStatus.PROCESSING,
    "Pending": PaymentStatus.PENDING,
    "PresentToShopper": PaymentStatus.REQUIRES_ACTION,
    "RedirectShopper": PaymentStatus.REQUIRES_ACTION,
    "ChallengeShopper": PaymentStatus.REQUIRES_ACTION,
    "IdentifyShopper": PaymentStatus.REQUIRES_ACTION,
    "Cancelled": PaymentStatus.FAILED,
    "Refused": PaymentStatus.FAILED,
    "Error": PaymentStatus.FAILED,
    "Expired": PaymentStatus.FAILED,
}

METHOD_TYPES = {"scheme": "card", "sepadirectdebit": "sepa_debit"}  # Adyen's type -> Lago's


def _payment_status(result_code: str | None) -> PaymentStatus:
    return PAYMENT_STATUSES.get(result_code or "", PaymentStatus.PENDING)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _brand(value: str | None) -> str | None:
    # Adyen's variants (visa, mc, amex, visadankort, ...): Tally shows the scheme's common name.
    return {"mc": "mastercard"}.get(value or "", value) or None


def _decline_code(result_code: str | None) -> str:
    # The port's words: a refused card is card_declined whatever the issuer's reason (kept as the message);
    # Error is Adyen's or the acquirer's fault.
    return "processing_error" if result_code == "Error" else "card_declined"


class AdyenProvider:
    """The PaymentProvider of one Adyen merchant account, through its own SDK client."""

    kind = "adyen"

    def __init__(self, *, api_key: str, merchant_account: str, hmac_key: str | None = None,
                 live_prefix: str | None = None, api_base: str | None = None, timeout: int = TIMEOUT):
        if not api_key or not merchant_account:
            raise ValueError("an Adyen API key and merchant account are required")
        self._api_key = api_key
        self._merchant = merchant_account
        self._hmac_key = hmac_key or None
        self._api_base = api_base.rstrip("/") if api_base else None
        # Live needs the account's prefix (Customer Area > Developers > API URLs); a test server is "test".
        live = bool(live_prefix) and not self._api_base
        adyen = Adyen.Adyen(xapikey=api_key, platform="live" if live else "test",
                            live_endpoint_prefix=live_prefix or None, http_timeout=timeout)
        checkout = adyen.checkout
        self._payments = checkout.payments_api
        self._links = checkout.payment_links_api
        self._modifications = checkout.modifications_api
        self._stored = checkout.recurring_api
        if self._api_base:
            for service in (self._payments, self._links, self._modifications, self._stored):
                service.baseUrl = service.baseUrl.replace(SDK_TEST_ORIGIN, self._api_base)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> AdyenProvider:
        """Build the adapter from a provider's stored settings (the registry's factory)."""
        # `client_key` may be there too: it is for the browser (Adyen Web), not for the adapter.
        return cls(api_key=settings.get("api_key", ""), merchant_account=settings.get("merchant_account", ""),
                   hmac_key=settings.get("hmac_key"), live_prefix=settings.get("live_prefix"),
                   api_base=settings.get("api_base"))

    def __repr__(self) -> str:  # the key stays out of logs
        return f"AdyenProvider(merchant_account={self._merchant!r}, api_base={self._api_base!r})"

    # -- the PaymentProvider protocol ---------------------------------------------------------------

    def create_customer(self, request: CustomerRequest) -> ProviderCustomer:
        """Adyen has no customer object: the shopper is its shopperReference, Tally's customer id."""
        return ProviderCustomer(id=request.reference, reference=request.reference, name=request.name,
                                email=request.email)

    def update_customer(self, customer_id: str, request: CustomerRequest) -> ProviderCustomer:
        """Nothing to update at Adyen: the shopper's details travel with each payment."""
        return ProviderCustomer(id=customer_id, reference=request.reference, name=request.name, email=request.email)

    def start_setup(self, request: SetupRequest) -> SetupSession:
        """A zero-amount payment link storing the card; the customer comes back to `return_url`."""
        body = {
            "merchantAccount": self._merchant,
            "reference": f"tally-setup-{request.idempotency_key}"[:80],
            "amount": {"value": 0, "currency": request.currency or SETUP_CURRENCY},
            "shopperReference": request.customer_id,
            "storePaymentMethodMode": "enabled",
            "recurringProcessingModel": RECURRING_MODEL,
            "returnUrl": request.return_url,
            "allowedPaymentMethods": ["scheme"],
        }
        link = self._call(lambda: self._links.payment_links(body, idempotency_key=request.idempotency_key))
        return SetupSession(id=link["id"], customer_id=link.get("shopperReference") or request.customer_id,
                            redirect_url=link.get("url"))

    def list_payment_methods(self, customer_id: str) -> Sequence[PaymentMethod]:
        """The shopper's stored methods, in the order Adyen lists them (oldest first)."""
        answer = self._call(lambda: self._stored.get_tokens_for_stored_payment_details(
            query_parameters=self._shopper_query(customer_id)))
        return [self._method(method) for method in answer.get("storedPaymentMethods") or ()]

    def attach_payment_method(self, customer_id: str, method_id: str) -> PaymentMethod:
        """Store a card entered in Adyen Web (its paymentMethod JSON) with a zero-value authorisation."""
        try:
            payment_method = json.loads(method_id)
        except ValueError:
            payment_method = None
        if not isinstance(payment_method, dict):
            # A stored method's id (the hosted page stored it): it is the shopper's, or it is not there.
            stored = next((m for m in self.list_payment_methods(customer_id) if m.id == method_id), None)
            if stored is None:
                raise ProviderError(f"no stored payment method {method_id} for shopper {customer_id}",
                                    code="resource_missing")
            return stored
        digest = hashlib.sha256(f"{customer_id}\n{method_id}".encode()).hexdigest()[:40]
        body = {
            "merchantAccount": self._merchant,
            "reference": f"tally-store-{digest}",
            "amount": {"value": 0, "currency": SETUP_CURRENCY},
            "paymentMethod": payment_method,
            "shopperReference": customer_id,
            "storePaymentMethod": True,
            "shopperInteraction": "Ecommerce",
            "recurringProcessingModel": RECURRING_MODEL,
        }
        answer = self._call(lambda: self._payments.payments(body, idempotency_key=f"tally-store-{digest}"))
        if answer.get("resultCode") != "Authorised":
            raise ProviderError(f"Adyen: {answer.get('refusalReason') or answer.get('resultCode')}",
                                code=_decline_code(answer.get("resultCode")))
        stored_id = self._stored_id(answer)
        found = next((m for m in self.list_payment_methods(customer_id) if m.id == stored_id), None)
        if found is None:
            raise ProviderError("Adyen authorised the card but stored no method", code="not_stored")
        return found

    def detach_payment_method(self, customer_id: str, method_id: str) -> None:
        """Disable a stored method (only the shopper's own: Adyen scopes it by shopperReference)."""
        self._call(lambda: self._stored.delete_token_for_stored_payment_details(
            quote(method_id, safe=""), query_parameters=self._shopper_query(customer_id)))

    def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge the stored card off-session (ContAuth), once per idempotency key; a refusal is FAILED."""
        body: dict[str, Any] = {
            "merchantAccount": self._merchant,
            "reference": request.idempotency_key[:80],
            "amount": {"value": request.amount_cents, "currency": request.currency},
            "paymentMethod": {"type": "scheme", "storedPaymentMethodId": request.method_id},
            "shopperReference": request.customer_id,
            "shopperInteraction": "ContAuth" if request.off_session else "Ecommerce",
            "recurringProcessingModel": RECURRING_MODEL,
            "metadata": {key: str(value)[:80] for key, value in list(request.metadata.items())[:20]},
        }
        if request.return_url:
            body["returnUrl"] = request.return_url
        answer = self._call(lambda: self._payments.payments(body, idempotency_key=request.idempotency_key))
        self._same_request(answer, request.amount_cents, request.currency)
        result_code = answer.get("resultCode")
        status = _payment_status(result_code)
        amount = answer.get("amount") or {}
        action = answer.get("action") or {}
        failed = status is PaymentStatus.FAILED
        return ChargeResult(
            payment_id=answer.get("pspReference") or "", status=status,
            amount_cents=_int(amount.get("value")) or request.amount_cents,
            currency=amount.get("currency") or request.currency, provider_status=result_code,
            error_code=_decline_code(result_code) if failed else None,
            error_message=(answer.get("refusalReason") or result_code) if failed else None,
            next_action_url=action.get("url") if status is PaymentStatus.REQUIRES_ACTION else None)

    def refund(self, request: RefundRequest) -> RefundResult:
        """Ask for a refund through the modifications API; PENDING until Adyen's REFUND notification."""
        body = {
            "merchantAccount": self._merchant,
            "amount": {"value": request.amount_cents, "currency": request.currency},
            "reference": request.idempotency_key[:80],
        }
        answer = self._call(lambda: self._modifications.refund_captured_payment(
            body, quote(request.payment_id, safe=""), idempotency_key=request.idempotency_key))
        self._same_request(answer, request.amount_cents, request.currency)
        amount = answer.get("amount") or {}
        return RefundResult(refund_id=answer["pspReference"],
                            payment_id=answer.get("paymentPspReference") or request.payment_id,
                            status=RefundStatus.PENDING, amount_cents=_int(amount.get("value")) or request.amount_cents,
                            currency=amount.get("currency") or request.currency)

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify the notification item's HMAC signature with the merchant's HMAC key and read it."""
        if not self._hmac_key:
            raise SignatureInvalid("no HMAC key is configured for this Adyen merchant account")
        try:
            items = json.loads(payload.decode("utf-8"))["notificationItems"]
            item = items[0]["NotificationRequestItem"]
        except (ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError):
            raise SignatureInvalid("not an Adyen notification") from None
        if not isinstance(item, dict) or not self._signed(item):
            raise SignatureInvalid("Adyen HMAC signature refused")
        if len(items) != 1:
            raise ProviderError("Adyen notifications carry one item each; this one has several",
                                code="invalid_webhook")
        try:
            return self._event(item)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise ProviderError(f"unreadable Adyen notification: {error}", code="invalid_webhook") from None

    # -- inside --------------------------------------------------------------------------------------

    def _shopper_query(self, customer_id: str) -> dict[str, str]:
        # The SDK joins query parameters without encoding them.
        return {"shopperReference": quote(customer_id, safe=""), "merchantAccount": quote(self._merchant, safe="")}

    def _call(self, act: Callable[[], Any]) -> dict[str, Any]:
        """Make one SDK call and return its answer as plain data."""
        try:
            result = act()
        except Adyen.AdyenError as error:
            raise self._error(error) from None
        except OSError as error:  # requests' and urllib's connection errors: the SDK lets them through
            raise ProviderError(f"Adyen unreachable: {type(error).__name__}", code="connection_error",
                                retryable=True) from None
        return result.message if isinstance(result.message, dict) else {}

    def _error(self, error: Adyen.AdyenError) -> ProviderError:
        """Translate an SDK error: Adyen's 5xx and 429 retryable, the rest not; never with the API key."""
        status = _int(error.status_code)
        body = error.message if isinstance(error.message, dict) else {}
        message = body.get("message") or type(error).__name__
        if status == 401:
            code, retryable = "authentication_error", False
        elif status == 403:
            code, retryable = "permission_error", False
        elif status == 429:
            code, retryable = "rate_limit", True
        elif status is not None and status >= 500:
            code, retryable = "api_error", True
        elif status is None:
            code, retryable = "connection_error", True
        elif status == 409:  # a request with the same Idempotency-Key still in progress (errorCode 704)
            code, retryable = body.get("errorCode") or "conflict", True
        else:
            code, retryable = body.get("errorCode") or "invalid_request", False
        text = f"Adyen: {message}"
        return ProviderError(text.replace(self._api_key, "***"), code=str(code), retryable=retryable)

    @staticmethod
    def _same_request(answer: Mapping[str, Any], amount_cents: int, currency: str) -> None:
        """Refuse an answer for another amount: Adyen answers a reused Idempotency-Key with its first answer."""
        amount = answer.get("amount") or {}
        if amount and (_int(amount.get("value")), amount.get("currency")) != (amount_cents, currency):
            raise ProviderError("Adyen: this idempotency key was used for another amount",
                                code="idempotency_key_reused")

    def _signed(self, item: dict[str, Any]) -> bool:
        signature = (item.get("additionalData") or {}).get("hmacSignature")
        if not signature or not isinstance(signature, str):
            return False
        try:
            # The SDK computes Adyen's HMAC-SHA256 over pspReference:originalReference:merchantAccountCode:
            # merchantReference:value:currency:eventCode:success and compares in constant time.
            return bool(Adyen.util.is_valid_hmac_notification(item, self._hmac_key))
        except (ValueError, TypeError, KeyError, binascii.Error):
            return False

    @staticmethod
    def _stored_id(answer: Mapping[str, Any]) -> str | None:
        extra = answer.get("additionalData") or {}
        method = answer.get("paymentMethod") or {}
        return (extra.get("tokenization.storedPaymentMethodId") or extra.get("recurring.recurringDetailReference")
                or method.get("storedPaymentMethodId"))

    @staticmethod
    def _method(method: Mapping[str, Any]) -> PaymentMethod:
        return PaymentMethod(id=method["id"], type=METHOD_TYPES.get(method.get("type") or "scheme", "card"),
                             brand=_brand(method.get("brand")), last4=method.get("lastFour"),
                             exp_month=_int(method.get("expiryMonth")), exp_year=_int(method.get("expiryYear")))

    def _event(self, item: Mapping[str, Any]) -> WebhookEvent:
        code = item["eventCode"]
        success = str(item.get("success")).lower() == "true"
        psp, original = item.get("pspReference"), item.get("originalReference") or None
        extra = item.get("additionalData") or {}
        amount = item.get("amount") or {}
        fields: dict[str, Any] = {
            # Adyen may send an item again (and sends a failed item's retry with the same values): the
            # three fields that make it one event.
            "id": f"{psp}:{code}:{'true' if success else 'false'}",
            "provider_type": code if success else f"{code}:failed",
            "occurred_at": _occurred(item.get("eventDate")),
            "customer_id": extra.get("shopperReference") or extra.get("recurring.shopperReference"),
            "amount_cents": _int(amount.get("value")), "currency": amount.get("currency"),
        }
        reason = item.get("reason") or None
        kind = WebhookKind.OTHER
        if code == "AUTHORISATION":
            if _int(amount.get("value")) == 0:  # a zero-value authorisation: a card being stored
                kind = WebhookKind.SETUP_SUCCEEDED if success else WebhookKind.SETUP_FAILED
                fields.update(setup_id=item.get("merchantReference"),
                              method_id=self._stored_id({"additionalData": extra}))
            else:
                kind = WebhookKind.PAYMENT_SUCCEEDED if success else WebhookKind.PAYMENT_FAILED
                fields.update(payment_id=psp)
            if not success:
                fields.update(error_code="card_declined", error_message=reason)
        elif code == "CANCELLATION" and success:
            kind = WebhookKind.PAYMENT_FAILED
            fields.update(payment_id=original or psp, error_code="canceled", error_message=reason or "Cancelled")
        elif code in ("REFUND", "REFUND_FAILED", "REFUNDED_REVERSED"):
            kind = WebhookKind.REFUND_SUCCEEDED if code == "REFUND" and success else WebhookKind.REFUND_FAILED
            fields.update(refund_id=psp, payment_id=original, refund_reference=item.get("merchantReference") or None)
            if kind is WebhookKind.REFUND_FAILED:
                fields.update(error_code="refund_failed", error_message=reason)
        elif code == "RECURRING_CONTRACT" and success:
            # Its pspReference is the stored method's id; originalReference the payment that stored it.
            kind = WebhookKind.PAYMENT_METHOD_ATTACHED
            fields.update(method_id=psp, payment_id=original)
        return WebhookEvent(kind=kind, **fields)


def _occurred(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
