"""What the payment core tells the rest of Tally (billing.events): handlers run in the payment's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from billing.invoicing.models import Invoice
from billing.payments.models import Payment, PaymentRequest


@dataclass(frozen=True)
class PaymentSucceeded:
    """A payment went through: the customer is sent a receipt."""

    payment: Payment
    invoice: Invoice | None  # None for a payment request's payment: see payment_request
    payment_request: PaymentRequest | None = None


@dataclass(frozen=True)
class PaymentFailed:
    """A charge was declined or failed: the customer is sent a link to pay another way."""

    payment: Payment
    invoice: Invoice | None  # None for a payment request's payment: see payment_request
    payment_request: PaymentRequest | None = None


@dataclass(frozen=True)
class PaymentRequiresAction:
    """The customer's bank asks them to confirm the payment (3-D Secure): they are sent the link to do it."""

    payment: Payment
    invoice: Invoice | None  # None for a payment request's payment: see payment_request
    payment_request: PaymentRequest | None = None


@dataclass(frozen=True)
class PaymentRequested:
    """A payment request was made (by hand, by the portal's "Pay all", or by a dunning attempt).

    `chargeable`: the customer has a provider and a default method, so a charge follows after commit; when
    it is False the customer is emailed the link that pays every invoice of the request (and when the
    charge fails, PaymentFailed says so).

    `customer_present`: the customer made it themselves (the portal's "Pay all") and pays on its page now:
    nothing is charged off-session and no email is sent (they are already looking at the link).
    """

    payment_request: PaymentRequest
    chargeable: bool
    reminder: tuple[str, str] | None = None  # a dunning campaign's (subject, message) for the email, if any
    bcc: tuple[str, ...] = ()  # a dunning campaign's bcc_emails: blind copies of the request's reminders
    customer_present: bool = False
