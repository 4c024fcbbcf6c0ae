"""Where a finalized invoice stands for its customer: paid, due, overdue or partly paid, and how they can pay it.

The invoice PDF prints it; its `edition` names what the printed words depend on, so a stored PDF is rendered
again once the invoice is paid, falls overdue, or its pay link nears its expiry (billing.invoicing.documents)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from billing import links
from billing.invoicing.models import Invoice
from billing.ports import runtime
from billing.subscriptions.periods import local_date

# A stored PDF's pay link is renewed within half its life, so a PDF fetched at any time carries a link that
# still works for at least half of links.PAY_TTL.
PAY_LINK_RENEWAL_SECONDS = links.PAY_TTL.total_seconds() / 2


@dataclass(frozen=True)
class Standing:
    # "paid", "due", "overdue", "partially_paid" (due or overdue with something paid), "voided", "closed",
    # "nothing_due" (a zero or fully offset invoice).
    kind: str
    due_date: date
    overdue: bool
    paid_cents: int
    due_cents: int
    currency: str
    pay_url: str | None

    @property
    def edition(self) -> str:
        """What the printed standing depends on, short enough for a file name."""
        parts = [self.kind, "late" if self.overdue else "ontime", str(self.paid_cents)]
        if self.pay_url:
            parts.append(f"l{int(runtime.clock.now().timestamp() // PAY_LINK_RENEWAL_SECONDS)}")
        return "-".join(parts)


def can_pay_online(invoice: Invoice) -> bool:
    """The customer's provider can take this invoice's payment on Tally's pay page (as the portal's Pay button)."""
    customer = invoice.customer
    return bool(customer.payment_provider and customer.payment_provider_code and runtime.secret_key
                and runtime.base_url and invoice.status == "finalized" and invoice.payment_status != "succeeded"
                and invoice.total_due_amount_cents > 0)


def invoice_standing(invoice: Invoice) -> Standing:
    today = local_date(runtime.clock.now(), invoice.customer.applicable_timezone)
    due = invoice.total_due_amount_cents
    paid = invoice.total_paid_amount_cents
    overdue = bool(due > 0 and (invoice.payment_overdue or today > invoice.payment_due_date))
    if invoice.status in ("voided", "closed"):
        kind = invoice.status
    elif invoice.payment_status == "succeeded" or (paid > 0 and due == 0):
        kind = "paid"
    elif due == 0:
        kind = "nothing_due"
    elif paid > 0:
        kind = "partially_paid"
    else:
        kind = "overdue" if overdue else "due"
    pay_url = (links.pay_url(invoice_id=invoice.id, organization_id=invoice.organization_id)
               if kind in ("due", "overdue", "partially_paid") and can_pay_online(invoice) else None)
    return Standing(kind=kind, due_date=invoice.payment_due_date, overdue=overdue, paid_cents=paid, due_cents=due,
                    currency=invoice.currency, pay_url=pay_url)
