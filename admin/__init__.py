"""Account-manager screens: sign-in, customers, their subscriptions, live usage, invoices and portal links."""

from admin import plan_views, subscription_views, webhook_views  # noqa: F401 (they add their screens to the blueprint)
from admin.views import admin_blueprint

__all__ = ["admin_blueprint"]
