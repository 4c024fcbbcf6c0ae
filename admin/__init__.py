"""Account-manager screens: sign-in, customers, their subscriptions, live usage, invoices and portal links."""

from admin.views import admin_blueprint

__all__ = ["admin_blueprint"]
