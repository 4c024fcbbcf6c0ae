"""The payment provider port: the protocol every adapter implements and the neutral values it speaks."""

# Adapters (fake.py, stripe.py, adyen.py, gocardless.py) import this module and nothing
# else of billing/, so that a provider's SDK and its habits stay behind it (.importlinter holds both
# rules). This module imports only the standard library, for the same reason.
#
# Money crosses the port as an int of minor units with its ISO 4217 currency, never a float: the
# three providers all take minor units, so no rounding happens at the border.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


class PaymentStatus(StrEnum):
    """Where a charge stands, in the same words whatever the provider calls it."""

    # NOTE: Lago's normalized `payment_status` is pending / processing / succeeded / failed (lago-openapi,
    # src/schemas/PaymentObject.yaml); `requires_action` is kept apart so that the core can send Lago's
    # `payment.requires_action` webhook and show the customer where to finish; it reads as `processing`
    # in Lago's field.
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REQUIRES_ACTION = "requires_action"


class RefundStatus(StrEnum):
    """Where a refund stands (Lago's credit note `refund_status`)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookKind(StrEnum):
    """What an inbound provider event means to Tally."""

    PAYMENT_PROCESSING = "payment.processing"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_REQUIRES_ACTION = "payment.requires_action"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    SETUP_SUCCEEDED = "setup.succeeded"
    SETUP_FAILED = "setup.failed"
    PAYMENT_METHOD_ATTACHED = "payment_method.attached"
    PAYMENT_METHOD_DETACHED = "payment_method.detached"
    # Verified, but nothing Tally acts on: acknowledged and dropped (providers send many more types).
    OTHER = "other"


class ProviderError(Exception):
    """A provider refused or could not answer a request."""

    # `retryable` separates transient failures (connection lost, timeout, rate limit, the provider's 5xx),
    # which a job may try again with the same idempotency key, from permanent ones (declined card at
    # set-up, invalid request, bad credentials, a reused idempotency key), which it must not.
    def __init__(self, message: str, *, code: str = "provider_error", retryable: bool = False):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class SignatureInvalid(Exception):  # noqa: N818 (the name says what was found, as billing.errors' names do)
    """An inbound webhook whose signature is missing, forged or stale."""


def _require_minor_units(amount_cents: object, currency: str) -> None:
    # bool is an int to Python; a float or Decimal here means someone skipped money.round_minor.
    if type(amount_cents) is not int or amount_cents <= 0:
        raise ValueError(f"amount_cents must be a positive int of minor units, not {amount_cents!r}")
    if len(currency) != 3 or not currency.isascii() or not currency.isupper():
        raise ValueError(f"currency must be an ISO 4217 code, not {currency!r}")


def _require_key(idempotency_key: str) -> None:
    if not idempotency_key:
        raise ValueError("an idempotency key is required: a retried call must never act twice")


@dataclass(frozen=True)
class CustomerRequest:
    """The customer to create or update at the provider."""

    reference: str  # Tally's customer id, stored at the provider (metadata) to find the way back
    idempotency_key: str
    name: str | None = None
    email: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_key(self.idempotency_key)


@dataclass(frozen=True)
class ProviderCustomer:
    """A customer as the provider knows it."""

    id: str  # the provider's id (Stripe `cus_…`): Lago's `provider_customer_id`
    reference: str
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class SetupRequest:
    """Ask for a page or form where a customer saves a payment method without paying."""

    customer_id: str
    return_url: str  # where the provider sends the customer back (hosted pages, 3-D Secure)
    idempotency_key: str
    method_types: tuple[str, ...] = ("card",)
    currency: str | None = None  # the customer's, when known: a direct debit scheme or a zero authorisation's

    def __post_init__(self) -> None:
        _require_key(self.idempotency_key)


@dataclass(frozen=True)
class SetupSession:
    """A started payment-method set-up: a hosted page to redirect to, or a secret for an embedded form."""

    # Stripe answers with a client secret (Elements in Tally's page), Adyen and GoCardless with a URL.
    id: str
    customer_id: str
    redirect_url: str | None = None
    client_secret: str | None = None


@dataclass(frozen=True)
class PaymentMethod:
    """A saved way to pay, as much of it as may be shown (never a full card number)."""

    id: str
    type: str  # card, sepa_debit, bacs_debit, … (Lago's `provider_payment_methods`)
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True)
class ChargeRequest:
    """Take an amount from a customer's saved payment method."""

    amount_cents: int
    currency: str
    customer_id: str
    method_id: str
    # Derived from Tally's pending payment row, written and committed before the call: a retried job or a
    # worker killed between the provider's answer and Tally's write sends the same key and is not charged
    # twice.
    idempotency_key: str
    off_session: bool = True  # False when the customer is on the pay page and can authenticate at once
    return_url: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_minor_units(self.amount_cents, self.currency)
        _require_key(self.idempotency_key)


@dataclass(frozen=True)
class ChargeResult:
    """The provider's answer to a charge: declines are answers too, not exceptions."""

    payment_id: str  # the provider's id (Stripe `pi_…`): Lago's `provider_payment_id`
    status: PaymentStatus
    amount_cents: int
    currency: str
    provider_status: str | None = None  # the provider's own word, which Lago shows as `status`
    error_code: str | None = None
    error_message: str | None = None
    next_action_url: str | None = None  # where the customer completes a REQUIRES_ACTION payment


@dataclass(frozen=True)
class RefundRequest:
    """Give back part or all of a succeeded payment."""

    payment_id: str
    amount_cents: int
    currency: str
    idempotency_key: str  # derived from Tally's credit note, for the same reason as a charge's
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_minor_units(self.amount_cents, self.currency)
        _require_key(self.idempotency_key)


@dataclass(frozen=True)
class RefundResult:
    """The provider's answer to a refund."""

    refund_id: str
    payment_id: str
    status: RefundStatus
    amount_cents: int
    currency: str
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class WebhookEvent:
    """A verified inbound provider event, in neutral terms."""

    id: str  # the provider's event id: Tally applies each one once
    kind: WebhookKind
    provider_type: str  # the provider's own type (`payment_intent.succeeded`), for logs and support
    occurred_at: datetime | None = None
    customer_id: str | None = None
    payment_id: str | None = None
    refund_id: str | None = None
    # The reference Tally sent with the refund, when the provider echoes it (Adyen: the idempotency key as
    # merchantReference; Stripe: the metadata's tally_refund_id): the notification can come before the job has
    # written the provider's refund id.
    refund_reference: str | None = None
    method_id: str | None = None
    setup_id: str | None = None
    amount_cents: int | None = None
    currency: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    next_action_url: str | None = None


class PaymentProvider(Protocol):
    """What Tally asks of a payment provider: customers, saved methods, charges, refunds, inbound events."""

    kind: str  # "stripe", "adyen", "gocardless", "fake"

    def create_customer(self, request: CustomerRequest) -> ProviderCustomer:
        """Create the provider's customer for a Tally customer."""
        ...

    def update_customer(self, customer_id: str, request: CustomerRequest) -> ProviderCustomer:
        """Update the provider's customer with the Tally customer's current details."""
        ...

    def start_setup(self, request: SetupRequest) -> SetupSession:
        """Start saving a payment method: the customer finishes on the provider's page or form."""
        ...

    def list_payment_methods(self, customer_id: str) -> Sequence[PaymentMethod]:
        """List the customer's saved payment methods, oldest first."""
        ...

    def attach_payment_method(self, customer_id: str, method_id: str) -> PaymentMethod:
        """Save a payment method for the customer; a method refused at set-up raises ProviderError."""
        ...

    def detach_payment_method(self, customer_id: str, method_id: str) -> None:
        """Remove a saved payment method from the customer."""
        ...

    def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge a saved method; the same idempotency key answers the same result and charges once."""
        ...

    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund part or all of a succeeded payment, once per idempotency key."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify an inbound webhook's signature and read it; raise SignatureInvalid when it fails."""
        ...


@runtime_checkable
class SeveralEventsPerWebhook(Protocol):
    """A provider whose one webhook request carries several events (GoCardless posts them in batches)."""

    def parse_webhook_events(self, payload: bytes, headers: Mapping[str, str]) -> Sequence[WebhookEvent]:
        """Verify an inbound webhook's signature and read every event in it, in the order sent."""
        ...


def webhook_events(provider: PaymentProvider, payload: bytes, headers: Mapping[str, str]) -> Sequence[WebhookEvent]:
    """The verified events of one inbound webhook request: all of a batch, or the one a provider sends."""
    if isinstance(provider, SeveralEventsPerWebhook):
        return tuple(provider.parse_webhook_events(payload, headers))
    return (provider.parse_webhook(payload, headers),)
