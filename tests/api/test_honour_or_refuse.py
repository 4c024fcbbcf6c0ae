"""Honour or refuse (issue 20): every request field of Lago's API that Tally serves is honoured or refused.

For each operation Tally serves with a request body (found in the app's url_map, so new routes are picked up
alone), each field path of Lago's description (tools/lago_operations.json) is sent, one at a time, in the
smallest valid request of honour_world.STARTS. The answer is either 2xx with the value read back in the
response (or, for a field with no echo, a named test that proves it in HONOURED_ELSEWHERE), or 422 with
`not_supported_yet` naming the field (api/refusals.py). Query parameters likewise: each one a served GET
list reads, or one it refuses. Lago's operations Tally does not serve answer Lago's JSON 404 or 405.
"""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.refusals import NOT_SUPPORTED, REFUSED_FIELDS, REFUSED_QUERY, ROOTLESS, error_key, operation_key
from billing import ports
from billing.metering.store import CLICKHOUSE, POSTGRES
from tests.api.honour_world import STARTS, World
from tools.api_coverage import LAGO, served_keys

ROOT = Path(__file__).resolve().parents[2]
SERVED = served_keys()
OPERATIONS = {f"{op['method']} {op['path']}": op for op in LAGO["operations"]}
WITH_BODY = sorted(key for key, op in OPERATIONS.items()
                   if operation_key(op["method"], op["path"]) in SERVED and op["body"] and op["body"]["fields"])
WITH_QUERY = sorted(key for key, op in OPERATIONS.items()
                    if operation_key(op["method"], op["path"]) in SERVED and op["query"])
UNSERVED = sorted(key for key, op in OPERATIONS.items() if operation_key(op["method"], op["path"]) not in SERVED)
# The operations the event store answers (they store, find or list events, or price one against the period's usage):
# walked on the SQL store and again on the ClickHouse store, as a `both_stores` test is (tests/conftest.py).
ON_THE_EVENT_STORE = frozenset({"POST /events", "POST /events/batch", "POST /events/estimate_fees",
                                "POST /events/estimate_instant_fees", "POST /events/batch_estimate_instant_fees",
                                "GET /events"})


def _on_each_store(keys: list[str]) -> list:
    """Each key on the SQL store (its id unchanged), and again on ClickHouse if the event store answers it."""
    return [pytest.param(key, POSTGRES, id=key) for key in keys] + [
        pytest.param(key, CLICKHOUSE, id=f"{key}-clickhouse") for key in keys if key in ON_THE_EVENT_STORE]

# Fields honoured without an echo in the response, each with the test that shows it.
_REGROUP = ("tests/scenarios/test_regroup_paid_fees.py::"
            "test_paid_fees_are_grouped_on_one_paid_invoice_when_the_period_is_billed")
_WEIGHTED = "tests/metering/test_events_and_metrics_api.py::test_metric_validation_follows_lagos_rules"
_OVERRIDES = "tests/api/test_plan_overrides_fields.py::test_plan_overrides_reach_the_subscriptions_own_plan"
_OVERRIDE_THRESHOLDS = "tests/scenarios/test_progressive_billing.py::test_plan_overrides_carry_their_own_thresholds"
HONOURED_ELSEWHERE: dict[str, dict[str, str]] = {
    # A metadata pair is whole or refused (invalid_key_value_pair): one field of it alone cannot be echoed.
    "PUT /invoices/{lago_id}": {
        f"invoice.metadata[].{name}": "tests/api/test_item_metadata_api.py::test_invoice_metadata_pairs"
        for name in ("id", "key", "value")},
    "POST /applied_coupons": {
        "applied_coupon.frequency_duration":
            "tests/scenarios/test_taxes_and_coupons.py::"
            "test_recurring_coupon_over_three_periods",
        "applied_coupon.percentage_rate":
            "tests/web/test_admin_discounts.py::"
            "test_apply_a_coupon_from_the_customer_page",
    },
    "POST /billable_metrics": {
        "billable_metric.weighted_interval": _WEIGHTED,
        "billable_metric.expression":
            "tests/metering/test_events_and_metrics_api.py::"
            "test_metric_validation_follows_lagos_rules",
    },
    "POST /coupons": {
        "coupon.expiration_at": "tests/scenarios/test_taxes_and_coupons.py::test_expired_coupon_is_not_applied",
        "coupon.frequency_duration":
            "tests/scenarios/test_taxes_and_coupons.py::"
            "test_recurring_coupon_over_three_periods",
        "coupon.percentage_rate": "tests/web/test_admin_discounts.py::test_apply_a_coupon_from_the_customer_page",
    },
    "POST /credit_notes": {
        "credit_note.offset_amount_cents":
            "tests/scenarios/test_invoice_lifecycle.py::"
            "test_credit_notes_offset_what_an_unpaid_invoice_owes_until_it_is_settled",
        "credit_note.refund_amount_cents":
            "tests/integration/test_provider_moves.py::"
            "test_a_customer_moved_to_gocardless_and_back_keeps_its_history_and_is_charged_by_its_current_provider",
    },
    "POST /customers": {
        "customer.billing_configuration.payment_provider":
            "tests/web/test_portal_provider_choice.py::"
            "test_a_previous_providers_card_is_listed_removable_only",
        "customer.billing_configuration.payment_provider_code":
            "tests/web/test_portal_provider_choice.py::"
            "test_a_previous_providers_card_is_listed_removable_only",
    },
    "POST /invoices": {
        "invoice.fees[].tax_codes":
            "tests/scenarios/test_add_ons_and_one_off_invoices.py::"
            "test_one_off_invoice_amounts_and_taxes_to_the_cent",
        "invoice.fees[].unit_amount_cents":
            "tests/scenarios/test_add_ons_and_one_off_invoices.py::"
            "test_one_off_invoice_amounts_and_taxes_to_the_cent",
    },
    "POST /invoices/{lago_id}/retry_payment": {
        "payment_method.payment_method_id":
            "tests/api/test_payments_api.py::"
            "test_retry_payment_charges_again_with_the_default_or_the_named_method",
        "payment_method.payment_method_type":
            "tests/api/test_payments_api.py::"
            "test_retry_payment_charges_again_with_the_default_or_the_named_method",
    },
    "POST /payment_requests": {
        "payment_request.email":
            "tests/api/test_payment_requests_api.py::"
            "test_a_request_is_charged_to_the_default_method_and_settles_every_invoice",
        "payment_request.external_customer_id":
            "tests/api/test_payment_requests_api.py::"
            "test_a_request_is_charged_to_the_default_method_and_settles_every_invoice",
        "payment_request.lago_invoice_ids":
            "tests/api/test_payment_requests_api.py::"
            "test_a_request_is_charged_to_the_default_method_and_settles_every_invoice",
    },
    "POST /payments": {
        "payment.paid_at": "tests/api/test_payments_api.py::test_manual_payments_are_recorded_listed_and_found",
    },
    "POST /plans": {
        "plan.charges[].regroup_paid_fees": _REGROUP,
        "plan.charges[].prorated":
            "tests/scenarios/test_prorated_seats.py::"
            "test_prorated_seats_are_billed_for_the_days_they_are_held",
    },
    "POST /subscriptions": {
        "subscription.plan_overrides.amount_cents": _OVERRIDES,
        "subscription.plan_overrides.usage_thresholds[].amount_cents": _OVERRIDE_THRESHOLDS,
        "subscription.plan_overrides.usage_thresholds[].recurring": _OVERRIDE_THRESHOLDS,
        "subscription.plan_overrides.usage_thresholds[].threshold_display_name": _OVERRIDE_THRESHOLDS,
        "subscription.plan_overrides.charges[].filters[].invoice_display_name": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.fixed_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.free_units": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.free_units_per_events": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.free_units_per_total_aggregation": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_percentage_ranges[].flat_amount":
            _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_percentage_ranges[].from_value":
            _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_percentage_ranges[].rate": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_percentage_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_ranges[].flat_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_ranges[].from_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_ranges[].per_unit_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.grouped_by": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.package_size": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.per_transaction_max_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.per_transaction_min_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.pricing_group_keys": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.rate": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.volume_ranges[].flat_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.volume_ranges[].from_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.volume_ranges[].per_unit_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.volume_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].values": _OVERRIDES,
        "subscription.plan_overrides.charges[].id": _OVERRIDES,
        "subscription.plan_overrides.charges[].invoice_display_name": _OVERRIDES,
        "subscription.plan_overrides.charges[].min_amount_cents": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.fixed_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.free_units": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.free_units_per_events": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.free_units_per_total_aggregation": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_percentage_ranges[].flat_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_percentage_ranges[].from_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_percentage_ranges[].rate": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_percentage_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_ranges[].flat_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_ranges[].from_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_ranges[].per_unit_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.grouped_by": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.package_size": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.per_transaction_max_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.per_transaction_min_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.presentation_group_keys[].options.display_in_invoice":
            _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.presentation_group_keys[].value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.pricing_group_keys": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.rate": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.volume_ranges[].flat_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.volume_ranges[].from_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.volume_ranges[].per_unit_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.volume_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].tax_codes": _OVERRIDES,
        "subscription.plan_overrides.description": _OVERRIDES,
        "subscription.plan_overrides.invoice_display_name": _OVERRIDES,
        "subscription.plan_overrides.minimum_commitment.amount_cents": _OVERRIDES,
        "subscription.plan_overrides.name": _OVERRIDES,
        "subscription.plan_overrides.tax_codes": _OVERRIDES,
        "subscription.plan_overrides.trial_period": _OVERRIDES,
    },
    "POST /wallet_transactions": {
        "wallet_transaction.ignore_paid_top_up_limits":
            "tests/scenarios/test_wallet_limits.py::"
            "test_paid_top_up_limits_refuse_with_lagos_errors_unless_ignored",
        "wallet_transaction.invoice_requires_successful_payment":
            "tests/api/test_payments_api.py::"
            "test_a_top_ups_payment_url_is_its_invoices_until_it_settles",
        "wallet_transaction.paid_credits":
            "tests/api/test_payments_api.py::"
            "test_a_top_ups_payment_url_is_its_invoices_until_it_settles",
        "wallet_transaction.voided_credits":
            "tests/scenarios/test_wallets.py::"
            "test_expiry_voids_what_is_left_and_terminate_and_void",
    },
    "POST /wallets": {
        "wallet.granted_credits": "tests/web/test_widgets.py::test_with_a_default_card_a_top_up_is_charged_by_itself",
        "wallet.ignore_paid_top_up_limits_on_creation":
            "tests/scenarios/test_wallet_limits.py::"
            "test_paid_top_up_limits_refuse_with_lagos_errors_unless_ignored",
        "wallet.paid_credits": "tests/web/test_admin_audit.py::test_a_portal_top_up_names_the_customer",
        "wallet.recurring_transaction_rules[].grants_target_top_up":
            "tests/scenarios/test_wallet_limits.py::"
            "test_a_target_rule_buys_at_least_the_minimum_or_grants",
        "wallet.recurring_transaction_rules[].target_ongoing_balance":
            "tests/scenarios/test_wallet_limits.py::"
            "test_a_target_rule_buys_at_least_the_minimum_or_grants",
        "wallet.recurring_transaction_rules[].threshold_credits":
            "tests/integration/test_audit_trail.py::"
            "test_wallet_changes_are_recorded",
        "wallet.transaction_metadata[].key":
            "tests/scenarios/test_wallet_limits.py::"
            "test_a_target_rule_buys_at_least_the_minimum_or_grants",
        "wallet.transaction_metadata[].value":
            "tests/scenarios/test_wallet_limits.py::"
            "test_a_target_rule_buys_at_least_the_minimum_or_grants",
        "wallet.transaction_name":
            "tests/scenarios/test_wallet_limits.py::"
            "test_a_target_rule_buys_at_least_the_minimum_or_grants",
    },
    "PUT /billable_metrics/{code}": {
        "billable_metric.weighted_interval": _WEIGHTED,
        "billable_metric.expression":
            "tests/metering/test_events_and_metrics_api.py::"
            "test_metric_validation_follows_lagos_rules",
    },
    "PUT /coupons/{code}": {
        "coupon.expiration_at": "tests/scenarios/test_taxes_and_coupons.py::test_expired_coupon_is_not_applied",
        "coupon.frequency_duration":
            "tests/scenarios/test_taxes_and_coupons.py::"
            "test_recurring_coupon_over_three_periods",
        "coupon.percentage_rate": "tests/web/test_admin_discounts.py::test_apply_a_coupon_from_the_customer_page",
    },
    "PUT /credit_notes/{lago_id}": {
        "credit_note.refund_status":
            "tests/scenarios/test_invoice_lifecycle.py::"
            "test_credit_note_on_a_taxed_fee_credit_and_refund_then_consumed_by_the_next_invoice",
    },
    "PUT /fees/{lago_id}": {
        "fee.payment_status":
            "tests/scenarios/test_regroup_paid_fees.py::"
            "test_paid_fees_are_grouped_on_one_paid_invoice_when_the_period_is_billed",
    },
    "PUT /plans/{code}": {
        "plan.charges[].regroup_paid_fees": _REGROUP,
        "plan.cascade_updates": "tests/web/test_admin_plans.py::test_an_edit_reaches_overridden_plans_only_when_asked",
        "plan.charges[].id": "tests/integration/test_plan_cascade.py::test_a_filter_the_child_removed_stays_removed",
        "plan.charges[].prorated":
            "tests/scenarios/test_prorated_seats.py::"
            "test_prorated_seats_are_billed_for_the_days_they_are_held",
    },
    "PUT /subscriptions/{external_id}": {
        "subscription.plan_overrides.amount_cents": _OVERRIDES,
        "subscription.plan_overrides.usage_thresholds[].amount_cents": _OVERRIDE_THRESHOLDS,
        "subscription.plan_overrides.usage_thresholds[].recurring": _OVERRIDE_THRESHOLDS,
        "subscription.plan_overrides.usage_thresholds[].threshold_display_name": _OVERRIDE_THRESHOLDS,
        "subscription.plan_overrides.charges[].filters[].invoice_display_name": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.fixed_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.free_units": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.free_units_per_events": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.free_units_per_total_aggregation": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_percentage_ranges[].flat_amount":
            _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_percentage_ranges[].from_value":
            _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_percentage_ranges[].rate": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_percentage_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_ranges[].flat_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_ranges[].from_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_ranges[].per_unit_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.graduated_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.grouped_by": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.package_size": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.per_transaction_max_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.per_transaction_min_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.pricing_group_keys": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.rate": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.volume_ranges[].flat_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.volume_ranges[].from_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.volume_ranges[].per_unit_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].properties.volume_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].filters[].values": _OVERRIDES,
        "subscription.plan_overrides.charges[].id": _OVERRIDES,
        "subscription.plan_overrides.charges[].invoice_display_name": _OVERRIDES,
        "subscription.plan_overrides.charges[].min_amount_cents": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.fixed_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.free_units": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.free_units_per_events": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.free_units_per_total_aggregation": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_percentage_ranges[].flat_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_percentage_ranges[].from_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_percentage_ranges[].rate": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_percentage_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_ranges[].flat_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_ranges[].from_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_ranges[].per_unit_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.graduated_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.grouped_by": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.package_size": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.per_transaction_max_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.per_transaction_min_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.presentation_group_keys[].options.display_in_invoice":
            _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.presentation_group_keys[].value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.pricing_group_keys": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.rate": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.volume_ranges[].flat_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.volume_ranges[].from_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.volume_ranges[].per_unit_amount": _OVERRIDES,
        "subscription.plan_overrides.charges[].properties.volume_ranges[].to_value": _OVERRIDES,
        "subscription.plan_overrides.charges[].tax_codes": _OVERRIDES,
        "subscription.plan_overrides.description": _OVERRIDES,
        "subscription.plan_overrides.invoice_display_name": _OVERRIDES,
        "subscription.plan_overrides.minimum_commitment.amount_cents": _OVERRIDES,
        "subscription.plan_overrides.name": _OVERRIDES,
        "subscription.plan_overrides.tax_codes": _OVERRIDES,
        "subscription.plan_overrides.trial_period": _OVERRIDES,
        "subscription.subscription_at":
            "tests/api/test_resources.py::"
            "test_subscriptions_pending_update_list_and_clock_activation",
    },
    "PUT /wallets/{lago_id}": {
        "wallet.recurring_transaction_rules[].grants_target_top_up":
            "tests/scenarios/test_wallet_limits.py::"
            "test_a_target_rule_buys_at_least_the_minimum_or_grants",
        "wallet.recurring_transaction_rules[].target_ongoing_balance":
            "tests/scenarios/test_wallet_limits.py::"
            "test_a_target_rule_buys_at_least_the_minimum_or_grants",
        "wallet.recurring_transaction_rules[].threshold_credits":
            "tests/integration/test_audit_trail.py::"
            "test_wallet_changes_are_recorded",
    },
}

_CHARGES = "tests/api/test_charge_subresources.py::"
_ADDED = _CHARGES + "test_a_charge_added_with_cascade_updates_reaches_overridden_subscriptions"
_CASCADE = _CHARGES + "test_charge_and_filter_edits_cascade_only_when_asked"
_FEATURES = "tests/api/test_entitlements_api.py::test_features_crud"
_ESTIMATES = "tests/api/test_customer_lists_and_estimates_api.py::"
_PREVIEW = "tests/api/test_invoice_preview_api.py::"
_PRORATED = "tests/scenarios/test_prorated_seats.py::test_prorated_seats_are_billed_for_the_days_they_are_held"
HONOURED_ELSEWHERE.update({
    # The charge rules of a plan's charges (billing.catalog), through the charge's own path.
    "POST /plans/{code}/charges": {
        "charge.cascade_updates": _ADDED, "charge.prorated": _PRORATED, "charge.regroup_paid_fees": _REGROUP},
    "PUT /plans/{code}/charges/{charge_code}": {
        "charge.cascade_updates": _CASCADE, "charge.prorated": _PRORATED, "charge.regroup_paid_fees": _REGROUP},
    "DELETE /plans/{code}/charges/{charge_code}": {"charge.cascade_updates": _ADDED},
    "POST /plans/{code}/charges/{charge_code}/filters": {
        "filter.cascade_updates": _CHARGES + "test_plan_charge_filters_through_the_client"},
    "PUT /plans/{code}/charges/{charge_code}/filters/{filter_id}": {"filter.cascade_updates": _CASCADE},
    "DELETE /plans/{code}/charges/{charge_code}/filters/{filter_id}": {"filter.cascade_updates": _CASCADE},
    "POST /features": {"feature.privileges[].config.select_options": _FEATURES},
    "PUT /features/{code}": {"feature.privileges[].config.select_options": _FEATURES,
                             "feature.privileges[].value_type": _FEATURES},
    "POST /billable_metrics/evaluate_expression": {"event.timestamp": _ESTIMATES + "test_evaluate_expression"},
    # Read back as each fee's `event_transaction_id`.
    "POST /events/estimate_instant_fees": {
        "event.transaction_id": _ESTIMATES + "test_instant_fee_estimates_store_nothing"},
    "POST /events/batch_estimate_instant_fees": {
        "events[].event.transaction_id": _ESTIMATES + "test_instant_fee_estimates_store_nothing"},
    "POST /invoices/preview": {
        "subscriptions.external_ids": _PREVIEW + "test_an_existing_subscriptions_next_invoice",
        **{f"coupons[].{name}": _PREVIEW + "test_a_new_subscriptions_first_invoice_writes_nothing"
           for name in ("amount_cents", "coupon_type", "percentage_rate")}},
    "POST /subscriptions/{external_id}/alerts": {
        "alert.billable_metric_code": "tests/api/test_alerts_api.py::test_subscription_alerts_crud"},
    "PUT /subscriptions/{external_id}/alerts/{code}": {
        "alert.billable_metric_code": "tests/api/test_alerts_api.py::test_subscription_alerts_crud"},
    # A pair's id keeps the pair (Lago answers it as `lago_id`).
    "PUT /invoices/{lago_id}": {
        "invoice.metadata[].id": "tests/api/test_item_metadata_api.py::test_invoice_metadata_pairs"},
    # The same service as /wallets, the customer named by the path.
    "POST /customers/{external_customer_id}/wallets": HONOURED_ELSEWHERE["POST /wallets"],
    "PUT /customers/{external_customer_id}/wallets/{code}": HONOURED_ELSEWHERE["PUT /wallets/{lago_id}"],
})

# Query parameters read where the world here cannot show it (no record to tell apart), each with the test that does.
_ANALYTICS = "tests/api/test_analytics_api.py::"
_PAST = "tests/metering/test_events_and_metrics_api.py::test_past_usage_is_the_usage_of_invoiced_periods"
_REQUESTS = "tests/api/test_payment_requests_api.py::test_requests_are_listed_newest_first_with_lagos_filters_and_pages"
_TERMINATION = "tests/scenarios/test_termination_credit_notes.py::"
HONOURED_QUERY: dict[str, dict[str, str]] = {
    "DELETE /subscriptions/{external_id}": {
        "on_termination_credit_note": _TERMINATION + "test_refund_gives_back_what_was_paid_for_the_unused_days",
        "on_termination_invoice": _TERMINATION
        + "test_skip_issues_no_credit_note_and_the_final_invoice_can_be_skipped_too"},
    **{f"GET /analytics/{report}": {"months": _ANALYTICS + "test_months_are_the_organizations_calendar_months",
                                    "currency": _ANALYTICS + "test_mrr_spreads_subscription_fees_by_interval"}
       for report in ("gross_revenue", "invoice_collection", "invoiced_usage", "mrr", "overdue_balance")},
    "GET /customers/{external_customer_id}/past_usage": {"billable_metric_code": _PAST, "periods_count": _PAST},
    "GET /customers/{external_customer_id}/payment_requests": {"payment_status": _REQUESTS},
    "GET /payment_requests": {"currency": _REQUESTS, "external_customer_id": _REQUESTS, "payment_status": _REQUESTS},
}
HONOURED_QUERY["GET /analytics/overdue_balance"]["external_customer_id"] = (
    _ANALYTICS + "test_overdue_balance_sums_what_overdue_invoices_still_owe")

# Values Lago's examples cannot have here: the world's own records, and Tally's currency.
def _value(world: World, path: str, example: Any) -> Any:
    leaf = path.rsplit(".", 1)[-1].removesuffix("[]")
    ids = world.ids
    fixed = {
        "currency": "EUR", "amount_currency": "EUR", "billable_metric_id": ids.get("metric"),
        "wallet_id": ids.get("wallet"), "external_customer_id": "cust", "external_subscription_id": "sub",
        "plan_code": "basic", "coupon_code": None, "add_on_code": "setup", "tax_codes": ["vat"],
        "invoice_id": None, "fee_id": None, "lago_invoice_ids": None, "code": world.unique("code"),
        "external_id": world.unique("ext"), "transaction_id": world.unique("tx"), "webhook_url": "https://example.com/h",
        "timestamp": "2026-11-05T10:00:00Z", "email": "someone@example.com", "id": ids.get("charge"),
        "values": (["eu", "us"] if path.startswith("billable_metric") else {"region": ["eu"]}) if "filter" in path
        else None,
        "percentage_rate": "10", "frequency": "once", "expiration": "no_expiration", "address_line2": "Suite 2",
        "billable_metric_codes": ["gb"], "plan_codes": ["basic"], "provider_payment_methods": ["card"],
        "ending_at": "2027-12-31T00:00:00Z", "expiration_at": "2027-12-31T00:00:00Z", "method": "fixed",
        "event_types": ["invoice.created"],
    }
    if leaf in fixed and fixed[leaf] is not None:
        return fixed[leaf]
    if isinstance(example, bool):
        return True  # Lago's defaults are mostly false: true shows whether it is read
    return example


# What an object or list element needs around a field set inside it (the world's records, fitting siblings).
def _context(world: World, prefix: str) -> dict:
    ids = world.ids
    known = {
        "subscription.plan_overrides.charges[].": {"id": ids["charge"], "properties": {"amount": "3"}},
        "plan.charges[].": {"billable_metric_id": ids["metric"], "charge_model": "standard",
                            "properties": {"amount": "1"}},
        "plan.charges[].filters[].": {"values": {"region": ["eu"]}, "properties": {"amount": "2"}},
        "subscription.plan_overrides.charges[].filters[].": {"values": {"region": ["eu"]},
                                                             "properties": {"amount": "2"}},
        "charge.properties.": {"amount": "1"},
        "charge.filters[].": {"values": {"region": ["eu"]}, "properties": {"amount": "2"}},
        "filter.properties.": {"amount": "2"},
        "coupons[].": {"coupon_type": "fixed_amount", "amount_cents": 100, "amount_currency": "EUR"},
        "billable_metric.filters[].": {"key": "region", "values": ["eu"]},
        "wallet.recurring_transaction_rules[].": {"trigger": "interval", "interval": "monthly", "paid_credits": "1"},
        "wallet.transaction_metadata[].": {"key": "k", "value": "v"},
        "wallet_transaction.metadata[].": {"key": "k", "value": "v"},
        "invoice.metadata[].": {"key": "k", "value": "v"},
        "wallet.recurring_transaction_rules[].transaction_metadata[].": {"key": "k", "value": "v"},
    }
    return copy.deepcopy(known.get(prefix, {}))


def _put(document: Any, parts: list[str], value: Any, fields: dict[str, dict], prefix: str) -> Any:
    """Set `value` at the path in the document, making the objects and one-element lists on the way."""
    head, rest = parts[0], parts[1:]
    name = head.removesuffix("[]")
    here = f"{prefix}{head}"
    if not rest:
        document[name] = value
        return document
    if head.endswith("[]"):
        items = document.get(name)
        if not isinstance(items, list) or not items:
            items = document[name] = [{**_required(fields, f"{here}."), **_context(_WORLD[0], f"{here}.")}]
        for item in items:
            _put(item, rest, value, fields, f"{here}.")
    else:
        child = document.get(name)
        if not isinstance(child, dict):
            child = document[name] = {**_required(fields, f"{here}."), **_context(_WORLD[0], f"{here}.")}
        _put(child, rest, value, fields, f"{here}.")
    return document


def _required(fields: dict[str, dict], prefix: str) -> dict:
    """An object holding the required fields of its schema (their examples), for a field set inside it."""
    made: dict[str, Any] = {}
    for path, spec in fields.items():
        rest = path.removeprefix(prefix)
        if path.startswith(prefix) and "." not in rest and spec["required"] and spec["type"] not in ("object", "array"):
            made[rest.removesuffix("[]")] = spec["example"]
    return made


def _same(sent: Any, found: Any) -> bool:
    if sent == found or str(sent) == str(found):
        return True
    if isinstance(sent, list) and isinstance(found, list):
        return all(any(_same(a, b) for b in found) for a in sent)
    if isinstance(sent, dict) and isinstance(found, dict):
        return all(k in found and _same(v, found[k]) for k, v in sent.items())
    if isinstance(sent, str) and isinstance(found, str) and len(sent) >= 19 and sent[:19] == found[:19]:
        return True  # a time, written with or without its fraction and zone
    try:
        return not isinstance(sent, bool) and Decimal(str(sent)) == Decimal(str(found))
    except (InvalidOperation, ValueError):
        return False


def _echoed(response: Any, leaf: str, value: Any) -> bool:
    """The value is read back somewhere in the response, under the field's own name."""
    if isinstance(response, dict):
        if leaf in response and _same(value, response[leaf]):
            return True
        if f"lago_{leaf}" in response and _same(value, response[f"lago_{leaf}"]):
            return True
        if leaf.endswith("_codes") and isinstance(value, list) and isinstance(response.get(leaf[:-6] + "es"), list):
            codes = [item.get("code") for item in response[leaf[:-6] + "es"] if isinstance(item, dict)]
            if set(value) <= set(codes):
                return True
        return any(_echoed(v, leaf, value) for v in response.values())
    if isinstance(response, list):
        return any(_echoed(v, leaf, value) for v in response)
    return False


def _at(document: Any, parts: list[str]) -> list[Any]:
    if not parts:
        return [document]
    name, each = parts[0].removesuffix("[]"), parts[0].endswith("[]")
    if not isinstance(document, dict) or name not in document:
        return []
    items = document[name] if each and isinstance(document[name], list) else [document[name]]
    return [found for item in items for found in _at(item, parts[1:])]


_WORLD: list[World] = []
# Updates whose record takes a new id at each change (a subscription's overridden filters are new rows).
_NEW_ID_EACH_CHANGE = frozenset({"PUT /subscriptions/{external_id}/charges/{charge_code}/filters/{filter_id}"})


def _probe(world: World, key: str, path: str, spec: dict) -> str | None:
    """None when the field is honoured or refused as it should be, else what went wrong."""
    _WORLD[:] = [world]
    leaf = path.rsplit(".", 1)[-1].removesuffix("[]")
    if key.startswith("PUT ") and leaf not in ("code", "external_id") and key not in _NEW_ID_EACH_CHANGE:
        # One record takes every change but a new identity: fewer requests, the same answers.
        url, body = world.starts.get(key) or world.starts.setdefault(key, STARTS[key](world))
    else:
        url, body = STARTS[key](world)
    fields = {f["path"]: f for f in OPERATIONS[key]["body"]["fields"]}
    refused = path in REFUSED_FIELDS.get(key, ())
    in_start = bool(_at(body, path.split(".")))  # the starting request needs it: honoured when it succeeds
    if not refused and spec["type"] in ("object", "array") and any(
            f.startswith(f"{path}.") or f.startswith(f"{path}[].") for f in fields):
        return None  # a container: each of its fields is held to the rule on its own
    value = _value(world, path, spec["example"])
    if spec["type"] == "object" and not value:
        value = _required(fields, f"{path}.") or {"x1": "x1"}
    elif spec["type"] == "array" and not value:
        value = [_required(fields, f"{path}[].") or "x1"]
    if in_start:
        value = _at(body, path.split("."))[0]
    body = _put(copy.deepcopy(body), path.split("."), value, fields, "")
    response = world.client.request(OPERATIONS[key]["method"], url, json=body)
    answer = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
    named = error_key(path, key not in ROOTLESS)
    if response.status_code == 422 and answer.get("error_details", {}).get(named) == [NOT_SUPPORTED]:
        return None if refused else f"{path}: refused but not in the registry"
    if refused:
        return f"{path}: in the registry, answered {response.status_code} {response.text[:200]}"
    if path in HONOURED_ELSEWHERE.get(key, {}) and response.status_code < 500:
        return None  # read (the value here may not fit this request): the named test shows it honoured
    if not 200 <= response.status_code < 300:
        return f"{path}: neither honoured nor refused: {response.status_code} {response.text[:300]}"
    if in_start or _echoed(answer, leaf, value):
        return None
    return f"{path}: accepted ({response.status_code}) but {value!r} is not read back"


@pytest.fixture
def world(live_server, org, clock, monkeypatch) -> World:
    # The walk reads only API answers: no invoice PDF rendered behind it (in process, the jobs' thread would
    # hold SQLite's write lock against the next request; with RQ the jobs are never run here anyway).
    monkeypatch.setattr(ports.runtime, "invoice_pdfs", False)
    clock.set("2026-11-10T12:00:00Z")
    client = httpx.Client(base_url=f"{live_server}/api/v1", headers={"Authorization": f"Bearer {org.api_key}"},
                          timeout=30)
    return World(client).build()


def test_every_served_operation_with_a_body_has_a_starting_request():
    assert [key for key in WITH_BODY if key not in STARTS] == []
    assert ON_THE_EVENT_STORE <= {*WITH_BODY, *WITH_QUERY}  # a key renamed would silently leave ClickHouse's walk


@pytest.mark.parametrize(("key", "events_store"), _on_each_store(WITH_BODY), indirect=["events_store"])
def test_each_field_is_honoured_or_refused(world, key, events_store):
    op = OPERATIONS[key]
    root = op["body"]["root"]
    # The starting request itself is valid (an operation whose only field is its root is proved by it alone).
    url, body = world.starts.setdefault(key, STARTS[key](world)) if key.startswith("PUT ") and \
        key not in _NEW_ID_EACH_CHANGE else STARTS[key](world)
    started = world.client.request(op["method"], url, json=body)
    # 405: Lago's answer to a state the world does not have (no payment provider, no overdue invoice).
    assert 200 <= started.status_code < 300 or started.status_code == 405, (key, started.status_code,
                                                                            started.text[:300])
    problems = [problem for spec in op["body"]["fields"] if spec["path"] != root
                if (problem := _probe(world, key, spec["path"], spec))]
    assert problems == [], f"{key}:\n" + "\n".join(problems)


# A value of each filter that matches none of the world's records (the default: an unknown name).
_NO_MATCH = {"currency": "USD", "status": "terminated", "status[]": "terminated", "payment_status": "failed",
             "months": "1", "timestamp_from": "2030-01-01T00:00:00Z", "timestamp_to": "2000-01-01T00:00:00Z",
             "transaction_type": "outbound", "payment_overdue": "true", "periods_count": "1",
             "external_customer_id": "nobody", "invoice_id": "1a901a90-1a90-1a90-1a90-1a901a901a90"}


@pytest.mark.parametrize(("key", "events_store"), _on_each_store(WITH_QUERY), indirect=["events_store"])
def test_each_query_parameter_is_read_or_refused(world, key, events_store):
    """A parameter is read when a value matching nothing changes the answer; else it is refused, or a named
    test shows it is read (HONOURED_QUERY). A GET is compared with the same list without it; an operation with a
    body with its starting request, which succeeds without it and must not with it (two fresh records); any other
    with the same request without it, on a path naming no record (nothing written either way)."""
    op = OPERATIONS[key]
    if op["method"] == "GET":
        world.more()  # records for a list's filters to tell apart
    url = re.sub(r"\{[^}]+\}", _path_value(world), op["path"])
    refused = REFUSED_QUERY.get(key, ())
    base_params = {"external_subscription_id": "sub"} if key.endswith("_usage") else {}
    plain = world.client.request(op["method"], url, params=base_params) if op["method"] == "GET" else None
    problems = []
    for parameter in op["query"]:
        name = parameter["name"]
        if name in ("page", "per_page") or name in base_params:
            continue
        value = _NO_MATCH.get(name, "no-such-value")
        start = STARTS[key](world) if key in STARTS else None
        response = world.client.request(op["method"], start[0] if start else url, params={**base_params, name: value},
                                        json=start[1] if start else None)
        refusal = response.status_code == 422 and response.json().get("error_details", {}).get(name) == [
            NOT_SUPPORTED]
        if name in refused:
            if not refusal:
                problems.append(f"{name}: in the registry, answered {response.status_code} {response.text[:200]}")
            continue
        if refusal:
            problems.append(f"{name}: refused but not in the registry")
        elif name in HONOURED_QUERY.get(key, {}):
            continue
        elif op["method"] != "GET" and start:
            fresh_url, fresh_body = STARTS[key](world)
            without = world.client.request(op["method"], fresh_url, json=fresh_body)
            if not (200 <= without.status_code < 300 and response.status_code >= 400):
                problems.append(f"{name}: {value!r} changes nothing: {without.status_code} without it, "
                                f"{response.status_code} with it")
        elif op["method"] != "GET":
            without = world.client.request(op["method"], url, params=base_params)
            if (response.status_code, response.content) == (without.status_code, without.content):
                problems.append(f"{name}: {value!r} changes nothing: neither read nor refused")
        elif plain is None or (response.status_code, response.content) == (plain.status_code, plain.content):
            problems.append(f"{name}: {value!r} changes nothing: neither read nor refused")
    assert problems == [], f"{key}:\n" + "\n".join(problems)


def _path_value(world: World):
    return lambda match: {"{external_customer_id}": "cust", "{external_id}": "sub", "{lago_id}": world.ids["wallet"]
                          }.get(match.group(0), "x")


def test_the_tests_named_as_proof_exist():
    for proofs in (*HONOURED_ELSEWHERE.values(), *HONOURED_QUERY.values()):
        for proof in proofs.values():
            file, _, name = proof.partition("::")
            assert re.search(rf"^def {re.escape(name)}\(", (ROOT / file).read_text(), re.M), proof


def test_the_registry_names_only_lago_operations_tally_serves_and_their_fields():
    for key, paths in REFUSED_FIELDS.items():
        assert operation_key(*key.split(" ", 1)) in SERVED, key
        known = {f["path"] for f in OPERATIONS[key]["body"]["fields"]}
        assert set(paths) <= known, (key, set(paths) - known)
    for key, names in REFUSED_QUERY.items():
        assert set(names) <= {q["name"] for q in OPERATIONS[key]["query"]}, key


@pytest.mark.parametrize("key", UNSERVED)
def test_an_operation_tally_does_not_serve_answers_lagos_json_404_or_405(live_server, org, key):
    method, path = key.split(" ", 1)
    url = live_server + "/api/v1" + re.sub(r"\{[^}]+\}", "x", path)
    response = httpx.request(method, url, headers={"Authorization": f"Bearer {org.api_key}"}, json={}, timeout=30)
    assert response.status_code in (404, 405), (key, response.status_code)
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == response.status_code and body["error"] in ("Not Found", "Method Not Allowed")
    assert isinstance(body["code"], str)  # route_not_found, or a record not found under a served prefix


def test_the_table_of_lagos_operations_is_whole():
    assert len(LAGO["operations"]) == len(OPERATIONS) == 202
    assert json.loads((ROOT / "tools/lago_operations.json").read_text())["source"].startswith("getlago/lago-openapi")
