"""Customer self-service portal (API.md §2b): a signed, expiring link shows one customer's usage and invoices,
their saved payment methods; and the pay pages a pay link or a set-up link opens (`/pay/...`)."""

from portal import payment_methods  # noqa: F401 (registers the payment methods page on the portal blueprint)
from portal.pay import pay_blueprint
from portal.views import portal_blueprint

__all__ = ["pay_blueprint", "portal_blueprint"]
