"""Readable English for the reason codes the core returns (Lago's, and Tally's event errors)."""

from __future__ import annotations

from collections.abc import Mapping

from billing.metering.expression import ExpressionError, ExpressionTrial, parse_expression
from billing.screens.overview import EventRow

REASONS = {
    "value_is_mandatory": "Required",
    "value_already_exist": "Already used by another metric",
    "billable_metric_in_use": "Used by a plan: cannot change",
    "invalid_expression": "Not a valid expression",
    "not_compatible_with_aggregation_type": "Not possible with this aggregation",
    "value_is_too_long": "Too long",
    "value_is_invalid": "Not one of the choices",
    "invalid_type": "Not the right kind of value",
    "value_is_out_of_range": "Out of range",
    "invalid_format": "Not in the expected format",
}

# Where the field makes a reason clearer than the general wording.
FIELD_REASONS = {
    ("field_name", "value_is_mandatory"): "Required for this aggregation (or write an expression)",
    ("expression", "value_is_mandatory"): "Required for a custom aggregation",
    ("rounding_precision", "value_is_out_of_range"): "Between -15 and 15",
    ("rounding_precision", "invalid_type"): "A whole number, e.g. 2",
    ("filters", "invalid_format"): "One filter per line, written key: value1, value2",
    ("filters", "duplicate_key"): "Each key once only",
}

RANGES_RULE = ("The first range starts at 0, each next one where the previous one ends (or one above), "
               "and the last one has no end")

# Plans, charges and their pricing (billing.pricing's reasons are Lago's), and subscriptions.
PLAN_REASONS = {
    "value_already_exist": "Already used by another plan",
    "invalid_amount": "A number, 0 or more",
    "invalid_rate": "A percentage, 0 or more",
    "invalid_fixed_amount": "A number, 0 or more",
    "invalid_free_units_per_events": "A whole number above 0",
    "invalid_free_units_per_total_aggregation": "A number, 0 or more",
    "per_transaction_max_lower_than_per_transaction_min": "Lower than the minimum",
    "invalid_package_size": "A whole number above 0",
    "invalid_free_units": "A whole number, 0 or more",
    "missing_graduated_ranges": "Add at least one range",
    "missing_volume_ranges": "Add at least one range",
    "missing_graduated_percentage_ranges": "Add at least one range",
    "invalid_graduated_ranges": RANGES_RULE,
    "invalid_volume_ranges": RANGES_RULE,
    "invalid_graduated_percentage_ranges": RANGES_RULE,
    "invalid_aggregation_type_or_charge_model": "Not possible with this metric's aggregation",
    "billable_metric_not_found": "Choose one of the metrics",
    "charge_not_found": "This charge is no longer on the plan: reload the page",
    "not_supported_yet": "Not supported yet",
    "plan_in_use": "Subscribed customers use this plan: cannot change",
    "plan_has_live_subscriptions": "Customers are still subscribed to this plan: terminate their subscriptions first",
    "invalid_filter_values": "Not keys and values of the metric's filters",
    "invalid_value": "Not a number",
    "not_a_number": "Not a number",
    "too_many_decimals": "Too many decimals for this currency",
    "currencies_does_not_match": "This customer is billed in another currency",
    "plan_change_not_supported_yet": "Changing plans is not available yet",
    "plan_not_found": "Choose one of the plans",
    "invalid_date": "Not a valid date",
    "cannot_change_once_started": "Cannot change once started",
    "same_plan": "Already on this plan",
    "start_out_of_range": "Within 5 years before today and 10 years after",
}

PLAN_FIELD_REASONS = {
    ("amount_currency", "value_is_invalid"): "A currency code (ISO 4217), e.g. EUR",
    ("on_termination_credit_note", "invalid_value"): "Not one of the choices for the unused days",
    ("on_termination_invoice", "invalid_value"): "Not one of the choices for the final invoice",
    ("trial_period", "value_is_out_of_range"): "0 or more days",
    ("amount", "value_is_out_of_range"): "0 or more",
    ("min_amount", "value_is_out_of_range"): "0 or more",
    ("model", "invalid_aggregation_type_or_charge_model"): (
        "Not possible with this metric: dynamic needs a Sum metric, percentage cannot use Latest value"),
    ("external_id", "value_already_exist"): "Already used by another live subscription",
    ("ending_at", "invalid_date"): "A date after the start",
}

# Add-ons and one-off invoices (the add-on catalog's and one-off invoices' reasons are Lago's).
ADD_ON_REASONS = {
    "value_already_exist": "Already used by another add-on",
    "value_is_out_of_range": "Above 0",
    "value_is_invalid": "A currency code (ISO 4217), e.g. EUR",
    "invalid_value": "Not a number",
    "too_many_decimals": "Too many decimals for this currency",
    "add_on_not_found": "Choose one of the add-ons",
    "tax_not_found": "Choose among the taxes",
    "currencies_does_not_match": "This customer is billed in another currency",
    "fees_not_found": "Add at least one line",
}
ADD_ON_FIELD_REASONS = {
    ("units", "value_is_out_of_range"): "0 or more",
    ("units", "too_many_decimals"): "At most 15 decimals",
    ("unit_price", "value_is_out_of_range"): "0 or more",
    ("currency", "value_is_mandatory"): "The customer has no currency yet: choose one",
}

CHARGE_MODELS = {
    "standard": "Standard (price per unit)",
    "package": "Package (price per package of units)",
    "graduated": "Graduated (each tier priced on its own)",
    "volume": "Volume (all units at the tier reached)",
    "percentage": "Percentage (of an amount, per transaction)",
    "graduated_percentage": "Graduated percentage",
    "dynamic": "Dynamic (price sent with each event)",
}

INTERVALS = {"weekly": "Weekly", "monthly": "Monthly", "quarterly": "Quarterly", "semiannual": "Every six months",
             "yearly": "Yearly"}

BILLING_TIMES = {"calendar": "Calendar (periods start on the 1st)",
                 "anniversary": "Anniversary (periods start on the subscription day)"}

AGGREGATIONS = {
    "count_agg": "Count",
    "sum_agg": "Sum",
    "max_agg": "Max",
    "unique_count_agg": "Unique count",
    "latest_agg": "Latest value",
    "weighted_sum_agg": "Weighted sum",
    "custom_agg": "Custom (expression)",
}

ROUNDINGS = {"round": "Round", "ceil": "Round up (ceil)", "floor": "Round down (floor)"}

EXPRESSION_PROBLEMS = {
    "no_expression": "Write an expression to test.",
    "invalid_expression": "Not a valid expression",
    "missing_property": "The sample has no value for this property",
    "not_a_number": "Not a number",
    "division_by_zero": "Division by zero",
    "invalid_argument": "ROUND takes 0 to 15 digits",
    "unsupported_value": "A list or an object where a single value is needed",
    "overflow": "The result is too large",
    "invalid_json": "The sample properties are not valid JSON",
    "not_an_object": 'The sample properties must be a JSON object, e.g. {"size": 3}',
    "sample_too_long": "The sample properties are too long",
}

EVENT_ERRORS = {  # error -> (badge, reason)
    "metric_not_found": ("no metric", "No billable metric has this code: not billed"),
    "missing_field": ("missing field", "The metric's field is missing from the properties: counted as 0"),
    "invalid_value": ("not a number", "The metric's field is not a number: counted as 0"),
}
NO_SUBSCRIPTION = ("no subscription", "No subscription was live at this time: not billed")


WALLET_REASONS = {
    "amount_below_minimum": "Below this wallet's minimum paid top-up",
    "amount_above_maximum": "Above this wallet's maximum paid top-up",
    "must_be_greater_than_or_equal_min": "Lower than the minimum",
    "invalid_limitations": "Not fee types or billable metrics of this organization",
    "insufficient_credits": "More than the wallet holds",
    "value_must_be_positive": "A number above 0",
    "value_is_out_of_range": "A number above 0",
    "invalid_type": "Not a number",
    "is_terminated": "This wallet is terminated",
    "currencies_does_not_match": "This customer is billed in another currency",
}


def wallet_reason(field: str, code: str) -> str:
    """One reason code of a wallet form's field, in words."""
    return WALLET_REASONS.get(code) or reason(field, code)


def reason(field: str, code: str) -> str:
    """One reason code of one field, in words."""
    return FIELD_REASONS.get((field, code)) or REASONS.get(code) or code.replace("_", " ").capitalize()


def plan_reason(field: str, code: str) -> str:
    """One reason code of a plan, charge or subscription field, in words."""
    return (PLAN_FIELD_REASONS.get((field, code)) or FIELD_REASONS.get((field, code)) or PLAN_REASONS.get(code)
            or REASONS.get(code) or code.replace("_", " ").capitalize())


def add_on_reason(field: str, code: str) -> str:
    """One reason code of an add-on or one-off invoice field, in words."""
    return (ADD_ON_FIELD_REASONS.get((field, code)) or ADD_ON_REASONS.get(code) or REASONS.get(code)
            or code.replace("_", " ").capitalize())


def field_errors(details: Mapping[str, object], *, expression: object = None) -> dict[str, list[str]]:
    """ValidationFailed details (field -> reason codes) as field -> sentences.

    With the `expression` that was refused, its sentence says where the parser stopped.
    """
    errors: dict[str, list[str]] = {}
    for field, codes in details.items():
        codes = codes if isinstance(codes, list | tuple) else [codes]
        errors[field] = [reason(field, str(code)) for code in codes]
        if field == "expression" and "invalid_expression" in codes and isinstance(expression, str):
            where = _parse_failure(expression)
            if where:
                errors[field][list(codes).index("invalid_expression")] += f": {where}"
    return errors


def _parse_failure(expression: str) -> str | None:
    try:
        parse_expression(expression)
    except ExpressionError as failure:
        return failure.message.removeprefix(f"{failure.code}: ")
    return None


def expression_problem(trial: ExpressionTrial) -> str:
    text = EXPRESSION_PROBLEMS.get(trial.problem or "", (trial.problem or "").replace("_", " ").capitalize())
    if trial.detail and trial.problem != "no_expression":
        text = f"{text}: {trial.detail}"
    return text


def event_problems(event: EventRow) -> list[tuple[str, str]]:
    """Why an event may not be billed, as (badge, reason) in words; empty when nothing is wrong with it."""
    problems = []
    if event.error:
        if event.error.startswith("expression_failed:"):
            code = event.error.split(":", 1)[1]
            problem = EXPRESSION_PROBLEMS.get(code, code.replace("_", " ")).lower()
            problems.append(("expression failed", f"The metric's expression failed ({problem}): counted as 0"))
        else:
            readable = event.error.replace("_", " ")
            problems.append(EVENT_ERRORS.get(event.error, (readable, readable.capitalize())))
    if not event.matched_subscription:
        problems.append(NO_SUBSCRIPTION)
    return problems
