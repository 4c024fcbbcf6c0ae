"""The GoCardless adapter: the payment provider port spoken with the official SDK (gocardless-pro), per access token.

GoCardless collects by Direct Debit: a customer authorises a mandate once (SEPA Core for euros, Bacs for pounds),
then each invoice is a payment against that mandate, which settles days later through webhooks.

- Customer: `POST /customers` (the port's idempotency key as `Idempotency-Key`), `PUT /customers/{id}`.
- Set-up: GoCardless's hosted billing-request flow: `POST /billing_requests` with a `mandate_request` (its scheme
  when the customer's method types name one: sepa_debit -> sepa_core, bacs_debit -> bacs; else the payer's bank
  details decide on the page), then `POST /billing_request_flows` (`redirect_uri` = the port's return URL,
  `exit_uri`): the customer goes to its `authorisation_url` and comes back to `redirect_uri`.
- Methods: the customer's mandates that can still be charged (`GET /mandates?customer=`), each shown with its
  bank account (`GET /customer_bank_accounts?customer=`): type sepa_debit / bacs_debit (Lago's words), brand = the
  bank's name, last4 = the account number's ending (GoCardless gives the last 2 digits). Detach cancels it.
- Charges: `POST /payments` against the mandate with the port's `Idempotency-Key`. GoCardless answers a reused
  key with 409 `idempotent_creation_conflict`; the SDK then fetches the first payment, so a retry gets it back
  (and one asked for another amount is refused here). A new payment is `pending_submission`: PROCESSING.
- Refunds: `POST /refunds` with `total_amount_confirmation` (what the payment will have had refunded, this one
  included: GoCardless's guard against a refund sent twice) and the `Idempotency-Key`; PENDING until the refund
  events (`refund_settled`/`paid` succeeded; `failed`/`bounced`/`funds_returned` failed).
- Webhooks: one request carries several events; the body is verified with the endpoint's secret
  (`Webhook-Signature`: hex HMAC-SHA256 of the raw body, `gocardless_pro.webhooks.parse`). `parse_webhook_events`
  reads them all; `parse_webhook` reads a request holding one.

The module imports only the standard library, `gocardless_pro` and billing.payments.interface (.importlinter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import gocardless_pro
from gocardless_pro import errors as sdk_errors
from gocardless_pro import webhooks as sdk_webhooks

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

TIMEOUT = 30  # seconds for one request; a job retries a retryable failure with the same key
ENVIRONMENTS = ("sandbox", "live")

# NOTE: Lago's mapping of GoCardless's payment statuses (BILLING.md, Payments and dunning): a payment is only
# money in hand once paid out; until then it may still fail (a Direct Debit can bounce after `confirmed`).
PAYMENT_STATUSES = {
    "pending_customer_approval": PaymentStatus.PROCESSING,
    "pending_submission": PaymentStatus.PROCESSING,
    "submitted": PaymentStatus.PROCESSING,
    "confirmed": PaymentStatus.PROCESSING,
    "paid_out": PaymentStatus.SUCCEEDED,
    "cancelled": PaymentStatus.FAILED,
    "customer_approval_denied": PaymentStatus.FAILED,
    "failed": PaymentStatus.FAILED,
    "charged_back": PaymentStatus.FAILED,
}
# The payments events' actions (developer.gocardless.com/api-reference/#event-types-payment) -> the port's kinds.
PAYMENT_ACTIONS = {
    "created": WebhookKind.PAYMENT_PROCESSING,
    "customer_approval_granted": WebhookKind.PAYMENT_PROCESSING,
    "submitted": WebhookKind.PAYMENT_PROCESSING,
    "confirmed": WebhookKind.PAYMENT_PROCESSING,
    "resubmission_requested": WebhookKind.PAYMENT_PROCESSING,
    "paid_out": WebhookKind.PAYMENT_SUCCEEDED,
    "failed": WebhookKind.PAYMENT_FAILED,
    "cancelled": WebhookKind.PAYMENT_FAILED,
    "customer_approval_denied": WebhookKind.PAYMENT_FAILED,
    # The core moves a payment forward only: after paid_out, a chargeback is acknowledged, not applied.
    "charged_back": WebhookKind.PAYMENT_FAILED,
}
REFUND_ACTIONS = {
    "refund_settled": WebhookKind.REFUND_SUCCEEDED,
    "paid": WebhookKind.REFUND_SUCCEEDED,
    "failed": WebhookKind.REFUND_FAILED,
    "bounced": WebhookKind.REFUND_FAILED,
    "funds_returned": WebhookKind.REFUND_FAILED,
}
MANDATE_ACTIONS = {
    "active": WebhookKind.PAYMENT_METHOD_ATTACHED,
    "cancelled": WebhookKind.PAYMENT_METHOD_DETACHED,
    "failed": WebhookKind.PAYMENT_METHOD_DETACHED,
    "expired": WebhookKind.PAYMENT_METHOD_DETACHED,
}
# A mandate a payment can still be created against (GoCardless: payments.create, `mandate_is_inactive`).
CHARGEABLE_MANDATES = frozenset({"pending_customer_approval", "pending_submission", "submitted", "active"})
SCHEMES = {"sepa_debit": "sepa_core", "bacs_debit": "bacs"}  # Lago's method type -> GoCardless's scheme
METHOD_TYPES = {scheme: method_type for method_type, scheme in SCHEMES.items()}
SCHEME_CURRENCIES = {"sepa_core": "EUR", "bacs": "GBP"}
MAX_METADATA = 3  # GoCardless keeps up to 3 metadata keys (50 characters) with values of up to 500
BRAND_LENGTH = 32  # what Tally keeps of a bank's name


def _metadata(values: Mapping[str, str]) -> dict[str, str]:
    kept = {str(k)[:50]: str(v)[:500] for k, v in values.items() if v not in (None, "")}
    return dict(list(kept.items())[:MAX_METADATA])


def _names(name: str | None) -> dict[str, str]:
    # GoCardless wants a company name, or a given and family name: an organization's name goes as the company.
    return {"company_name": name[:100]} if name else {}


class GoCardlessProvider:
    """The PaymentProvider of one GoCardless account (its access token), through its own SDK client."""

    kind = "gocardless"

    def __init__(self, *, access_token: str, webhook_secret: str | None = None, environment: str = "sandbox",
                 api_base: str | None = None, timeout: int = TIMEOUT):
        if not access_token:
            raise ValueError("a GoCardless access token is required")
        if environment not in ENVIRONMENTS:
            raise ValueError(f"environment must be one of {ENVIRONMENTS}, not {environment!r}")
        self._access_token = access_token
        self._webhook_secret = webhook_secret or None
        self._environment = environment
        self._api_base = api_base.rstrip("/") if api_base else None
        # The SDK joins each path to the base as a browser would: the base must be an origin (STACK.md).
        self._client = gocardless_pro.Client(access_token=access_token, environment=environment,
                                             base_url=self._api_base, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> GoCardlessProvider:
        """Build the adapter from a provider's stored settings (the registry's factory)."""
        return cls(access_token=settings.get("access_token", ""), webhook_secret=settings.get("webhook_secret"),
                   environment=settings.get("environment") or "sandbox", api_base=settings.get("api_base"))

    def __repr__(self) -> str:  # the token stays out of logs
        return f"GoCardlessProvider(environment={self._environment!r}, api_base={self._api_base!r})"

    # -- the PaymentProvider protocol ---------------------------------------------------------------

    def create_customer(self, request: CustomerRequest) -> ProviderCustomer:
        """Create the GoCardless customer, once per idempotency key."""
        params = {**_names(request.name), "metadata": _metadata({"tally_customer_id": request.reference,
                                                                 **request.metadata})}
        if request.email:
            params["email"] = request.email
        customer = self._call(lambda: self._client.customers.create(
            params=params, headers={"Idempotency-Key": request.idempotency_key}))
        return self._customer(customer, request.reference)

    def update_customer(self, customer_id: str, request: CustomerRequest) -> ProviderCustomer:
        """Update the customer's name and email."""
        params: dict[str, Any] = {**_names(request.name)}
        if request.email:
            params["email"] = request.email
        customer = self._call(lambda: self._client.customers.update(customer_id, params=params))
        return self._customer(customer, request.reference)

    def start_setup(self, request: SetupRequest) -> SetupSession:
        """A billing request for a mandate and its hosted flow; the customer comes back to `return_url`."""
        schemes = {SCHEMES[t] for t in request.method_types if t in SCHEMES}
        if len(schemes) != 1:  # no single scheme asked for: the one of the customer's currency, if any
            schemes = {scheme for scheme, currency in SCHEME_CURRENCIES.items() if currency == request.currency}
        mandate_request: dict[str, Any] = {}
        if len(schemes) == 1:
            scheme = schemes.pop()
            mandate_request = {"scheme": scheme, "currency": SCHEME_CURRENCIES[scheme]}
        billing_request = self._call(lambda: self._client.billing_requests.create(
            params={"mandate_request": mandate_request, "links": {"customer": request.customer_id}},
            headers={"Idempotency-Key": request.idempotency_key}))
        flow = self._call(lambda: self._client.billing_request_flows.create(
            params={"redirect_uri": request.return_url, "exit_uri": request.return_url,
                    "links": {"billing_request": billing_request["id"]}},
            headers={"Idempotency-Key": f"{request.idempotency_key}-flow"}))
        linked = (billing_request.get("links") or {}).get("customer") or request.customer_id
        # A flow is GoCardless's page for one visit: the same set-up asked again gets the same billing request and
        # the same page, as long as the flow lives.
        return SetupSession(id=billing_request["id"], customer_id=linked, redirect_url=flow.get("authorisation_url"))

    def list_payment_methods(self, customer_id: str) -> Sequence[PaymentMethod]:
        """The customer's mandates that can be charged, oldest first, each with its bank account's details."""
        mandates = self._call(lambda: [m.attributes for m in self._client.mandates.all(
            params={"customer": customer_id})])
        accounts = self._call(lambda: {a.id: a.attributes for a in self._client.customer_bank_accounts.all(
            params={"customer": customer_id})})
        chargeable = [m for m in mandates if m.get("status") in CHARGEABLE_MANDATES]
        chargeable.sort(key=lambda m: (m.get("created_at") or "", m["id"]))
        return [self._method(m, accounts.get((m.get("links") or {}).get("customer_bank_account"))) for m in chargeable]

    def attach_payment_method(self, customer_id: str, method_id: str) -> PaymentMethod:
        """A mandate set up on GoCardless's page is the customer's already: find it, or say why it cannot be used."""
        mandate = self._call(lambda: self._client.mandates.get(method_id))
        if (mandate.get("links") or {}).get("customer") != customer_id:
            raise ProviderError(f"no mandate {method_id} for customer {customer_id}", code="resource_missing")
        if mandate.get("status") not in CHARGEABLE_MANDATES:
            raise ProviderError(f"GoCardless: the mandate is {mandate.get('status')}", code="mandate_is_inactive")
        found = next((m for m in self.list_payment_methods(customer_id) if m.id == method_id), None)
        if found is None:
            raise ProviderError(f"no mandate {method_id} for customer {customer_id}", code="resource_missing")
        return found

    def detach_payment_method(self, customer_id: str, method_id: str) -> None:
        """Cancel the customer's mandate (only theirs: it is read first)."""
        mandate = self._call(lambda: self._client.mandates.get(method_id))
        if (mandate.get("links") or {}).get("customer") != customer_id:
            raise ProviderError(f"no mandate {method_id} for customer {customer_id}", code="resource_missing")
        if mandate.get("status") in CHARGEABLE_MANDATES:
            self._call(lambda: self._client.mandates.cancel(method_id, params={}))

    def charge(self, request: ChargeRequest) -> ChargeResult:
        """A payment against the mandate, once per idempotency key: PROCESSING until GoCardless's events."""
        params = {"amount": request.amount_cents, "currency": request.currency,
                  "metadata": _metadata(request.metadata), "links": {"mandate": request.method_id}}
        invoice_id = request.metadata.get("tally_invoice_id")
        if invoice_id:
            params["description"] = f"Invoice {invoice_id}"[:100]
        payment = self._call(lambda: self._client.payments.create(
            params=params, headers={"Idempotency-Key": request.idempotency_key}))
        if ((payment.get("links") or {}).get("mandate"), payment.get("amount"), payment.get("currency")) != (
                request.method_id, request.amount_cents, request.currency):
            raise ProviderError("GoCardless: this idempotency key was used for another payment",
                                code="idempotency_key_reused")
        provider_status = payment.get("status")
        status = PAYMENT_STATUSES.get(provider_status or "", PaymentStatus.PENDING)
        failed = status is PaymentStatus.FAILED
        return ChargeResult(payment_id=payment["id"], status=status, amount_cents=payment["amount"],
                            currency=payment["currency"], provider_status=provider_status,
                            error_code=provider_status if failed else None,
                            error_message=f"GoCardless: the payment is {provider_status}" if failed else None)

    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund through GoCardless, once per idempotency key; PENDING until its refund events."""
        payment = self._call(lambda: self._client.payments.get(request.payment_id))
        already = int(payment.get("amount_refunded") or 0)
        params = {"amount": request.amount_cents, "total_amount_confirmation": already + request.amount_cents,
                  "metadata": _metadata(request.metadata), "links": {"payment": request.payment_id}}
        refund = self._call(lambda: self._client.refunds.create(
            params=params, headers={"Idempotency-Key": request.idempotency_key}))
        links = refund.get("links") or {}
        if (links.get("payment"), refund.get("amount"), refund.get("currency")) != (
                request.payment_id, request.amount_cents, request.currency):
            raise ProviderError("GoCardless: this idempotency key was used for another refund",
                                code="idempotency_key_reused")
        status = {"failed": RefundStatus.FAILED, "bounced": RefundStatus.FAILED,
                  "funds_returned": RefundStatus.FAILED, "paid": RefundStatus.SUCCEEDED}.get(
            refund.get("status") or "", RefundStatus.PENDING)
        return RefundResult(refund_id=refund["id"], payment_id=links.get("payment") or request.payment_id,
                            status=status, amount_cents=refund["amount"], currency=refund["currency"])

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify a webhook holding one event and read it (see parse_webhook_events for several)."""
        events = self.parse_webhook_events(payload, headers)
        if len(events) != 1:
            raise ProviderError(f"this GoCardless webhook holds {len(events)} events: read them all",
                                code="several_events")
        return events[0]

    def parse_webhook_events(self, payload: bytes, headers: Mapping[str, str]) -> Sequence[WebhookEvent]:
        """Verify the webhook's signature with the endpoint's secret and read every event it carries."""
        if not self._webhook_secret:
            raise SignatureInvalid("no webhook secret is configured for this GoCardless account")
        signature = next((value for name, value in headers.items() if name.lower() == "webhook-signature"), None)
        if not signature or not isinstance(signature, str):
            raise SignatureInvalid("no Webhook-Signature header")
        try:
            events = sdk_webhooks.parse(payload, self._webhook_secret, signature.strip())
        except (sdk_errors.InvalidSignatureError, TypeError):  # TypeError: a signature that is not ASCII
            raise SignatureInvalid("GoCardless webhook signature refused") from None
        except (ValueError, KeyError, UnicodeDecodeError):
            raise ProviderError("signed, but not GoCardless's events", code="invalid_webhook") from None
        try:
            return tuple(self._event(event.attributes) for event in events)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise ProviderError(f"unreadable GoCardless event: {error}", code="invalid_webhook") from None

    # -- inside --------------------------------------------------------------------------------------

    def _call(self, act: Callable[[], Any]) -> Any:
        """Make SDK calls and return their answer as plain data (a resource's attributes)."""
        try:
            result = act()
        except sdk_errors.ApiError as error:
            raise self._error(error) from None
        except sdk_errors.MalformedResponseError as error:
            server = error.status_code is None or error.status_code >= 500
            raise ProviderError(f"GoCardless answered {error.status_code}: not JSON",
                                code="api_error" if server else "invalid_response", retryable=server) from None
        except sdk_errors.GoCardlessProError as error:  # refused by the SDK before sending (a bad id, ...)
            raise ProviderError(f"GoCardless: {error}", code="invalid_request") from None
        except OSError as error:  # requests' connection errors and timeouts (after the SDK's own retries)
            raise ProviderError(f"GoCardless unreachable: {type(error).__name__}", code="connection_error",
                                retryable=True) from None
        return result.attributes if hasattr(result, "attributes") else result

    def _error(self, error: sdk_errors.ApiError) -> ProviderError:
        """Translate an API error: rate limits and GoCardless's own failures retryable, the rest not."""
        reasons = [e.get("reason") for e in (error.errors or []) if isinstance(e, dict) and e.get("reason")]
        if isinstance(error, sdk_errors.AuthenticationError):
            code, retryable = "authentication_error", False
        elif isinstance(error, sdk_errors.PermissionsError):
            code, retryable = "permission_error", False
        elif isinstance(error, sdk_errors.RateLimitError):
            code, retryable = "rate_limit", True
        elif isinstance(error, sdk_errors.GoCardlessInternalError):
            code, retryable = "api_error", True
        else:
            code, retryable = (reasons[0] if reasons else error.type) or "invalid_request", False
        text = f"GoCardless: {error}".replace(self._access_token, "***")
        return ProviderError(text, code=str(code), retryable=retryable)

    @staticmethod
    def _customer(customer: Mapping[str, Any], reference: str) -> ProviderCustomer:
        name = customer.get("company_name") or " ".join(
            part for part in (customer.get("given_name"), customer.get("family_name")) if part) or None
        return ProviderCustomer(id=customer["id"], reference=(customer.get("metadata") or {}).get(
            "tally_customer_id") or reference, name=name, email=customer.get("email"))

    @staticmethod
    def _method(mandate: Mapping[str, Any], account: Mapping[str, Any] | None) -> PaymentMethod:
        scheme = mandate.get("scheme") or ""
        account = account or {}
        return PaymentMethod(id=mandate["id"], type=METHOD_TYPES.get(scheme, scheme or "direct_debit"),
                             brand=(account.get("bank_name") or "")[:BRAND_LENGTH] or None,
                             last4=account.get("account_number_ending") or None)

    @staticmethod
    def _event(event: Mapping[str, Any]) -> WebhookEvent:
        resource, action = event["resource_type"], event["action"]
        links, details = event.get("links") or {}, event.get("details") or {}
        fields: dict[str, Any] = {"id": event["id"], "provider_type": f"{resource}.{action}",
                                  "occurred_at": _occurred(event.get("created_at"))}
        kind = WebhookKind.OTHER
        if resource == "payments":
            kind = PAYMENT_ACTIONS.get(action, WebhookKind.OTHER)
            fields["payment_id"] = links.get("payment")
        elif resource == "refunds":
            kind = REFUND_ACTIONS.get(action, WebhookKind.OTHER)
            fields.update(refund_id=links.get("refund"), payment_id=links.get("payment"))
        elif resource == "mandates":
            kind = MANDATE_ACTIONS.get(action, WebhookKind.OTHER)
            fields.update(method_id=links.get("mandate"), customer_id=links.get("customer"))
        elif resource == "billing_requests" and action in ("fulfilled", "cancelled", "failed"):
            kind = WebhookKind.SETUP_SUCCEEDED if action == "fulfilled" else WebhookKind.SETUP_FAILED
            fields.update(setup_id=links.get("billing_request"), customer_id=links.get("customer"),
                          method_id=links.get("mandate_request_mandate"))
        if kind in (WebhookKind.PAYMENT_FAILED, WebhookKind.REFUND_FAILED, WebhookKind.SETUP_FAILED):
            fields.update(error_code=details.get("cause") or action, error_message=details.get("description"))
        return WebhookEvent(kind=kind, **fields)


def _occurred(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None
