"""What each role may open: ONE map from admin endpoint to the permission it needs, checked before every view.

Roles as Lago's (docs: RBAC; lago-api config/permissions.yml): `admin` may do everything; `manager` the
customers and what they are sold (plans, metrics, add-ons, coupons and taxes, subscriptions, wallets);
`finance` the money (invoices, credit notes, payments, dunning, analytics) and reads customers to reach it.
Neither manager nor finance touches API keys, members or the organization's settings.

An endpoint missing from ENDPOINT_PERMISSIONS is refused to everyone (default deny), and
tests/web/test_admin_roles.py fails when a registered admin endpoint is missing: a new view is one line here.
"""

from __future__ import annotations

SIGNED_IN = "signed_in"  # any signed-in account manager (home, sign-out, My account)
CUSTOMERS_VIEW = "customers:view"
CUSTOMERS_EDIT = "customers:edit"
CATALOG = "catalog:edit"  # plans, billable metrics, add-ons, coupons, taxes
SUBSCRIPTIONS = "subscriptions:edit"
WALLETS = "wallets:edit"
INVOICES_VIEW = "invoices:view"
INVOICES_EDIT = "invoices:edit"  # refresh, void, retry billing, one-off invoices, credit notes
PAYMENTS = "payments:edit"  # record, retry, request payment, mark paid
DUNNING = "dunning:edit"
ANALYTICS = "analytics:view"
ORGANIZATION = "organization:manage"  # API keys, members, webhooks, providers, embedding, invoice PDFs, audit

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({SIGNED_IN, CUSTOMERS_VIEW, CUSTOMERS_EDIT, CATALOG, SUBSCRIPTIONS, WALLETS, INVOICES_VIEW,
                        INVOICES_EDIT, PAYMENTS, DUNNING, ANALYTICS, ORGANIZATION}),
    "manager": frozenset({SIGNED_IN, CUSTOMERS_VIEW, CUSTOMERS_EDIT, CATALOG, SUBSCRIPTIONS, WALLETS, INVOICES_VIEW}),
    "finance": frozenset({SIGNED_IN, CUSTOMERS_VIEW, INVOICES_VIEW, INVOICES_EDIT, PAYMENTS, DUNNING, ANALYTICS}),
}

ROLE_NAMES = {"admin": "Admin", "manager": "Manager", "finance": "Finance"}
ROLE_DESCRIPTIONS = {
    "admin": "Everything, including API keys, members, webhooks and the organization's settings.",
    "manager": "Customers, plans, metrics, add-ons, coupons, subscriptions and wallets.",
    "finance": "Invoices, credit notes, payments, dunning and analytics; reads customers.",
}

ENDPOINT_PERMISSIONS: dict[str, str] = {
    "admin.login": SIGNED_IN,  # open: admin.blueprint.OPEN_ENDPOINTS lets it through before any role is known
    "admin.logout": SIGNED_IN,
    "admin.home": SIGNED_IN,
    "admin.forbidden": SIGNED_IN,
    "admin.account": SIGNED_IN,  # My account: every member sees their own and changes their password
    "admin.account_password": SIGNED_IN,
    # customers
    "admin.customers": CUSTOMERS_VIEW,
    "admin.customers_csv": CUSTOMERS_VIEW,
    "admin.customer_new": CUSTOMERS_EDIT,
    "admin.customer_edit": CUSTOMERS_EDIT,
    "admin.customer": CUSTOMERS_VIEW,
    "admin.customer_usage": CUSTOMERS_VIEW,
    "admin.customer_usage_live": CUSTOMERS_VIEW,
    "admin.customer_events": CUSTOMERS_VIEW,
    "admin.customer_portal_link": CUSTOMERS_VIEW,  # a link for the customer to see and pay: finance sends it too
    "admin.customer_payments": CUSTOMERS_VIEW,
    "admin.customer_payment_provider": CUSTOMERS_EDIT,
    "admin.customer_payment_methods_refresh": CUSTOMERS_EDIT,
    "admin.customer_overdue": INVOICES_VIEW,
    "admin.customer_request_payment": PAYMENTS,
    "admin.customer_dunning": CUSTOMERS_VIEW,
    "admin.customer_dunning_save": DUNNING,
    "admin.customer_apply_coupon": CATALOG,
    # catalog
    "admin.plan_list": CATALOG,
    "admin.plan_new": CATALOG,
    "admin.plan_edit": CATALOG,
    "admin.plan_delete": CATALOG,
    "admin.plan_charge": CATALOG,
    "admin.plan_charge_new": CATALOG,
    "admin.plan_charge_preview": CATALOG,
    "admin.metric_list": CATALOG,
    "admin.metric_new": CATALOG,
    "admin.metric_edit": CATALOG,
    "admin.metric_delete": CATALOG,
    "admin.metric_expression_test": CATALOG,
    "admin.add_on_list": CATALOG,
    "admin.add_on_new": CATALOG,
    "admin.add_on_edit": CATALOG,
    "admin.add_on_delete": CATALOG,
    "admin.feature_list": CATALOG,
    "admin.feature_new": CATALOG,
    "admin.feature_edit": CATALOG,
    "admin.feature_delete": CATALOG,
    "admin.plan_features": CATALOG,
    "admin.subscription_features": SUBSCRIPTIONS,
    "admin.discount_list": CATALOG,
    "admin.coupon_new": CATALOG,
    "admin.tax_new": CATALOG,
    # subscriptions
    "admin.subscription_list": CUSTOMERS_VIEW,
    "admin.subscription_list_csv": CUSTOMERS_VIEW,
    "admin.subscription_assign": SUBSCRIPTIONS,
    "admin.subscription_change_plan": SUBSCRIPTIONS,
    "admin.subscription_overrides": SUBSCRIPTIONS,
    "admin.subscription_overrides_diff": SUBSCRIPTIONS,
    "admin.subscription_terminate": SUBSCRIPTIONS,
    # wallets
    "admin.customer_wallets": CUSTOMERS_VIEW,
    "admin.customer_wallet_new": WALLETS,
    "admin.customer_wallet_rules": WALLETS,
    "admin.customer_wallet_settings": WALLETS,
    "admin.customer_wallet_terminate": WALLETS,
    "admin.customer_wallet_transaction": WALLETS,
    "admin.customer_wallet_top_up_paid": PAYMENTS,
    # invoices, credit notes, payments
    "admin.customer_invoices": INVOICES_VIEW,
    "admin.customer_invoice_pdf": INVOICES_VIEW,
    "admin.customer_invoice_paid": PAYMENTS,
    "admin.invoice_page": INVOICES_VIEW,
    "admin.invoice_list": INVOICES_VIEW,
    "admin.invoice_list_csv": INVOICES_VIEW,
    "admin.invoice_finalize": INVOICES_EDIT,
    "admin.credit_note_list": INVOICES_VIEW,
    "admin.credit_note_list_csv": INVOICES_VIEW,
    "admin.payment_list": INVOICES_VIEW,
    "admin.payment_list_csv": INVOICES_VIEW,
    "admin.invoice_refresh": INVOICES_EDIT,
    "admin.invoice_void": INVOICES_EDIT,
    "admin.invoice_credit_note": INVOICES_EDIT,
    "admin.credit_note_pdf": INVOICES_VIEW,
    "admin.invoice_record_payment": PAYMENTS,
    "admin.invoice_retry_payment": PAYMENTS,
    "admin.one_off_invoice_form": INVOICES_EDIT,
    "admin.one_off_invoice_new": INVOICES_EDIT,
    "admin.one_off_line": INVOICES_EDIT,
    "admin.billing_failure_list": INVOICES_EDIT,
    "admin.billing_failure_retry": INVOICES_EDIT,
    # dunning
    "admin.dunning_campaign_list": DUNNING,
    "admin.dunning_campaign_new": DUNNING,
    "admin.dunning_campaign_edit": DUNNING,
    "admin.dunning_campaign_delete": DUNNING,
    "admin.dunning_campaign_default": DUNNING,
    "admin.dunning_campaign_preview": DUNNING,
    "admin.dunning_campaign_customers": DUNNING,
    # the organization
    "admin.payment_provider_list": ORGANIZATION,
    "admin.payment_provider_new": ORGANIZATION,
    "admin.payment_provider_edit": ORGANIZATION,
    "admin.payment_provider_disconnect": ORGANIZATION,
    "admin.webhook_list": ORGANIZATION,
    "admin.webhook_delivery": ORGANIZATION,
    "admin.webhook_endpoint_new": ORGANIZATION,
    "admin.webhook_endpoint_edit": ORGANIZATION,
    "admin.webhook_endpoint_delete": ORGANIZATION,
    "admin.webhook_endpoint_test": ORGANIZATION,
    "admin.embedding_settings": ORGANIZATION,
    "admin.embedding_origins": ORGANIZATION,
    "admin.embedding_accent": ORGANIZATION,
    "admin.embedding_accent_preview": ORGANIZATION,
    "admin.embedding_logo": ORGANIZATION,
    "admin.embedding_logo_upload": ORGANIZATION,
    "admin.embedding_logo_remove": ORGANIZATION,
    "admin.settings_invoices": ORGANIZATION,
    "admin.settings_invoices_bank_details": ORGANIZATION,
    "admin.settings_invoices_language": ORGANIZATION,
    "admin.member_list": ORGANIZATION,
    "admin.member_new": ORGANIZATION,
    "admin.member_role": ORGANIZATION,
    "admin.member_active": ORGANIZATION,
    "admin.api_key_list": ORGANIZATION,
    "admin.api_key_new": ORGANIZATION,
    "admin.api_key_rotate": ORGANIZATION,
    "admin.api_key_revoke": ORGANIZATION,
    "admin.audit_list": ORGANIZATION,
}


def may(role: str, permission: str) -> bool:
    """Whether `role` holds `permission` (for a part of a page, e.g. the home's business figures)."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def may_open(role: str, endpoint: str | None) -> bool:
    """Whether an account manager of `role` may open `endpoint` (False for an endpoint not in the map)."""
    needed = ENDPOINT_PERMISSIONS.get(endpoint or "")
    return needed is not None and needed in ROLE_PERMISSIONS.get(role, frozenset())

