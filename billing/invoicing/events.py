"""What invoicing tells the rest of the core (billing.events): handlers run in the invoice's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from billing.invoicing.models import Invoice


@dataclass(frozen=True)
class InvoiceFinalized:
    """A finalized invoice announced to its customer (`invoice.created`), not one finalized already paid.

    `new_invoice`: created by this transaction (a billing batch), so nothing was sent for it before.
    """

    invoice: Invoice
    new_invoice: bool = False
