"""The customers list of the admin screens, as plain rows, and fresh portal links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing.customers.services import list_customers
from billing.links import portal_url
from billing.pagination import Page
from billing.screens.overview import customer_summary

CUSTOMERS_PER_PAGE = 25


@dataclass(frozen=True)
class CustomerRow:
    id: str
    external_id: str
    name: str
    email: str | None
    currency: str | None
    created_at: datetime


def search_customers(*, organization_id: str, search: str = "", page: int = 1) -> Page:
    """The organization's customers, newest first, filtered by name, external id or email."""
    found = list_customers(organization_id=organization_id, search=search or None, page=page,
                           per_page=CUSTOMERS_PER_PAGE)
    rows = [CustomerRow(id=c.id, external_id=c.external_id, name=c.display_name, email=c.email, currency=c.currency,
                        created_at=c.created_at) for c in found.items]
    return Page(items=rows, current_page=found.current_page, per_page=found.per_page, total_count=found.total_count)


def fresh_portal_url(*, organization_id: str, customer_id: str) -> str:
    """A newly signed portal link (valid 12 hours) for one of the organization's customers."""
    customer_summary(organization_id=organization_id, customer_id=customer_id)  # NotFound for anyone else's
    return portal_url(customer_id=customer_id, organization_id=organization_id)
