"""Customer self-service portal (API.md §2b): a signed, expiring link shows one customer's usage and invoices,
their saved payment methods; the embeddable widgets (`/embed/...`, `widgets.py`); and the pay pages a pay link or
a set-up link opens (`/pay/...`)."""

# Imported to register their pages on the pay and portal blueprints.
from portal import account, pay_request, payment_methods, recovery  # noqa: F401
from portal.pay import pay_blueprint
from portal.views import portal_blueprint
from portal.widgets import widgets_blueprint

__all__ = ["pay_blueprint", "portal_blueprint", "widgets_blueprint"]
