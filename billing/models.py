"""Every table of the core, imported in one place so that mappers and Alembic see them all."""

from billing.alerts.models import Alert, AlertCheckDue, AlertCrossing, AlertThreshold, TriggeredAlert
from billing.audit.models import AuditEntry
from billing.catalog.models import (
    AddOn,
    AppliedCoupon,
    BillableMetric,
    BillableMetricFilter,
    Charge,
    ChargeFilter,
    Coupon,
    Plan,
    Tax,
)
from billing.customers.models import Customer
from billing.db import Base
from billing.dunning.models import DunningAttempt, DunningCampaign, DunningCampaignThreshold
from billing.emails.models import EmailDelivery
from billing.embedding.models import EmbedSettings
from billing.entitlements.models import Entitlement, EntitlementValue, Feature, Privilege
from billing.invoicing.failures import BillingFailure
from billing.invoicing.models import Credit, Fee, FeeAppliedTax, Invoice, InvoiceAppliedTax, InvoiceSubscription
from billing.metering import catalog_cache  # noqa: F401  (its before_flush hook bumps catalog versions)
from billing.metering.models import Event, RollupWatermark, UsageDailyRollup, UsageRollup, UsageUniqueValue
from billing.organizations.models import ApiKey, Organization, Sequence, User
from billing.payments.models import (
    AppliedProviderEvent,
    Payment,
    PaymentProviderAccount,
    PaymentReceipt,
    PaymentRequest,
    PaymentRequestInvoice,
    Refund,
    SavedPaymentMethod,
)
from billing.subscriptions.models import Subscription
from billing.wallets.models import RecurringTransactionRule, Wallet, WalletCheckDue, WalletTransaction
from billing.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "AddOn", "AuditEntry", "Alert", "AlertCheckDue", "AlertCrossing", "AlertThreshold", "TriggeredAlert",
    "Entitlement", "EntitlementValue", "Feature", "Privilege",
    "AppliedProviderEvent", "EmbedSettings", "DunningAttempt", "DunningCampaign", "DunningCampaignThreshold",
    "PaymentRequest", "PaymentRequestInvoice", "BillingFailure", "Payment", "PaymentProviderAccount", "PaymentReceipt",
    "Refund", "SavedPaymentMethod", "AppliedCoupon", "Coupon", "Credit", "FeeAppliedTax", "InvoiceAppliedTax", "Tax",
    "ApiKey", "Base", "BillableMetric", "BillableMetricFilter", "Charge", "ChargeFilter", "Customer", "Event",
    "EmailDelivery", "Fee", "Invoice", "InvoiceSubscription", "Organization", "Plan", "RollupWatermark", "Sequence",
    "Subscription", "UsageDailyRollup", "UsageRollup", "UsageUniqueValue", "User", "WebhookAttempt",
    "WebhookDelivery", "WebhookEndpoint", "RecurringTransactionRule", "Wallet", "WalletCheckDue", "WalletTransaction",
]
