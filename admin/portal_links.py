"""Fresh portal links for the admin's customer page."""

from __future__ import annotations

from billing.links import portal_url
from billing.screens.overview import customer_summary


def fresh_portal_url(*, organization_id: str, customer_id: str) -> str:
    """A newly signed portal link (valid 12 hours) for one of the organization's customers."""
    customer_summary(organization_id=organization_id, customer_id=customer_id)  # NotFound for anyone else's
    return portal_url(customer_id=customer_id, organization_id=organization_id)
