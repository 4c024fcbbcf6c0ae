"""Customer self-service portal (API.md §2b): a signed, expiring link shows one customer's usage and invoices."""

from portal.views import portal_blueprint

__all__ = ["portal_blueprint"]
