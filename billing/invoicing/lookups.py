"""What a billing batch reads once for all its invoices (BatchLookups)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session

from billing.catalog.models import AppliedCoupon
from billing.catalog.taxes import organization_taxes
from billing.invoicing.models import CreditNote
from billing.subscriptions.models import Subscription
from billing.wallets.models import Wallet
from billing.webhooks import services as webhooks


@dataclass
class BatchLookups:
    """What billing a batch reads once for all its invoices, so that each invoice skips the queries that
    would find nothing: customers with no coupon, no credit-note balance or no wallet (most of them),
    the organizations' default taxes and webhook endpoints, and the invoice numbers taken in one go.
    """

    coupons: set[str] = field(default_factory=set)  # customers with an active applied coupon
    credit_notes: set[str] = field(default_factory=set)  # customers with a credit-note balance available
    wallets: set[str] = field(default_factory=set)  # customers with an active wallet
    taxes: dict[str, list] = field(default_factory=dict)  # organization id → its default taxes
    endpoints: dict[str, list] = field(default_factory=dict)  # organization id → its webhook endpoints
    numbers: dict[str, int] = field(default_factory=dict)  # numbering scope → its next number taken for the batch
    subscriptions: dict[str, Subscription] = field(default_factory=dict)  # the batch's, by id (webhook payloads)

    def next_number(self, scope: str) -> int | None:
        number = self.numbers.get(scope)
        if number is not None:
            self.numbers[scope] = number + 1
        return number


def read_batch_lookups(session: Session, subscriptions: Sequence[Subscription]) -> BatchLookups:
    customers = sorted({s.customer_id for s in subscriptions})
    known = BatchLookups()
    found = {"coupon": known.coupons, "credit_note": known.credit_notes, "wallet": known.wallets}
    for kind, customer_id in session.execute(union_all(
            select(literal("coupon"), AppliedCoupon.customer_id).where(
                AppliedCoupon.customer_id.in_(customers), AppliedCoupon.status == "active"),
            select(literal("credit_note"), CreditNote.customer_id).where(
                CreditNote.customer_id.in_(customers), CreditNote.credit_status == "available",
                CreditNote.balance_amount_cents > 0),
            select(literal("wallet"), Wallet.customer_id).where(
                Wallet.customer_id.in_(customers), Wallet.status == "active"))):
        found[kind].add(customer_id)
    for organization_id in sorted({s.organization_id for s in subscriptions}):
        known.taxes[organization_id] = organization_taxes(session, organization_id)
        known.endpoints[organization_id] = webhooks.organization_endpoints(session, organization_id)
    return known
