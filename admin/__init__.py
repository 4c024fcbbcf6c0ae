"""Account-manager screens: sign-in, customers, their subscriptions, live usage, invoices and portal links."""

from admin import (  # noqa: F401 (they add their screens to the blueprint)
    account_views,
    add_on_views,
    api_key_views,
    audit_views,
    auth_views,
    billing_failure_views,
    customer_form_views,
    customer_payment_views,
    customer_views,
    discount_views,
    dunning_views,
    embedding_views,
    entitlement_views,
    home_views,
    invoice_settings_views,
    invoice_views,
    list_views,
    member_views,
    metric_views,
    overdue_views,
    payment_provider_views,
    plan_views,
    subscription_views,
    wallet_views,
    webhook_views,
)
from admin.blueprint import admin_blueprint

__all__ = ["admin_blueprint"]
