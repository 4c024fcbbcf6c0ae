"""The seller and the buyer as a document printed them: kept with the invoice when it is finalized and with a credit
note when it is issued, so that its PDF, rendered again later (in another language, once paid), still names the
parties as they were on its day — an organization that moves, or a customer that changes its tax number, changes the
documents it issues from then on, never the ones already issued (docs/billing.md, "What the invoice PDF says")."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

ORGANIZATION_FIELDS = ("name", "legal_name", "legal_number", "tax_identification_number", "email",
                       "address_line1", "address_line2", "zipcode", "city", "country")
CUSTOMER_FIELDS = ("display_name", "legal_name", "legal_number", "tax_identification_number", "email",
                   "address_line1", "address_line2", "zipcode", "city", "state", "country",
                   "shipping_address_line1", "shipping_address_line2", "shipping_zipcode", "shipping_city",
                   "shipping_state", "shipping_country")


def snapshot(organization, customer) -> dict[str, dict[str, str | None]]:
    """What a document prints of both parties, as they are now (the `parties` column of invoices and credit
    notes)."""
    return {"organization": {name: getattr(organization, name) for name in ORGANIZATION_FIELDS},
            "customer": {name: getattr(customer, name) for name in CUSTOMER_FIELDS}}


def printed(kept: Mapping[str, Mapping[str, str | None]] | None, organization, customer) -> SimpleNamespace:
    """The parties a document prints: those it kept, else (a draft, or a document issued before they were kept)
    the organization and the customer as they are now."""
    kept = kept or snapshot(organization, customer)
    return SimpleNamespace(
        organization=SimpleNamespace(**{name: kept["organization"].get(name) for name in ORGANIZATION_FIELDS}),
        customer=SimpleNamespace(**{name: kept["customer"].get(name) for name in CUSTOMER_FIELDS}))
