"""What the payment core tells the rest of Tally (billing.events): handlers run in the payment's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from billing.invoicing.models import Invoice
from billing.payments.models import Payment


@dataclass(frozen=True)
class PaymentSucceeded:
    """A payment went through: the customer is sent a receipt."""

    payment: Payment
    invoice: Invoice


@dataclass(frozen=True)
class PaymentFailed:
    """A charge was declined or failed: the customer is sent a link to pay another way."""

    payment: Payment
    invoice: Invoice


@dataclass(frozen=True)
class PaymentRequiresAction:
    """The customer's bank asks them to confirm the payment (3-D Secure): they are sent the link to do it."""

    payment: Payment
    invoice: Invoice
