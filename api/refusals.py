"""Fields of Lago's requests that Tally does not honour yet: refused, never silently dropped.

One registry, keyed by operation as Lago's OpenAPI description names it ("POST /customers", with Lago's
path): the request body's field paths from its top (`customer.a.b`, `events[].b` for each element of
a list; an error names the path under the root key) and the query parameters Tally does not act on.
A request that sends one of them (a value other than null, [] or {}) answers 422 `validation_errors`
with `{"<path>": ["not_supported_yet"]}` before its handler runs, so nothing is written.
tests/api/test_honour_or_refuse.py sends every field of Lago's description to every operation Tally
serves and holds each one to "honoured or refused"; docs/api.md's coverage table is generated from
this registry (tools/api_coverage.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from flask import request

from api.common import read_json
from billing.errors import ValidationFailed

NOT_SUPPORTED = "not_supported_yet"

# Refused alike by a plan's create and update.
_PLAN_FIELDS = (
    "plan.bill_fixed_charges_monthly", "plan.charges[].accepts_target_wallet", "plan.charges[].applied_pricing_unit",
    "plan.charges[].applied_pricing_unit.conversion_rate", "plan.charges[].code", "plan.fixed_charges",
    "plan.fixed_charges[].add_on_id", "plan.fixed_charges[].charge_model", "plan.fixed_charges[].code",
    "plan.fixed_charges[].invoice_display_name", "plan.fixed_charges[].pay_in_advance",
    "plan.fixed_charges[].properties", "plan.fixed_charges[].properties.amount",
    "plan.fixed_charges[].properties.graduated_ranges",
    "plan.fixed_charges[].properties.graduated_ranges[].flat_amount",
    "plan.fixed_charges[].properties.graduated_ranges[].from_value",
    "plan.fixed_charges[].properties.graduated_ranges[].per_unit_amount",
    "plan.fixed_charges[].properties.graduated_ranges[].to_value", "plan.fixed_charges[].properties.volume_ranges",
    "plan.fixed_charges[].properties.volume_ranges[].flat_amount",
    "plan.fixed_charges[].properties.volume_ranges[].from_value",
    "plan.fixed_charges[].properties.volume_ranges[].per_unit_amount",
    "plan.fixed_charges[].properties.volume_ranges[].to_value", "plan.fixed_charges[].prorated",
    "plan.fixed_charges[].tax_codes", "plan.fixed_charges[].units", "plan.minimum_commitment.invoice_display_name",
    "plan.minimum_commitment.tax_codes",
)

# Refused alike by a subscription's create and update.
_SUBSCRIPTION_FIELDS = (
    "subscription.activation_rules", "subscription.activation_rules[].timeout_hours",
    "subscription.activation_rules[].type", "subscription.billing_entity_code", "subscription.consolidate_invoice",
    "subscription.invoice_custom_section", "subscription.invoice_custom_section.invoice_custom_section_codes",
    "subscription.invoice_custom_section.skip_invoice_custom_sections", "subscription.payment_method",
    "subscription.payment_method.payment_method_id", "subscription.payment_method.payment_method_type",
    "subscription.plan_overrides.amount_currency", "subscription.plan_overrides.charges[].applied_pricing_unit",
    "subscription.plan_overrides.charges[].applied_pricing_unit.conversion_rate",
    "subscription.plan_overrides.charges[].billable_metric_id", "subscription.plan_overrides.charges[].charge_model",
    "subscription.plan_overrides.charges[].code",
    "subscription.plan_overrides.fixed_charges[].apply_units_immediately",
    "subscription.plan_overrides.fixed_charges[].id",
    "subscription.plan_overrides.fixed_charges[].invoice_display_name",
    "subscription.plan_overrides.fixed_charges[].properties",
    "subscription.plan_overrides.fixed_charges[].properties.amount",
    "subscription.plan_overrides.fixed_charges[].properties.graduated_ranges",
    "subscription.plan_overrides.fixed_charges[].properties.graduated_ranges[].flat_amount",
    "subscription.plan_overrides.fixed_charges[].properties.graduated_ranges[].from_value",
    "subscription.plan_overrides.fixed_charges[].properties.graduated_ranges[].per_unit_amount",
    "subscription.plan_overrides.fixed_charges[].properties.graduated_ranges[].to_value",
    "subscription.plan_overrides.fixed_charges[].properties.volume_ranges",
    "subscription.plan_overrides.fixed_charges[].properties.volume_ranges[].flat_amount",
    "subscription.plan_overrides.fixed_charges[].properties.volume_ranges[].from_value",
    "subscription.plan_overrides.fixed_charges[].properties.volume_ranges[].per_unit_amount",
    "subscription.plan_overrides.fixed_charges[].properties.volume_ranges[].to_value",
    "subscription.plan_overrides.fixed_charges[].tax_codes", "subscription.plan_overrides.fixed_charges[].units",
    "subscription.plan_overrides.metadata", "subscription.plan_overrides.minimum_commitment.invoice_display_name",
    "subscription.plan_overrides.minimum_commitment.tax_codes", "subscription.purchase_order_number",
)

# Refused alike by a wallet's create and update.
_WALLET_FIELDS = (
    "wallet.billing_entity_code", "wallet.invoice_custom_section",
    "wallet.invoice_custom_section.invoice_custom_section_codes",
    "wallet.invoice_custom_section.skip_invoice_custom_sections", "wallet.payment_method",
    "wallet.payment_method.payment_method_id", "wallet.payment_method.payment_method_type",
    "wallet.purchase_order_number", "wallet.recurring_transaction_rules[].invoice_custom_section",
    "wallet.recurring_transaction_rules[].invoice_custom_section.invoice_custom_section_codes",
    "wallet.recurring_transaction_rules[].invoice_custom_section.skip_invoice_custom_sections",
    "wallet.recurring_transaction_rules[].payment_method",
    "wallet.recurring_transaction_rules[].payment_method.payment_method_id",
    "wallet.recurring_transaction_rules[].payment_method.payment_method_type",
    "wallet.recurring_transaction_rules[].purchase_order_number",
)


# Body fields Tally does not honour, per operation.
REFUSED_FIELDS: dict[str, tuple[str, ...]] = {
    "POST /customers": (
        "customer.account_type", "customer.billing_configuration.subscription_invoice_issuing_date_adjustment",
        "customer.billing_configuration.subscription_invoice_issuing_date_anchor",
        "customer.billing_configuration.sync", "customer.billing_entity_code", "customer.integration_customers",
        "customer.integration_customers[].external_customer_id", "customer.integration_customers[].id",
        "customer.integration_customers[].integration_code", "customer.integration_customers[].integration_type",
        "customer.integration_customers[].subsidiary_id", "customer.integration_customers[].sync_with_provider",
        "customer.invoice_custom_section_codes", "customer.logo_url", "customer.metadata[].id",
        "customer.skip_invoice_custom_sections",
    ),
    "POST /invoices": (
        "invoice.billing_entity_code", "invoice.fees[].from_datetime", "invoice.fees[].skip_psp",
        "invoice.fees[].to_datetime", "invoice.invoice_custom_section",
        "invoice.invoice_custom_section.invoice_custom_section_codes",
        "invoice.invoice_custom_section.skip_invoice_custom_sections", "invoice.payment_method",
        "invoice.payment_method.payment_method_id", "invoice.payment_method.payment_method_type",
    ),
    "POST /invoices/{lago_id}/void": ("credit_amount", "generate_credit_note", "refund_amount",),
    "POST /payment_requests": (
        "payment_request.payment_method", "payment_request.payment_method.payment_method_id",
        "payment_request.payment_method.payment_method_type",
    ),
    "POST /plans": (*_PLAN_FIELDS, "plan.charges[].applied_pricing_unit.code"),
    "POST /subscriptions": (
        *_SUBSCRIPTION_FIELDS,
        "authorization", "authorization.amount_cents", "authorization.amount_currency",
    ),
    "POST /wallet_transactions": (
        "wallet_transaction.invoice_custom_section",
        "wallet_transaction.invoice_custom_section.invoice_custom_section_codes",
        "wallet_transaction.invoice_custom_section.skip_invoice_custom_sections", "wallet_transaction.payment_method",
        "wallet_transaction.payment_method.payment_method_id", "wallet_transaction.payment_method.payment_method_type",
        "wallet_transaction.purchase_order_number",
    ),
    "POST /wallets": _WALLET_FIELDS,
    "PUT /plans/{code}": (*_PLAN_FIELDS, "plan.fixed_charges[].apply_units_immediately", "plan.fixed_charges[].id"),
    "PUT /subscriptions/{external_id}": _SUBSCRIPTION_FIELDS,
    "PUT /wallets/{lago_id}": (*_WALLET_FIELDS, "wallet.recurring_transaction_rules[].lago_id"),
}

_APPLIED_PRICING_UNIT = ("charge.applied_pricing_unit", "charge.applied_pricing_unit.code",
                         "charge.applied_pricing_unit.conversion_rate")
REFUSED_FIELDS.update({
    # The same wallets under their customer's path.
    "POST /customers/{external_customer_id}/wallets": REFUSED_FIELDS["POST /wallets"],
    "PUT /customers/{external_customer_id}/wallets/{code}": REFUSED_FIELDS["PUT /wallets/{lago_id}"],
    "POST /invoices/preview": (
        "billing_entity_code", "customer.integration_customers",
        "customer.integration_customers[].integration_code", "customer.integration_customers[].integration_type",
        "subscriptions.plan_code", "subscriptions.terminated_at",
        # A preview is one invoice: a coupon's number of periods shows on none.
        "coupons[].frequency_duration",
    ),
    "POST /plans/{code}/charges": _APPLIED_PRICING_UNIT,
    "PUT /plans/{code}/charges/{charge_code}": _APPLIED_PRICING_UNIT,
    "PUT /subscriptions/{external_id}/charges/{charge_code}": _APPLIED_PRICING_UNIT,
    # A subscription's own filter reaches no other plan.
    "POST /subscriptions/{external_id}/charges/{charge_code}/filters": ("filter.cascade_updates",),
    "PUT /subscriptions/{external_id}/charges/{charge_code}/filters/{filter_id}": ("filter.cascade_updates",),
})
# Operations whose body has no root key: an error names the field's whole path.
ROOTLESS = frozenset({"POST /invoices/preview", "POST /billable_metrics/evaluate_expression",
                      "POST /invoices/{lago_id}/void"})

# Query parameters Tally does not act on, per operation.
REFUSED_QUERY: dict[str, tuple[str, ...]] = {
    "DELETE /subscriptions/{external_id}": ("status",),
    "GET /applied_coupons": ("coupon_code[]",),
    "GET /credit_notes": (
        "issuing_date_from", "issuing_date_to", "search_term", "currency", "reason", "credit_status", "refund_status",
        "invoice_number", "amount_from", "amount_to", "self_billed", "billing_entity_codes[]",
    ),
    "GET /customers": (
        "account_type[]", "billing_entity_codes[]", "countries[]", "states[]", "zipcodes[]", "currencies[]",
        "has_tax_identification_number", "metadata[key]", "customer_type", "has_customer_type",
    ),
    "GET /customers/{external_customer_id}/current_usage": (
        "apply_taxes", "charge_id", "charge_code", "billable_metric_code", "group", "filter_by_charge_id",
        "filter_by_charge_code", "filter_by_group", "full_usage", "filter_by_presentation",
    ),
    "GET /customers/{external_customer_id}/payment_requests": ("billing_entity_codes[]",),
    "GET /events": ("timestamp_from_started_at",),
    "GET /fees": (
        "event_transaction_id", "currency", "fee_type", "billable_metric_code", "payment_status", "created_at_from",
        "created_at_to", "succeeded_at_from", "succeeded_at_to", "failed_at_from", "failed_at_to", "refunded_at_from",
        "refunded_at_to",
    ),
    "GET /invoices": (
        "amount_from", "amount_to", "issuing_date_from", "issuing_date_to", "statuses[]", "payment_statuses[]",
        "search_term", "currency", "payment_dispute_lost", "invoice_type", "self_billed", "billing_entity_codes[]",
        "metadata[key]",
    ),
    "GET /payment_requests": ("billing_entity_codes[]",),
    "GET /subscriptions": ("currency", "billing_entity_codes[]",),
    "GET /subscriptions/{external_id}": ("status",),
    "GET /wallets": ("currency", "billing_entity_codes[]",),
    "GET /wallets/{lago_id}/wallet_transactions": ("transaction_status",),
    "PUT /subscriptions/{external_id}": ("status",),
    # The lists under one customer: the top-level lists' refusals, for the filters Lago gives them.
    "GET /customers/{external_customer_id}/applied_coupons": ("coupon_code[]",),
    "GET /customers/{external_customer_id}/credit_notes": (
        "issuing_date_from", "issuing_date_to", "search_term", "reason", "credit_status", "refund_status",
        "invoice_number", "amount_from", "amount_to", "self_billed",
    ),
    "GET /customers/{external_customer_id}/invoices": (
        "amount_from", "amount_to", "issuing_date_from", "issuing_date_to", "payment_status", "search_term",
        "payment_dispute_lost", "invoice_type", "self_billed", "metadata[key]",
    ),
    "GET /customers/{external_customer_id}/projected_usage": ("apply_taxes",),
    "GET /customers/{external_customer_id}/subscriptions": ("billing_entity_codes[]",),
    "GET /customers/{external_customer_id}/wallets": ("billing_entity_codes[]",),
}


def operation_key(method: str, path: str) -> str:
    """`GET /customers/{}`: an operation with its path parameters unnamed (Flask's and Lago's names differ)."""
    path = re.sub(r"<(?:[a-z]+:)?\w+>", "{}", path.removeprefix("/api/v1"))
    path = re.sub(r"\{[^}]+\}", "{}", path)
    return f"{method.upper()} {path}"


@cache
def _registry() -> dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]]:
    keys = {*REFUSED_FIELDS, *REFUSED_QUERY}
    return {operation_key(*key.split(" ", 1)): (REFUSED_FIELDS.get(key, ()), REFUSED_QUERY.get(key, ()),
                                                key not in ROOTLESS)
            for key in keys}


def refused_for(method: str, rule: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """The refused body fields and query parameters of the operation served by this Flask rule, and whether its
    body has a root key."""
    return _registry().get(operation_key(method, rule), ((), (), True))


def _sent(value: Any) -> bool:
    return value is not None and value != [] and value != {}


def _values_at(document: Any, parts: list[str]) -> Iterator[Any]:
    if not parts:
        yield document
        return
    head, rest = parts[0], parts[1:]
    each = head.endswith("[]")
    name = head.removesuffix("[]")
    if not isinstance(document, dict) or name not in document:
        return
    value = document[name]
    if each:
        for item in value if isinstance(value, list) else ():
            yield from _values_at(item, rest)
    else:
        yield from _values_at(value, rest)


def refused_in(document: Any, fields: tuple[str, ...]) -> list[str]:
    """The refused field paths this request body sends."""
    return [path for path in fields if any(_sent(value) for value in _values_at(document, path.split(".")))]


def error_key(path: str, rooted: bool = True) -> str:
    """The name an error gives a field: its path under the root key (`customer.x.y` → `x.y`), as Lago's; the
    whole path in a body with no root key."""
    head, dot, rest = path.partition(".")
    return rest if rooted and dot and "." not in head else path


def refuse_unsupported() -> None:
    """Answer 422 not_supported_yet for a refused field or query parameter, before the handler writes anything."""
    if request.url_rule is None:
        return
    fields, query, rooted = refused_for(request.method, request.url_rule.rule)
    if not fields and not query:
        return
    refused = [name for name in query if any(value.strip() for value in request.args.getlist(name))]
    if fields:
        refused += [error_key(path, rooted) for path in refused_in(read_json(), fields)]
    if refused:
        raise ValidationFailed({name: [NOT_SUPPORTED] for name in refused})
