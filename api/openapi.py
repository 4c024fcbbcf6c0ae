"""GET /api/v1/openapi.json: an OpenAPI 3.1 description of Tally's API as it is.

Written by hand from the resource modules and the services they call (names and shapes follow Lago's
own OpenAPI document, getlago/lago-openapi); the ranges come from billing.validation's table, the
choices from the constants the services check against. tests/api/test_openapi.py keeps it equal to
the routes, and tests/api/test_fuzz.py sends what it describes (schemathesis).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import jsonify

from api.blueprint import api_blueprint as bp
from billing.alerts.models import SUBSCRIPTION_ALERT_TYPES, WALLET_ALERT_TYPES
from billing.alerts.services import MAX_THRESHOLDS
from billing.analytics.months import MAX_MONTHS
from billing.catalog.charges import REGROUP_PAID_FEES
from billing.catalog.models import COUPON_EXPIRATIONS, COUPON_FREQUENCIES, COUPON_TYPES, PLAN_INTERVALS
from billing.embedding.services import MAX_TTL as EMBED_MAX_TTL
from billing.embedding.services import MIN_TTL as EMBED_MIN_TTL
from billing.embedding.services import WIDGETS as EMBED_WIDGETS
from billing.entitlements.features import MAX_DESCRIPTION as FEATURE_MAX_DESCRIPTION
from billing.entitlements.models import VALUE_TYPES
from billing.invoicing.invoice_metadata import MAX_KEY as MAX_INVOICE_METADATA_KEY
from billing.invoicing.invoice_metadata import MAX_PAIRS as MAX_INVOICE_METADATA_PAIRS
from billing.invoicing.invoice_metadata import MAX_VALUE as MAX_INVOICE_METADATA_VALUE
from billing.invoicing.models import FEE_PAYMENT_STATUSES, PAYMENT_STATUSES, REFUND_STATUSES
from billing.metering.aggregation import AGGREGATIONS
from billing.payments.requests import MAX_INVOICES
from billing.pricing import CHARGE_MODELS
from billing.subscriptions.models import STATUSES as SUBSCRIPTION_STATUSES
from billing.validation import (
    MAX_AMOUNT_CENTS,
    MAX_DAYS,
    MAX_DECIMAL,
    MAX_DECIMAL_PLACES,
    MAX_ITEM_METADATA_KEY,
    MAX_ITEM_METADATA_KEYS,
    MAX_ITEM_METADATA_VALUE,
    MAX_PAGE,
    MAX_PER_PAGE,
    MAX_PERIODS,
    MAX_STRING,
    MAX_TEXT,
)
from billing.wallets.models import FEE_TYPES
from billing.webhooks.services import SIGNATURE_ALGOS

Schema = dict[str, Any]

# ---------------------------------------------------------------- field shapes

_MAX_DECIMAL_DIGITS = len(str(int(MAX_DECIMAL))) - 1  # digits before the point below MAX_DECIMAL


def _string(max_length: int = MAX_STRING, **extra: Any) -> Schema:
    return {"type": "string", "maxLength": max_length, **extra}


def _text() -> Schema:
    return _string(MAX_TEXT)


def _nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def _integer(minimum: int = 0, maximum: int = MAX_AMOUNT_CENTS) -> Schema:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def _cents() -> Schema:
    """An amount in minor units (`*_amount_cents`)."""
    return _integer(0, MAX_AMOUNT_CENTS)


def _days() -> Schema:
    return _integer(0, MAX_DAYS)


def _decimal() -> Schema:
    """A decimal written as a string ("0.0125"), as Lago's unit prices, rates and credits."""
    pattern = rf"^[0-9]{{1,{_MAX_DECIMAL_DIGITS}}}(\.[0-9]{{1,{MAX_DECIMAL_PLACES}}})?$"
    return {"type": "string", "pattern": pattern, "examples": ["10", "0.0125"]}


def _boolean() -> Schema:
    return {"type": "boolean"}


def _choice(values: tuple[str, ...] | list[str]) -> Schema:
    return {"type": "string", "enum": list(values)}


def _datetime() -> Schema:
    return {"type": "string", "format": "date-time", "examples": ["2026-11-24T10:00:00Z"]}


def _currency() -> Schema:
    return {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["EUR", "USD"]}


def _strings(max_items: int = 100) -> Schema:
    return {"type": "array", "items": _string(), "maxItems": max_items}


def _object(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _list_of(item: Schema, max_items: int = 100) -> Schema:
    return {"type": "array", "items": item, "maxItems": max_items}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


# ---------------------------------------------------------------- request bodies

_FREE_OBJECT: Schema = {"type": "object"}
_TAX_CODES = _strings()
# Lago's item metadata (plans, wallets, credit notes): {key: text or null}.
_ITEM_METADATA: Schema = {
    "type": ["object", "null"], "maxProperties": MAX_ITEM_METADATA_KEYS,
    "propertyNames": {"minLength": 1, "maxLength": MAX_ITEM_METADATA_KEY},
    "additionalProperties": _nullable(_string(MAX_ITEM_METADATA_VALUE)),
}
_ITEM_METADATA_BODY = _object({"metadata": _ITEM_METADATA}, ("metadata",))

_CUSTOMER = _object({
    "external_id": _string(), "name": _string(), "firstname": _string(), "lastname": _string(),
    "email": _string(), "phone": _string(), "url": _string(), "address_line1": _string(),
    "address_line2": _string(), "city": _string(), "state": _string(), "zipcode": _string(),
    "country": _string(2, pattern="^[A-Za-z]{2}$"), "legal_name": _string(), "legal_number": _string(),
    "tax_identification_number": _string(), "customer_type": _choice(("company", "individual")),
    "currency": _currency(), "timezone": _string(64, examples=["Europe/Paris"]),
    "invoice_grace_period": _days(), "net_payment_term": _days(),
    "finalize_zero_amount_invoice": _choice(("inherit", "skip", "finalize")),
    "billing_configuration": _object({"invoice_grace_period": _days(),
                                      "document_locale": _string(2, pattern="^[A-Za-z]{2}$", examples=["fr"])}),
    "shipping_address": _object({"address_line1": _string(), "address_line2": _string(), "city": _string(),
                                 "state": _string(), "zipcode": _string(64),
                                 "country": _string(2, pattern="^[A-Za-z]{2}$")}),
    "metadata": _list_of(_object({"key": _string(), "value": _string(), "display_in_invoice": _boolean()},
                                 ("key", "value"))),
    "tax_codes": _TAX_CODES,
    "applied_dunning_campaign_code": _nullable(_string()), "exclude_from_dunning_campaign": _boolean(),
}, ("external_id",))

_METRIC_FILTER = _object({"key": _string(), "values": _strings()}, ("key", "values"))
_BILLABLE_METRIC = _object({
    "name": _string(), "code": _string(), "description": _text(), "aggregation_type": _choice(AGGREGATIONS),
    "field_name": _string(), "expression": _text(), "recurring": _boolean(), "weighted_interval": _choice(("seconds",)),
    "rounding_function": _choice(("round", "ceil", "floor")), "rounding_precision": _integer(-15, 15),
    "filters": _list_of(_METRIC_FILTER),
}, ("name", "code", "aggregation_type"))

_CHARGE_FILTER = _object({"invoice_display_name": _string(), "properties": _FREE_OBJECT,
                          "values": {"type": "object", "additionalProperties": _strings()}},
                         ("properties", "values"))
_CHARGE_OVERRIDABLE: dict[str, Schema] = {
    "invoice_display_name": _string(), "min_amount_cents": _cents(), "properties": _FREE_OBJECT,
    "filters": _list_of(_CHARGE_FILTER), "tax_codes": _TAX_CODES,
}
_CHARGE_FIELDS: dict[str, Schema] = {
    "billable_metric_id": _string(), "code": _string(), "charge_model": _choice(tuple(CHARGE_MODELS)),
    "pay_in_advance": _boolean(), "prorated": _boolean(), "invoiceable": _boolean(),
    "regroup_paid_fees": _nullable(_choice(REGROUP_PAID_FEES)), **_CHARGE_OVERRIDABLE,
}
_CHARGE = _object({"id": _string(), **_CHARGE_FIELDS}, ("billable_metric_id", "charge_model"))
_CHARGE_CREATE = _object({**_CHARGE_FIELDS, "cascade_updates": _boolean()}, ("billable_metric_id", "charge_model"))
_CHARGE_UPDATE = _object({**_CHARGE_FIELDS, "cascade_updates": _boolean()})
_CHARGE_OVERRIDE = _object(_CHARGE_OVERRIDABLE)
_CHARGE_FILTER_CREATE = _object({**_CHARGE_FILTER["properties"], "cascade_updates": _boolean()},
                                ("properties", "values"))
_CHARGE_FILTER_UPDATE = _object({**_CHARGE_FILTER["properties"], "cascade_updates": _boolean()})
_CASCADE = _object({"cascade_updates": _boolean()})
_PLAN_FIELDS: dict[str, Schema] = {
    "name": _string(), "code": _string(), "interval": _choice(PLAN_INTERVALS), "description": _text(),
    "invoice_display_name": _string(), "amount_cents": _cents(), "amount_currency": _currency(),
    "pay_in_advance": _boolean(), "bill_charges_monthly": _boolean(), "trial_period": _days(),
    "minimum_commitment": _object({"amount_cents": _cents(), "invoice_display_name": _string(),
                                   "tax_codes": _TAX_CODES}, ("amount_cents",)),
    "charges": _list_of(_CHARGE), "tax_codes": _TAX_CODES, "metadata": _ITEM_METADATA,
    "usage_thresholds": _list_of(_object({
        "id": _string(), "threshold_display_name": _string(), "amount_cents": _integer(minimum=1),
        "recurring": _boolean()}, ("amount_cents",))),
}
_PLAN = _object(_PLAN_FIELDS, ("name", "code", "interval", "amount_cents", "amount_currency"))
_PLAN_UPDATE = _object({**_PLAN_FIELDS, "cascade_updates": _boolean()})
_PLAN_OVERRIDES = _object({key: _PLAN_FIELDS[key] for key in (
    "name", "description", "invoice_display_name", "amount_cents", "amount_currency", "trial_period", "charges",
    "minimum_commitment", "tax_codes", "usage_thresholds")})

_SUBSCRIPTION = _object({
    "external_customer_id": _string(), "plan_code": _string(), "external_id": _string(), "name": _string(),
    "billing_time": _choice(("calendar", "anniversary")), "subscription_at": _datetime(), "ending_at": _datetime(),
    "plan_overrides": _PLAN_OVERRIDES,
}, ("external_customer_id", "plan_code"))
_SUBSCRIPTION_UPDATE = _object({"name": _string(), "subscription_at": _datetime(), "ending_at": _datetime(),
                                "plan_overrides": _PLAN_OVERRIDES})

_LIFETIME_USAGE = _object({"external_historical_usage_amount_cents": _cents()},
                          ("external_historical_usage_amount_cents",))

_EVENT = _object({
    "transaction_id": _string(), "external_subscription_id": _string(), "code": _string(),
    "timestamp": {"type": ["string", "integer", "number"], "examples": ["2026-11-24T10:00:00Z", 1795500000]},
    "properties": _FREE_OBJECT, "precise_total_amount_cents": _decimal(),
}, ("transaction_id", "external_subscription_id", "code"))
# Lago's instant estimate: the event happens now (no timestamp) and needs no transaction_id.
_INSTANT_EVENT = _object({key: _EVENT["properties"][key] for key in (
    "transaction_id", "external_subscription_id", "code", "properties")}, ("external_subscription_id", "code"))
_EXPRESSION = _object({"expression": _text(), "event": _object({
    "code": _string(), "timestamp": _EVENT["properties"]["timestamp"], "properties": _FREE_OBJECT})},
    ("expression",))

_COUPON_FIELDS: dict[str, Schema] = {
    "name": _string(), "code": _string(), "description": _text(), "coupon_type": _choice(COUPON_TYPES),
    "amount_cents": _cents(), "amount_currency": _currency(), "percentage_rate": _decimal(),
    "frequency": _choice(COUPON_FREQUENCIES), "frequency_duration": _integer(1, MAX_DAYS),
    "expiration": _choice(COUPON_EXPIRATIONS), "expiration_at": _datetime(), "reusable": _boolean(),
    "applies_to": _object({"plan_codes": _strings(), "billable_metric_codes": _strings()}),
}
_COUPON = _object(_COUPON_FIELDS, ("name", "code", "coupon_type", "frequency", "expiration"))
_APPLIED_COUPON = _object({
    "external_customer_id": _string(), "coupon_code": _string(), "amount_cents": _cents(),
    "amount_currency": _currency(), "percentage_rate": _decimal(), "frequency": _choice(COUPON_FREQUENCIES),
    "frequency_duration": _integer(1, MAX_DAYS),
}, ("external_customer_id", "coupon_code"))

_ADD_ON = _object({"name": _string(), "code": _string(), "invoice_display_name": _string(), "description": _text(),
                   "amount_cents": _cents(), "amount_currency": _currency(), "tax_codes": _TAX_CODES},
                  ("name", "code", "amount_cents", "amount_currency"))
_TAX = _object({"name": _string(), "code": _string(), "rate": _decimal(), "description": _text(),
                "applied_to_organization": _boolean()}, ("name", "code", "rate"))

_METADATA = _list_of(_object({"key": _string(), "value": _string()}, ("key", "value")))
_RECURRING_RULE = _object({
    "trigger": _choice(("interval", "threshold")), "method": _choice(("fixed", "target")),
    "interval": _choice(("weekly", "monthly", "quarterly", "semiannual", "yearly")),
    "threshold_credits": _decimal(), "target_ongoing_balance": _decimal(), "paid_credits": _decimal(),
    "granted_credits": _decimal(), "started_at": _datetime(), "expiration_at": _datetime(),
    "transaction_name": _string(), "invoice_requires_successful_payment": _boolean(),
    "transaction_metadata": _METADATA,
}, ("trigger",))
_WALLET_FIELDS: dict[str, Schema] = {
    "external_customer_id": _string(), "name": _string(), "code": _string(), "rate_amount": _decimal(),
    "currency": _currency(), "paid_credits": _decimal(), "granted_credits": _decimal(),
    "expiration_at": _datetime(), "priority": _integer(1, 50), "transaction_name": _string(),
    "invoice_requires_successful_payment": _boolean(), "ignore_paid_top_up_limits_on_creation": _boolean(),
    "paid_top_up_min_amount_cents": _integer(1), "paid_top_up_max_amount_cents": _integer(1),
    "applies_to": _object({"fee_types": _list_of(_choice(FEE_TYPES)), "billable_metric_codes": _strings()}),
    "recurring_transaction_rules": _list_of(_RECURRING_RULE), "transaction_metadata": _METADATA,
    "metadata": _ITEM_METADATA,
}
_WALLET = _object(_WALLET_FIELDS, ("external_customer_id", "rate_amount"))
_CUSTOMER_WALLET = _object({key: shape for key, shape in _WALLET_FIELDS.items() if key != "external_customer_id"},
                           ("rate_amount",))
_WALLET_UPDATE = _object({key: _WALLET_FIELDS[key] for key in (
    "name", "code", "expiration_at", "priority", "invoice_requires_successful_payment", "paid_top_up_min_amount_cents",
    "paid_top_up_max_amount_cents", "applies_to", "recurring_transaction_rules", "metadata")})
_WALLET_TRANSACTION = _object({
    "wallet_id": _string(), "name": _string(), "paid_credits": _decimal(), "granted_credits": _decimal(),
    "voided_credits": _decimal(), "ignore_paid_top_up_limits": _boolean(),
    "invoice_requires_successful_payment": _boolean(), "metadata": _METADATA,
}, ("wallet_id",))

_ALERT_THRESHOLD = _object({"value": {"oneOf": [{"type": "integer", "minimum": 0}, _decimal()]},
                            "code": _nullable(_string()), "recurring": _boolean()}, ("value",))
_ALERT_THRESHOLDS = _list_of(_ALERT_THRESHOLD, MAX_THRESHOLDS)
_ALERT = _object({"alert_type": _choice(SUBSCRIPTION_ALERT_TYPES), "code": _string(), "name": _nullable(_string()),
                  "billable_metric_code": _nullable(_string()), "thresholds": _ALERT_THRESHOLDS},
                 ("alert_type", "code", "thresholds"))
_ALERT_UPDATE = _object({key: _ALERT["properties"][key] for key in ("code", "name", "billable_metric_code",
                                                                    "thresholds")})
_WALLET_ALERT = _object({"alert_type": _choice(WALLET_ALERT_TYPES), "code": _string(), "name": _nullable(_string()),
                         "thresholds": _ALERT_THRESHOLDS}, ("alert_type", "code", "thresholds"))
_WALLET_ALERT_UPDATE = _object({key: _WALLET_ALERT["properties"][key] for key in ("code", "name", "thresholds")})

_ONE_OFF_FEE = _object({
    "add_on_code": _string(), "unit_amount_cents": _cents(), "units": _decimal(), "description": _text(),
    "invoice_display_name": _string(), "tax_codes": _TAX_CODES, "from_datetime": _datetime(),
    "to_datetime": _datetime(),
}, ("add_on_code",))
_INVOICE = _object({"external_customer_id": _string(), "currency": _currency(), "fees": _list_of(_ONE_OFF_FEE)},
                   ("external_customer_id", "fees"))
# Lago's InvoicePreviewInput (the body itself, not under a root key); `customer` names one, or describes one.
_INVOICE_PREVIEW = _object({
    "customer": _object({"external_id": _string(), "name": _string(), "currency": _currency(),
                         "timezone": _string(64, examples=["Europe/Paris"]), "address_line1": _string(),
                         "address_line2": _string(), "city": _string(), "state": _string(), "zipcode": _string(),
                         "country": _string(2, pattern="^[A-Za-z]{2}$"), "tax_identification_number": _string(),
                         "shipping_address": _object({"address_line1": _string(), "address_line2": _string(),
                                                      "city": _string(), "state": _string(), "zipcode": _string(),
                                                      "country": _string(2, pattern="^[A-Za-z]{2}$")})}),
    "plan_code": _string(), "subscription_at": _datetime(), "billing_time": _choice(("calendar", "anniversary")),
    "coupons": _list_of(_object({"code": _string(), "amount_cents": _cents(), "amount_currency": _currency(),
                                 "percentage_rate": _decimal()}, ("code",))),
    "subscriptions": _object({"external_ids": {**_strings(1), "minItems": 1}}, ("external_ids",)),
}, ("customer",))
# Lago's invoice metadata: the whole list of pairs (an `id` keeps a pair, the pairs not sent are removed).
_INVOICE_METADATA = _list_of(_object({"id": _string(), "key": _string(MAX_INVOICE_METADATA_KEY),
                                      "value": _string(MAX_INVOICE_METADATA_VALUE)}, ("key", "value")),
                             MAX_INVOICE_METADATA_PAIRS)
_INVOICE_UPDATE = _object({"payment_status": _choice(PAYMENT_STATUSES), "metadata": _INVOICE_METADATA})

_CREDIT_NOTE_ITEMS = _list_of(_object({"fee_id": _string(), "amount_cents": _integer(1)}, ("fee_id", "amount_cents")))
_CREDIT_NOTE = _object({
    "invoice_id": _string(), "reason": _choice(("duplicated_charge", "product_unsatisfactory", "order_change",
                                                "order_cancellation", "fraudulent_charge", "other")),
    "description": _text(), "credit_amount_cents": _cents(), "refund_amount_cents": _cents(),
    "items": _CREDIT_NOTE_ITEMS, "metadata": _ITEM_METADATA,
}, ("invoice_id", "items"))
_CREDIT_NOTE_ESTIMATE = _object({"invoice_id": _string(), "items": _CREDIT_NOTE_ITEMS}, ("invoice_id", "items"))
_CREDIT_NOTE_UPDATE = _object({"refund_status": _choice(REFUND_STATUSES), "metadata": _ITEM_METADATA})
_FEE_UPDATE = _object({"payment_status": _choice(FEE_PAYMENT_STATUSES)}, ("payment_status",))

# A manual payment (Lago's PaymentCreateInput); `paid_at` a date or a date-time, as Lago parses it.
_PAYMENT = _object({"invoice_id": _string(), "amount_cents": _integer(1), "reference": _string(40),
                    "paid_at": {"type": "string", "examples": ["2026-11-20", "2026-11-20T10:00:00Z"]}},
                   ("invoice_id", "amount_cents", "reference"))
# Lago's optional body of retry_payment: the saved method to charge (Tally's `lago_id`), else the default one.
_RETRY_PAYMENT = _object({"payment_method": _object({"payment_method_type": _choice(("provider",)),
                                                     "payment_method_id": _string()})})

# Lago's PaymentRequestCreateInput; the email defaults to the customer's (the first of its addresses).
_PAYMENT_REQUEST = _object({"external_customer_id": _string(), "email": _string(),
                            "lago_invoice_ids": {**_strings(MAX_INVOICES), "minItems": 1}},
                           ("external_customer_id", "lago_invoice_ids"))

# Tally's own: the embed token of a customer's widgets (docs/embedding.md).
_EMBED = _object({"external_subscription_id": _string(), "widgets": {**_list_of(_choice(EMBED_WIDGETS), 4),
                                                                     "minItems": 1},
                  "expires_in": _integer(int(EMBED_MIN_TTL.total_seconds()), int(EMBED_MAX_TTL.total_seconds()))})

_WEBHOOK_ENDPOINT_FIELDS: dict[str, Schema] = {
    "webhook_url": _string(1024, format="uri"), "signature_algo": _choice(SIGNATURE_ALGOS), "name": _string(),
    "event_types": _strings(),
}
_WEBHOOK_ENDPOINT = _object(_WEBHOOK_ENDPOINT_FIELDS, ("webhook_url",))
# Lago's features: `config.select_options` only for a `select` privilege; `privileges`, on update, the whole list.
_PRIVILEGE = _object({"code": _string(), "name": _nullable(_string()), "value_type": _choice(VALUE_TYPES),
                      "config": _object({"select_options": {**_strings(), "minItems": 1}})}, ("code",))
_FEATURE_FIELDS: dict[str, Schema] = {"code": _string(), "name": _nullable(_string()),
                                      "description": _nullable(_string(FEATURE_MAX_DESCRIPTION)),
                                      "privileges": _list_of(_PRIVILEGE)}
_FEATURE = _object(_FEATURE_FIELDS, ("code",))
_FEATURE_UPDATE = _object({key: _FEATURE_FIELDS[key] for key in ("name", "description", "privileges")})
# {feature_code: {privilege_code: value}}: each value of its privilege's value_type.
_PRIVILEGE_VALUE: Schema = {"oneOf": [{"type": "integer"}, {"type": "boolean"}, _string()]}
_ENTITLEMENTS: Schema = {"type": "object", "additionalProperties": {
    "type": "object", "additionalProperties": _PRIVILEGE_VALUE}}
_WEBHOOK_ENDPOINT_UPDATE = _object(_WEBHOOK_ENDPOINT_FIELDS)

# ---------------------------------------------------------------- responses

_ERROR = _object({"status": {"type": "integer"}, "error": {"type": "string"}, "code": {"type": "string"},
                  "error_details": {"type": "object"}}, ("status", "error"))
_META = _object({"current_page": {"type": "integer"}, "next_page": {"type": ["integer", "null"]},
                 "prev_page": {"type": ["integer", "null"]}, "total_pages": {"type": "integer"},
                 "total_count": {"type": "integer"}},
                ("current_page", "next_page", "prev_page", "total_pages", "total_count"))

# What the official client requires of each answer (docs API.md, "What the client requires").
_RESOURCES: dict[str, tuple[str, ...]] = {
    "Customer": ("lago_id", "external_id", "created_at", "applicable_timezone"),
    "BillableMetric": ("lago_id", "name", "code", "created_at", "filters"),
    "Plan": ("lago_id", "name", "code", "created_at"),
    "Charge": ("lago_id", "lago_billable_metric_id", "code", "billable_metric_code", "created_at", "charge_model",
               "invoiceable", "regroup_paid_fees", "pay_in_advance", "prorated", "min_amount_cents", "properties",
               "filters"),
    "ChargeFilter": ("lago_id", "charge_code", "invoice_display_name", "properties", "values"),
    "Subscription": ("lago_id",),
    "Event": ("transaction_id", "external_subscription_id", "code", "timestamp"),
    "Invoice": ("lago_id", "number", "status", "payment_status", "currency", "total_amount_cents"),
    "Wallet": ("lago_id", "external_customer_id", "status", "currency", "rate_amount", "balance_cents"),
    "WalletTransaction": ("lago_id", "lago_wallet_id", "status", "transaction_type", "amount", "credit_amount"),
    "Coupon": ("lago_id", "name", "code", "created_at", "expiration"),
    "AppliedCoupon": ("lago_id", "external_customer_id", "coupon_code", "status"),
    "AddOn": ("lago_id", "name", "code", "amount_cents", "amount_currency", "created_at"),
    "Tax": ("lago_id", "name", "code", "rate", "created_at"),
    "Alert": ("lago_id", "lago_organization_id", "alert_type", "code", "thresholds", "created_at"),
    "CreditNote": ("lago_id", "invoice_number", "credit_status", "refund_status", "total_amount_cents"),
    "EstimatedCreditNote": ("lago_invoice_id", "items"),
    "Fee": ("lago_id", "amount_cents", "amount_currency", "payment_status"),
    "FeeEstimate": ("amount_cents", "amount_currency"),
    "Mrr": ("month", "currency", "amount_cents"),
    "GrossRevenue": ("month", "currency", "amount_cents", "invoices_count"),
    "InvoicedUsage": ("month", "code", "currency", "amount_cents"),
    "OverdueBalance": ("month", "currency", "amount_cents", "lago_invoice_ids"),
    "InvoiceCollection": ("month", "currency", "payment_status", "invoices_count", "amount_cents"),
    "WebhookEndpoint": ("lago_id", "webhook_url", "signature_algo"),
    "CustomerUsage": ("from_datetime", "to_datetime", "currency", "amount_cents", "charges_usage"),
    "PortalUrl": ("portal_url",),
    "EmbedToken": ("token", "expires_at", "urls"),
    "Payment": ("lago_id", "invoice_ids", "invoice_numbers", "amount_cents", "amount_currency", "payment_status",
                "type", "reference", "created_at"),
    "PaymentReceipt": ("lago_id", "number", "payment", "created_at"),
    "PaymentMethod": ("lago_id", "is_default", "payment_provider_type", "provider_method_id", "created_at"),
    "PaymentRequest": ("lago_id", "email", "amount_cents", "amount_currency", "payment_status", "created_at",
                       "customer", "invoices"),
    "CustomerCheckoutUrl": ("lago_customer_id", "external_customer_id", "payment_provider", "checkout_url"),
    "InvoicePaymentDetails": ("lago_customer_id", "lago_invoice_id", "external_customer_id", "payment_provider",
                              "payment_url"),
    "WalletTransactionPaymentDetails": ("lago_customer_id", "lago_wallet_transaction_id", "external_customer_id",
                                        "payment_provider", "payment_url"),
    "PublicKey": ("public_key",),
    "Feature": ("code", "name", "description", "privileges", "created_at"),
    "PlanEntitlement": ("code", "name", "description", "privileges"),
    "SubscriptionEntitlement": ("code", "name", "description", "privileges", "overrides"),
    "LifetimeUsage": ("lago_id", "lago_subscription_id", "external_subscription_id",
                      "external_historical_usage_amount_cents", "invoiced_usage_amount_cents",
                      "current_usage_amount_cents", "from_datetime", "to_datetime"),
    "ProjectedUsage": ("from_datetime", "to_datetime", "currency", "amount_cents", "projected_amount_cents",
                       "charges_usage"),
    "ExpressionResult": ("value",),
}


def _components() -> Schema:
    schemas: dict[str, Schema] = {
        "Error": _ERROR, "PaginationMeta": _META,
        "CustomerInput": _CUSTOMER, "BillableMetricInput": _BILLABLE_METRIC, "PlanInput": _PLAN,
        "PlanUpdateInput": _PLAN_UPDATE, "SubscriptionInput": _SUBSCRIPTION,
        "SubscriptionUpdateInput": _SUBSCRIPTION_UPDATE, "EventInput": _EVENT, "CouponInput": _COUPON,
        "CouponUpdateInput": _object(_COUPON_FIELDS), "AppliedCouponInput": _APPLIED_COUPON, "AddOnInput": _ADD_ON,
        "AddOnUpdateInput": _object(_ADD_ON["properties"]), "TaxInput": _TAX,
        "TaxUpdateInput": _object(_TAX["properties"]), "WalletInput": _WALLET, "WalletUpdateInput": _WALLET_UPDATE,
        "WalletTransactionInput": _WALLET_TRANSACTION, "InvoiceInput": _INVOICE,
        "InvoiceUpdateInput": _INVOICE_UPDATE, "CreditNoteInput": _CREDIT_NOTE,
        "CreditNoteEstimateInput": _CREDIT_NOTE_ESTIMATE, "CreditNoteUpdateInput": _CREDIT_NOTE_UPDATE,
        "FeeUpdateInput": _FEE_UPDATE, "WebhookEndpointInput": _WEBHOOK_ENDPOINT,
        "WebhookEndpointUpdateInput": _WEBHOOK_ENDPOINT_UPDATE,
        "BillableMetricUpdateInput": _object(_BILLABLE_METRIC["properties"]),
        "PaymentInput": _PAYMENT, "RetryPaymentInput": _RETRY_PAYMENT, "PaymentRequestInput": _PAYMENT_REQUEST,
        "EmbedInput": _EMBED, "ChargeCreateInput": _CHARGE_CREATE, "ChargeUpdateInput": _CHARGE_UPDATE,
        "ChargeOverrideInput": _CHARGE_OVERRIDE, "ChargeFilterCreateInput": _CHARGE_FILTER_CREATE,
        "ChargeFilterUpdateInput": _CHARGE_FILTER_UPDATE, "CascadeInput": _CASCADE,
        "AlertInput": _ALERT, "AlertUpdateInput": _ALERT_UPDATE,
        "WalletAlertInput": _WALLET_ALERT, "WalletAlertUpdateInput": _WALLET_ALERT_UPDATE,
        "FeatureInput": _FEATURE, "FeatureUpdateInput": _FEATURE_UPDATE,
        "EntitlementsInput": _ENTITLEMENTS, "LifetimeUsageInput": _LIFETIME_USAGE,
        "ItemMetadataInput": _ITEM_METADATA_BODY, "CustomerWalletInput": _CUSTOMER_WALLET,
        "InstantEventInput": _INSTANT_EVENT,
        "EvaluateExpressionInput": _EXPRESSION,
    }
    for name, required in _RESOURCES.items():
        schemas[name] = {"type": "object", "required": list(required)}
    return {
        "schemas": schemas,
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                           "description": "The organization's API key"}},
    }


# ---------------------------------------------------------------- operations

_PAGING = ("page", "per_page")


def _query_parameter(name: str) -> Schema:
    shapes: dict[str, Schema] = {
        "page": _integer(1, MAX_PAGE), "per_page": _integer(1, MAX_PER_PAGE), "periods_count": _integer(1, MAX_PERIODS),
        "timestamp_from": _datetime(), "timestamp_to": _datetime(), "pay_in_advance": _boolean(),
        "payment_overdue": _boolean(), "payment_status": _choice(PAYMENT_STATUSES), "currency": _currency(),
        "months": _integer(0, MAX_MONTHS), "status": _string(),
        "on_termination_credit_note": _choice(("credit", "refund", "skip")),
        "on_termination_invoice": _choice(("generate", "skip")),
        "subscription_status": _choice(SUBSCRIPTION_STATUSES),
    }
    return {"name": name, "in": "query", "required": False, "schema": shapes.get(name, _string())}


def _required_query(name: str) -> Schema:
    return {"name": name, "in": "query", "required": True, "schema": _string()}


def _json_body(root: str, schema: str, *, array: bool = False) -> Schema:
    inner = {"type": "array", "items": _ref(schema), "minItems": 1, "maxItems": 100} if array else _ref(schema)
    return {"required": True, "content": {"application/json": {"schema": _object({root: inner}, (root,))}}}


def _answer(root: str | None, schema: str | None, *, many: bool = False, text: bool = False) -> Schema:
    if text:
        return {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
    if many:
        body = _object({root: {"type": "array", "items": _ref(schema)}, "meta": _ref("PaginationMeta")},
                       (root, "meta"))
    elif root is None:
        body = {"type": "object"}
    else:
        body = _object({root: _ref(schema)}, (root,))
    return {"description": "OK", "content": {"application/json": {"schema": body}}}


def _answer_all(root: str, schema: str) -> Schema:
    """A list without pages (`{"events": [...]}`)."""
    body = _object({root: {"type": "array", "items": _ref(schema)}}, (root,))
    return {"description": "OK", "content": {"application/json": {"schema": body}}}


_ERRORS = {
    "400": "BadRequest: a missing root key, a body that is not JSON or breaks the JSON limits",
    "401": "Unauthorized: no API key, or an unknown one",
    "404": "Not Found: `<resource>_not_found`, or `route_not_found`",
    "405": "Method Not Allowed",
    "422": "Unprocessable Entity: `validation_errors` with `error_details: {field: [reason]}`",
}


def _operation(operation_id: str, summary: str, ok: Schema, *, body: Schema | None = None,
               query: tuple[str, ...] = (), required_query: tuple[str, ...] = (), public: bool = False) -> Schema:
    parameters = [_required_query(name) for name in required_query] + [_query_parameter(name) for name in query]
    operation: Schema = {"operationId": operation_id, "summary": summary, "responses": {"200": ok}}
    for status, description in _ERRORS.items():
        operation["responses"][status] = {"description": description,
                                          "content": {"application/json": {"schema": _ref("Error")}}}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    if public:
        operation["security"] = []
        del operation["responses"]["401"]
    return operation


def _crud(resource: str, root: str, schema: str, key: str, *, plural: str | None = None,
          update_schema: str | None = None, list_query: tuple[str, ...] = ()) -> dict[str, Schema]:
    """The five routes of a resource addressed by `key`: create, list, get, update, delete."""
    plural = plural or f"{root}s"
    item = f"/{resource}/{{{key}}}"
    return {
        f"/{resource}": {
            "post": _operation(f"create_{root}", f"Create a {root}", _answer(root, schema),
                               body=_json_body(root, f"{schema}Input")),
            "get": _operation(f"list_{plural}", f"List {plural}", _answer(plural, schema, many=True),
                              query=(*list_query, *_PAGING)),
        },
        item: {
            "get": _operation(f"get_{root}", f"Get a {root}", _answer(root, schema)),
            "put": _operation(f"update_{root}", f"Update a {root}", _answer(root, schema),
                              body=_json_body(root, update_schema or f"{schema}Input")),
            "delete": _operation(f"delete_{root}", f"Delete a {root}", _answer(root, schema)),
        },
    }


def _alerts(base: str, owner: str, schema: str, query: tuple[str, ...]) -> dict[str, Schema]:
    """A subscription's or a wallet's alerts: one or a batch created, listed, and each read, updated, deleted."""
    op = _operation
    create = {"required": True, "content": {"application/json": {"schema": {"oneOf": [
        _object({"alert": _ref(f"{schema}Input")}, ("alert",)),
        _object({"alerts": _list_of(_ref(f"{schema}Input"))}, ("alerts",))]}}}}
    created = {"description": "OK", "content": {"application/json": {"schema": {"oneOf": [
        _object({"alert": _ref("Alert")}, ("alert",)),
        _object({"alerts": {"type": "array", "items": _ref("Alert")}}, ("alerts",))]}}}}
    return {
        base: {
            "get": op(f"list_{owner}_alerts", f"List a {owner}'s alerts", _answer("alerts", "Alert", many=True),
                      query=(*query, *_PAGING)),
            "post": op(f"create_{owner}_alerts", f"Create a {owner}'s alert (`alert`), or several at once (`alerts`)",
                       created, body=create, query=query),
            "delete": op(f"delete_{owner}_alerts", f"Delete all of a {owner}'s alerts", _answer(None, None),
                         query=query),
        },
        f"{base}/{{code}}": {
            "get": op(f"get_{owner}_alert", f"Get a {owner}'s alert", _answer("alert", "Alert"), query=query),
            "put": op(f"update_{owner}_alert", f"Update a {owner}'s alert", _answer("alert", "Alert"),
                      body=_json_body("alert", f"{schema}UpdateInput"), query=query),
            "delete": op(f"delete_{owner}_alert", f"Delete a {owner}'s alert", _answer("alert", "Alert"),
                         query=query),
        },
    }


def _paths() -> dict[str, Schema]:
    op = _operation
    paths: dict[str, Schema] = {}
    paths.update(_crud("add_ons", "add_on", "AddOn", "code", update_schema="AddOnUpdateInput"))
    paths.update(_crud("billable_metrics", "billable_metric", "BillableMetric", "code",
                       update_schema="BillableMetricUpdateInput"))
    paths.update(_crud("coupons", "coupon", "Coupon", "code", update_schema="CouponUpdateInput"))
    paths.update(_crud("plans", "plan", "Plan", "code", update_schema="PlanUpdateInput"))
    paths.update(_crud("taxes", "tax", "Tax", "code", plural="taxes", update_schema="TaxUpdateInput"))
    paths.update(_crud("webhook_endpoints", "webhook_endpoint", "WebhookEndpoint", "lago_id",
                       update_schema="WebhookEndpointUpdateInput"))
    paths.update(_crud("wallets", "wallet", "Wallet", "lago_id", update_schema="WalletUpdateInput",
                       list_query=("external_customer_id",)))
    paths["/wallets/{lago_id}"]["delete"] = op("terminate_wallet", "Terminate a wallet", _answer("wallet", "Wallet"))

    paths["/applied_coupons"] = {
        "post": op("apply_coupon", "Apply a coupon to a customer", _answer("applied_coupon", "AppliedCoupon"),
                   body=_json_body("applied_coupon", "AppliedCouponInput")),
        "get": op("list_applied_coupons", "List applied coupons",
                  _answer("applied_coupons", "AppliedCoupon", many=True),
                  query=("external_customer_id", "status", *_PAGING)),
    }
    paths["/customers/{external_customer_id}/applied_coupons/{applied_coupon_id}"] = {
        "delete": op("terminate_applied_coupon", "Terminate an applied coupon",
                     _answer("applied_coupon", "AppliedCoupon"))}

    paths["/credit_notes"] = {
        "post": op("create_credit_note", "Create a credit note", _answer("credit_note", "CreditNote"),
                   body=_json_body("credit_note", "CreditNoteInput")),
        "get": op("list_credit_notes", "List credit notes", _answer("credit_notes", "CreditNote", many=True),
                  query=("external_customer_id", "invoice_id", *_PAGING)),
    }
    paths["/credit_notes/estimate"] = {"post": op(
        "estimate_credit_note", "Estimate a credit note", _answer("estimated_credit_note", "EstimatedCreditNote"),
        body=_json_body("credit_note", "CreditNoteEstimateInput"))}
    paths["/credit_notes/{lago_id}"] = {
        "get": op("get_credit_note", "Get a credit note", _answer("credit_note", "CreditNote")),
        "put": op("update_credit_note", "Update a credit note's refund status", _answer("credit_note", "CreditNote"),
                  body=_json_body("credit_note", "CreditNoteUpdateInput")),
    }
    paths["/credit_notes/{lago_id}/void"] = {"put": op("void_credit_note", "Void a credit note",
                                                       _answer("credit_note", "CreditNote"))}
    paths["/credit_notes/{lago_id}/download"] = {"post": op("download_credit_note", "Make a credit note's PDF",
                                                            _answer("credit_note", "CreditNote"))}

    paths["/customers"] = {
        "post": op("create_customer", "Create or update a customer (by external_id)",
                   _answer("customer", "Customer"), body=_json_body("customer", "CustomerInput")),
        "get": op("list_customers", "List customers", _answer("customers", "Customer", many=True),
                  query=("search_term", *_PAGING)),
    }
    paths["/customers/{external_id}"] = {
        "get": op("get_customer", "Get a customer", _answer("customer", "Customer")),
        "delete": op("delete_customer", "Delete a customer", _answer("customer", "Customer")),
    }
    paths["/customers/{external_id}/current_usage"] = {"get": op(
        "get_customer_current_usage", "A subscription's usage in its current period",
        _answer("customer_usage", "CustomerUsage"), required_query=("external_subscription_id",))}
    paths["/customers/{external_id}/past_usage"] = {"get": op(
        "get_customer_past_usage", "A subscription's usage in its billed periods",
        _answer("usage_periods", "CustomerUsage", many=True), required_query=("external_subscription_id",),
        query=("billable_metric_code", "periods_count", *_PAGING))}
    paths["/customers/{external_id}/portal_url"] = {"get": op(
        "get_customer_portal_url", "A signed link to the customer's portal", _answer("customer", "PortalUrl"))}
    paths["/customers/{external_id}/embed_token"] = {"post": op(
        "create_customer_embed_token", "A signed, short-lived token for the customer's embeddable widgets (Tally)",
        _answer("embed", "EmbedToken"), body=_json_body("embed", "EmbedInput"))}

    paths["/events"] = {
        "post": op("create_event", "Send an event", _answer("event", "Event"), body=_json_body("event", "EventInput")),
        "get": op("list_events", "List events", _answer("events", "Event", many=True),
                  query=("external_subscription_id", "code", "timestamp_from", "timestamp_to", *_PAGING)),
    }
    paths["/events/batch"] = {"post": op("create_events_batch", "Send up to 100 events, all or nothing",
                                         _answer_all("events", "Event"),
                                         body=_json_body("events", "EventInput", array=True))}
    paths["/events/estimate_fees"] = {"post": op(
        "estimate_event_fees", "Estimate the fees of a pay-in-advance event", _answer_all("fees", "FeeEstimate"),
        body=_json_body("event", "EventInput"))}
    paths["/events/{transaction_id}"] = {"get": op("get_event", "Get an event", _answer("event", "Event"))}

    for report, root, schema, summary in (
            ("mrr", "mrrs", "Mrr", "Monthly recurring revenue per month and currency"),
            ("gross_revenue", "gross_revenues", "GrossRevenue", "Revenue invoiced per month and currency"),
            ("invoiced_usage", "invoiced_usages", "InvoicedUsage", "Usage invoiced per month, metric and currency"),
            ("overdue_balance", "overdue_balances", "OverdueBalance", "What overdue invoices owe, per month due"),
            ("invoice_collection", "invoice_collections", "InvoiceCollection",
             "Finalized invoices per month, currency and payment status")):
        paths[f"/analytics/{report}"] = {"get": op(f"list_{root}", summary, _answer_all(root, schema),
                                                   query=("currency", "months", "external_customer_id"))}

    paths["/fees"] = {"get": op("list_fees", "List fees", _answer("fees", "Fee", many=True),
                                query=("external_subscription_id", "external_customer_id", "pay_in_advance",
                                       *_PAGING))}
    paths["/fees/{lago_id}"] = {
        "get": op("get_fee", "Get a fee", _answer("fee", "Fee")),
        "put": op("update_fee", "Update a fee's payment status", _answer("fee", "Fee"),
                  body=_json_body("fee", "FeeUpdateInput")),
    }

    paths["/invoices"] = {
        "post": op("create_invoice", "Create a one-off invoice (add-ons)", _answer("invoice", "Invoice"),
                   body=_json_body("invoice", "InvoiceInput")),
        "get": op("list_invoices", "List invoices", _answer("invoices", "Invoice", many=True),
                  query=("external_customer_id", "status", "payment_overdue", *_PAGING)),
    }
    paths["/invoices/{lago_id}"] = {
        "get": op("get_invoice", "Get an invoice", _answer("invoice", "Invoice")),
        "put": op("update_invoice", "Update an invoice's payment status", _answer("invoice", "Invoice"),
                  body=_json_body("invoice", "InvoiceUpdateInput")),
    }
    for action, method, summary in (("finalize", "put", "Finalize a draft invoice"),
                                    ("refresh", "put", "Compute a draft invoice again"),
                                    ("void", "post", "Void a finalized invoice"),
                                    ("download", "post", "Make an invoice's PDF")):
        paths[f"/invoices/{{lago_id}}/{action}"] = {method: op(f"{action}_invoice", summary,
                                                               _answer("invoice", "Invoice"))}

    paths["/invoices/{lago_id}/payment_url"] = {"post": op(
        "invoice_payment_url", "A signed link to the page where the customer pays the invoice",
        _answer("invoice_payment_details", "InvoicePaymentDetails"))}
    paths["/invoices/{lago_id}/retry_payment"] = {"post": op(
        "retry_invoice_payment", "Charge the invoice again (default method, or the one named); the invoice after",
        _answer("invoice", "Invoice"),
        body={"required": False, "content": {"application/json": {"schema": _ref("RetryPaymentInput")}}})}

    paths["/payments"] = {
        "post": op("create_payment", "Record a manual payment (partial payments lower what is due)",
                   _answer("payment", "Payment"), body=_json_body("payment", "PaymentInput")),
        "get": op("list_payments", "List payments", _answer("payments", "Payment", many=True),
                  query=("external_customer_id", "invoice_id", *_PAGING)),
    }
    paths["/payments/{lago_id}"] = {"get": op("get_payment", "Get a payment", _answer("payment", "Payment"))}
    paths["/payment_receipts"] = {"get": op(
        "list_payment_receipts", "List payment receipts", _answer("payment_receipts", "PaymentReceipt", many=True),
        query=("invoice_id", *_PAGING))}
    paths["/payment_receipts/{lago_id}"] = {"get": op("get_payment_receipt", "Get a payment receipt",
                                                      _answer("payment_receipt", "PaymentReceipt"))}
    paths["/payment_requests"] = {
        "post": op("create_payment_request",
                   "Ask a customer to pay overdue invoices of one currency at once (charged, or emailed a link)",
                   _answer("payment_request", "PaymentRequest"),
                   body=_json_body("payment_request", "PaymentRequestInput")),
        "get": op("list_payment_requests", "List payment requests",
                  _answer("payment_requests", "PaymentRequest", many=True),
                  query=("external_customer_id", "payment_status", "currency", *_PAGING)),
    }
    paths["/payment_requests/{lago_id}"] = {"get": op("get_payment_request", "Get a payment request",
                                                      _answer("payment_request", "PaymentRequest"))}
    paths["/customers/{external_id}/payment_requests"] = {"get": op(
        "list_customer_payment_requests", "List a customer's payment requests",
        _answer("payment_requests", "PaymentRequest", many=True), query=("payment_status", "currency", *_PAGING))}
    paths["/customers/{external_id}/payment_methods"] = {"get": op(
        "list_customer_payment_methods", "List a customer's saved payment methods",
        _answer("payment_methods", "PaymentMethod", many=True), query=_PAGING)}
    paths["/customers/{external_id}/payment_methods/{lago_id}"] = {"delete": op(
        "delete_payment_method", "Remove a saved payment method (detached at the provider)",
        _answer("payment_method", "PaymentMethod"))}
    paths["/customers/{external_id}/payment_methods/{lago_id}/set_as_default"] = {"put": op(
        "set_default_payment_method", "Make a saved payment method the customer's default",
        _answer("payment_method", "PaymentMethod"))}
    paths["/customers/{external_id}/checkout_url"] = {"post": op(
        "generate_customer_checkout_url", "A signed link to the page where the customer adds a payment method",
        _answer("customer", "CustomerCheckoutUrl"))}

    paths["/subscriptions"] = {
        "post": op("create_subscription", "Subscribe a customer to a plan", _answer("subscription", "Subscription"),
                   body=_json_body("subscription", "SubscriptionInput")),
        "get": op("list_subscriptions", "List subscriptions", _answer("subscriptions", "Subscription", many=True),
                  query=("external_customer_id", "plan_code", "status", *_PAGING)),
    }
    paths["/subscriptions/{external_id}"] = {
        "get": op("get_subscription", "Get a subscription", _answer("subscription", "Subscription")),
        "put": op("update_subscription", "Update a subscription", _answer("subscription", "Subscription"),
                  body=_json_body("subscription", "SubscriptionUpdateInput")),
        "delete": op("terminate_subscription", "Terminate a subscription (its final invoice at once)",
                     _answer("subscription", "Subscription"),
                     query=("on_termination_credit_note", "on_termination_invoice")),
    }
    paths["/subscriptions/{external_id}/lifetime_usage"] = {
        "get": op("get_subscription_lifetime_usage", "A subscription's lifetime usage and its thresholds' progress",
                  _answer("lifetime_usage", "LifetimeUsage")),
        "put": op("update_subscription_lifetime_usage", "Set the usage billed before Tally (historical usage)",
                  _answer("lifetime_usage", "LifetimeUsage"), body=_json_body("lifetime_usage", "LifetimeUsageInput")),
    }

    paths.update(_charge_paths())
    paths.update(_alerts("/subscriptions/{external_id}/alerts", "subscription", "Alert", ("subscription_status",)))
    paths.update(_alerts("/customers/{external_customer_id}/wallets/{wallet_code}/alerts", "wallet", "WalletAlert",
                         ()))

    paths["/wallet_transactions"] = {"post": op(
        "create_wallet_transactions", "Top up, grant or void credits",
        _answer_all("wallet_transactions", "WalletTransaction"),
        body=_json_body("wallet_transaction", "WalletTransactionInput"))}
    paths["/wallet_transactions/{lago_id}/payment_url"] = {"post": op(
        "wallet_transaction_payment_url", "A signed link to the page where the customer pays a top-up's invoice",
        _answer("wallet_transaction_payment_details", "WalletTransactionPaymentDetails"))}
    paths["/wallets/{lago_id}/wallet_transactions"] = {"get": op(
        "list_wallet_transactions", "List a wallet's transactions",
        _answer("wallet_transactions", "WalletTransaction", many=True),
        query=("status", "transaction_type", *_PAGING))}

    paths.update(_misc_paths())
    paths["/fees/{lago_id}"]["delete"] = op("delete_fee", "Delete a fee that is on no invoice", _answer("fee", "Fee"))

    paths["/webhooks/json_public_key"] = {"get": op(
        "get_webhook_json_public_key", "The public key that verifies `jwt` webhooks (base64 PEM)",
        _answer("webhook", "PublicKey"))}
    paths["/webhooks/public_key"] = {"get": op(
        "get_webhook_public_key", "The same key, as bare base64 text (Lago's older form)", _answer(None, None,
                                                                                                   text=True))}
    paths.update(_entitlement_paths())
    paths["/openapi.json"] = {"get": op("get_openapi_document", "This document", _answer(None, None), public=True)}

    for path, operations in paths.items():
        names = [segment[1:-1] for segment in path.split("/") if segment.startswith("{")]
        if names:
            operations["parameters"] = [{"name": name, "in": "path", "required": True, "schema": _string()}
                                        for name in names]
    return paths


def _optional_body(root: str, schema: str) -> Schema:
    return {**_json_body(root, schema), "required": False}


def _charge_paths() -> dict[str, Schema]:
    """A plan's charges and filters (edits of the plan), a subscription's charges and filters (its overrides)."""
    op = _operation
    charge, charges = _answer("charge", "Charge"), _answer("charges", "Charge", many=True)
    one_filter, filters = _answer("filter", "ChargeFilter"), _answer("filters", "ChargeFilter", many=True)
    plan, subscription = "/plans/{code}/charges", "/subscriptions/{external_id}/charges"
    status = ("subscription_status",)
    return {
        plan: {
            "post": op("create_plan_charge", "Add a charge to a plan", charge,
                       body=_json_body("charge", "ChargeCreateInput")),
            "get": op("list_plan_charges", "List a plan's charges", charges, query=_PAGING),
        },
        f"{plan}/{{charge_code}}": {
            "get": op("get_plan_charge", "Get a plan's charge", charge),
            "put": op("update_plan_charge", "Change a plan's charge", charge,
                      body=_json_body("charge", "ChargeUpdateInput")),
            "delete": op("delete_plan_charge", "Remove a charge from a plan", charge,
                         body=_optional_body("charge", "CascadeInput")),
        },
        f"{plan}/{{charge_code}}/filters": {
            "post": op("create_plan_charge_filter", "Add a filter to a plan's charge", one_filter,
                       body=_json_body("filter", "ChargeFilterCreateInput")),
            "get": op("list_plan_charge_filters", "List a plan's charge's filters", filters, query=_PAGING),
        },
        f"{plan}/{{charge_code}}/filters/{{filter_id}}": {
            "get": op("get_plan_charge_filter", "Get a filter of a plan's charge", one_filter),
            "put": op("update_plan_charge_filter", "Change a filter of a plan's charge", one_filter,
                      body=_json_body("filter", "ChargeFilterUpdateInput")),
            "delete": op("delete_plan_charge_filter", "Remove a filter from a plan's charge", one_filter,
                         body=_optional_body("filter", "CascadeInput")),
        },
        subscription: {
            "get": op("list_subscription_charges", "List a subscription's charges (its overrides applied)", charges,
                      query=(*status, *_PAGING)),
        },
        f"{subscription}/{{charge_code}}": {
            "get": op("get_subscription_charge", "Get a subscription's charge", charge, query=status),
            "put": op("override_subscription_charge", "Override a charge for one subscription", charge,
                      body=_json_body("charge", "ChargeOverrideInput"), query=status),
        },
        f"{subscription}/{{charge_code}}/filters": {
            "post": op("create_subscription_charge_filter", "Add a filter to a subscription's charge", one_filter,
                       body=_json_body("filter", "ChargeFilterCreateInput"), query=status),
            "get": op("list_subscription_charge_filters", "List a subscription's charge's filters", filters,
                      query=(*status, *_PAGING)),
        },
        f"{subscription}/{{charge_code}}/filters/{{filter_id}}": {
            "get": op("get_subscription_charge_filter", "Get a filter of a subscription's charge", one_filter,
                      query=status),
            "put": op("update_subscription_charge_filter", "Change a filter of a subscription's charge", one_filter,
                      body=_json_body("filter", "ChargeFilterUpdateInput"), query=status),
            "delete": op("delete_subscription_charge_filter", "Remove a filter from a subscription's charge",
                         one_filter, query=status),
        },
    }


def _entitlement_paths() -> dict[str, Schema]:
    """Features, and the entitlements of plans and subscriptions (docs/api.md, Features and entitlements)."""
    op = _operation
    paths = _crud("features", "feature", "Feature", "code", update_schema="FeatureUpdateInput",
                  list_query=("search_term",))
    paths["/features/{code}/privileges/{privilege_code}"] = {"delete": op(
        "delete_feature_privilege", "Delete a privilege, and its value in every plan and subscription",
        _answer("feature", "Feature"))}
    plan_list, sub_list = _answer_all("entitlements", "PlanEntitlement"), _answer_all("entitlements",
                                                                                        "SubscriptionEntitlement")
    status = ("subscription_status",)
    paths["/plans/{code}/entitlements"] = {
        "post": op("create_plan_entitlements", "Replace the plan's entitlements with those sent", plan_list,
                   body=_json_body("entitlements", "EntitlementsInput")),
        "get": op("list_plan_entitlements", "List the plan's entitlements", plan_list),
        "patch": op("update_plan_entitlements", "Add or change the entitlements sent; the others stay", plan_list,
                    body=_json_body("entitlements", "EntitlementsInput")),
    }
    paths["/plans/{code}/entitlements/{feature_code}"] = {
        "get": op("get_plan_entitlement", "Get one feature of the plan", _answer("entitlement", "PlanEntitlement")),
        "delete": op("delete_plan_entitlement", "Take a feature out of the plan",
                     _answer("entitlement", "PlanEntitlement")),
    }
    paths["/plans/{code}/entitlements/{feature_code}/privileges/{privilege_code}"] = {"delete": op(
        "delete_plan_entitlement_privilege", "Remove one privilege's value from the plan's feature",
        _answer("entitlement", "PlanEntitlement"))}
    paths["/subscriptions/{external_id}/entitlements"] = {
        "get": op("list_subscription_entitlements", "The subscription's features: the plan's, overridden by its own",
                  sub_list, query=status),
        "patch": op("update_subscription_entitlements", "Override values for this subscription", sub_list,
                    body=_json_body("entitlements", "EntitlementsInput"), query=status),
    }
    paths["/subscriptions/{external_id}/entitlements/{feature_code}"] = {"delete": op(
        "delete_subscription_entitlement", "Drop the subscription's overrides of a feature (the plan's values stay)",
        _answer("entitlement", "SubscriptionEntitlement"), query=status)}
    paths["/subscriptions/{external_id}/entitlements/{feature_code}/privileges/{privilege_code}"] = {"delete": op(
        "delete_subscription_entitlement_privilege", "Drop the subscription's override of one privilege",
        _answer("entitlement", "SubscriptionEntitlement"), query=status)}
    return paths


def _misc_paths() -> dict[str, Schema]:
    """Item metadata, the lists and wallets under a customer, projected usage, instant estimates, expressions,
    deleting a fee, one wallet transaction (docs/api.md, "Metadata, nested lists, estimates and previews")."""
    op = _operation
    paths: dict[str, Schema] = {}
    metadata_body = {"required": True, "content": {"application/json": {"schema": _ITEM_METADATA_BODY}}}
    metadata_answer = {"description": "OK", "content": {"application/json": {"schema": _ref("ItemMetadataInput")}}}
    for item, name in (("/credit_notes/{lago_id}", "credit_note"), ("/plans/{code}", "plan"),
                       ("/wallets/{lago_id}", "wallet"),
                       ("/customers/{external_customer_id}/wallets/{wallet_code}", "customer_wallet")):
        label = name.replace("_", " ")
        paths[f"{item}/metadata"] = {
            "post": op(f"replace_{name}_metadata", f"Replace a {label}'s metadata", metadata_answer,
                       body=metadata_body),
            "patch": op(f"merge_{name}_metadata", f"Merge keys into a {label}'s metadata", metadata_answer,
                        body=metadata_body),
            "delete": op(f"delete_{name}_metadata", f"Remove a {label}'s metadata", metadata_answer),
        }
        paths[f"{item}/metadata/{{key}}"] = {"delete": op(f"delete_{name}_metadata_key",
                                                          f"Remove one key of a {label}'s metadata",
                                                          metadata_answer)}

    customer = "/customers/{external_customer_id}"
    for nested, schema, query in (("invoices", "Invoice", ("status", "payment_overdue")),
                                  ("subscriptions", "Subscription", ("plan_code", "status")),
                                  ("payments", "Payment", ("invoice_id",)), ("credit_notes", "CreditNote", ()),
                                  ("applied_coupons", "AppliedCoupon", ("status",))):
        paths[f"{customer}/{nested}"] = {"get": op(f"list_customer_{nested}", f"List a customer's {nested}",
                                                   _answer(nested, schema, many=True), query=(*query, *_PAGING))}
    paths[f"{customer}/projected_usage"] = {"get": op(
        "get_customer_projected_usage", "The current period's usage and its projection to the period's end",
        _answer("customer_projected_usage", "ProjectedUsage"), required_query=("external_subscription_id",))}
    paths[f"{customer}/wallets"] = {
        "post": op("create_customer_wallet", "Create a wallet for the customer", _answer("wallet", "Wallet"),
                   body=_json_body("wallet", "CustomerWalletInput")),
        "get": op("list_customer_wallets", "List the customer's wallets", _answer("wallets", "Wallet", many=True),
                  query=_PAGING),
    }
    paths[f"{customer}/wallets/{{code}}"] = {
        "get": op("get_customer_wallet", "Get the customer's wallet of this code", _answer("wallet", "Wallet")),
        "put": op("update_customer_wallet", "Update the customer's wallet of this code", _answer("wallet", "Wallet"),
                  body=_json_body("wallet", "WalletUpdateInput")),
        "delete": op("terminate_customer_wallet", "Terminate the customer's wallet of this code",
                     _answer("wallet", "Wallet")),
    }

    paths["/invoices/preview"] = {"post": op(
        "preview_invoice", "The invoice a new subscription would start with, or a subscription's next (not stored)",
        _answer("invoice", "Invoice"),
        body={"required": True, "content": {"application/json": {"schema": _INVOICE_PREVIEW}}})}
    paths["/events/estimate_instant_fees"] = {"post": op(
        "estimate_instant_fees", "What one event would cost now on its pay-in-advance charges (nothing stored)",
        _answer_all("fees", "FeeEstimate"), body=_json_body("event", "InstantEventInput"))}
    paths["/events/batch_estimate_instant_fees"] = {"post": op(
        "batch_estimate_instant_fees", "The same for up to 100 events, all or nothing",
        _answer_all("fees", "FeeEstimate"), body=_json_body("events", "InstantEventInput", array=True))}
    paths["/billable_metrics/evaluate_expression"] = {"post": op(
        "evaluate_billable_metric_expression", "An expression's value on one sample event",
        _answer("expression_result", "ExpressionResult"),
        body={"required": False, "content": {"application/json": {"schema": _EXPRESSION}}})}
    paths["/wallet_transactions/{lago_id}"] = {"get": op("get_wallet_transaction", "Get a wallet transaction",
                                                         _answer("wallet_transaction", "WalletTransaction"))}
    return paths


@cache
def document() -> Schema:
    """The OpenAPI 3.1 document (built once per process: it describes code, which does not change)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tally API", "version": "1.0.0",
            "description": "Lago's REST API v1, as Tally serves it. Amounts are integers in minor units; unit "
                           "prices, rates and credits are decimal strings. Errors: "
                           '`{"status", "error", "code", "error_details"}`.',
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": _components(),
    }


@bp.get("/openapi.json")
def openapi_document():
    """Public, as Lago's: it describes the API, it does not open it."""
    return jsonify(document())
