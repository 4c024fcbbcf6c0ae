"""What invoicing tells the rest of the core (billing.events): handlers run in the invoice's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from billing.invoicing.models import CreditNote, Invoice


@dataclass(frozen=True)
class InvoiceFinalized:
    """A finalized invoice announced to its customer (`invoice.created`), not one finalized already paid.

    `new_invoice`: created by this transaction (a billing batch), so nothing was sent for it before.
    """

    invoice: Invoice
    new_invoice: bool = False


@dataclass(frozen=True)
class PaymentDue:
    """An invoice that now asks to be paid: finalized with something due, or a credit purchase left `open`.

    The payment core (billing.payments) collects it when the customer has a provider and a saved method.
    """

    invoice: Invoice


@dataclass(frozen=True)
class RefundDue:
    """A credit note refunds money: the payment core gives it back through the provider that took it."""

    credit_note: CreditNote
