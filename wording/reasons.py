"""Reason codes the core returns (Lago's validation reasons, the pricing models', Tally's event errors) in
words, so that no screen shows a raw code. `plan_reason(field, code)` for plans, charges, subscriptions."""

from __future__ import annotations

from collections.abc import Mapping

from billing.metering.expression import ExpressionError, ExpressionTrial, parse_expression
from billing.screens.overview import EventRow
from wording.i18n import DEFAULT_LOCALE, N_, gettext

REASONS = {
    "value_is_mandatory": N_("Required"),
    "value_already_exist": N_("Already used by another metric"),
    "billable_metric_in_use": N_("Used by a plan: cannot change"),
    "invalid_expression": N_("Not a valid expression"),
    "not_compatible_with_aggregation_type": N_("Not possible with this aggregation"),
    "value_is_too_long": N_("Too long"),
    "value_is_invalid": N_("Not one of the choices"),
    "invalid_type": N_("Not the right kind of value"),
    "value_is_out_of_range": N_("Out of range"),
    "invalid_format": N_("Not in the expected format"),
    "too_short": N_("Too short"),
}

# Where the field makes a reason clearer than the general wording.
FIELD_REASONS = {
    ("field_name", "value_is_mandatory"): N_("Required for this aggregation (or write an expression)"),
    ("expression", "value_is_mandatory"): N_("Required for a custom aggregation"),
    ("rounding_precision", "value_is_out_of_range"): N_("Between -15 and 15"),
    ("rounding_precision", "invalid_type"): N_("A whole number, e.g. 2"),
    ("filters", "invalid_format"): N_("One filter per line, written key: value1, value2"),
    ("filters", "duplicate_key"): N_("Each key once only"),
    # An account manager's own password (My account); `too_short` is billing.organizations.passwords' rule.
    ("current_password", "wrong_password"): N_("Not your current password"),
    ("new_password", "same_as_current"): N_("This is your current password: choose another one"),
    ("new_password_again", "does_not_match"): N_("Not the same as the new password"),
}

RANGES_RULE = N_("The first range starts at 0, each next one where the previous one ends (or one above), "
                  "and the last one has no end")

# Plans, charges and their pricing (billing.pricing's reasons are Lago's), and subscriptions.
PLAN_REASONS = {
    "value_already_exist": N_("Already used by another plan"),
    "invalid_amount": N_("A number, 0 or more"),
    "invalid_rate": N_("A percentage, 0 or more"),
    "invalid_fixed_amount": N_("A number, 0 or more"),
    "invalid_free_units_per_events": N_("A whole number above 0"),
    "invalid_free_units_per_total_aggregation": N_("A number, 0 or more"),
    "per_transaction_max_lower_than_per_transaction_min": N_("Lower than the minimum"),
    "invalid_package_size": N_("A whole number above 0"),
    "invalid_free_units": N_("A whole number, 0 or more"),
    "missing_graduated_ranges": N_("Add at least one range"),
    "missing_volume_ranges": N_("Add at least one range"),
    "missing_graduated_percentage_ranges": N_("Add at least one range"),
    "invalid_graduated_ranges": RANGES_RULE,
    "invalid_volume_ranges": RANGES_RULE,
    "invalid_graduated_percentage_ranges": RANGES_RULE,
    "invalid_aggregation_type_or_charge_model": N_("Not possible with this metric's aggregation"),
    "billable_metric_not_found": N_("Choose one of the metrics"),
    "charge_not_found": N_("This charge is no longer on the plan: reload the page"),
    "not_supported_yet": N_("Not supported yet"),
    "plan_in_use": N_("Subscribed customers use this plan: cannot change"),
    "plan_has_live_subscriptions": N_(
        "Customers are still subscribed to this plan: terminate their subscriptions first"),
    "invalid_filter_values": N_("Not keys and values of the metric's filters"),
    "invalid_value": N_("Not a number"),
    "not_a_number": N_("Not a number"),
    "too_many_decimals": N_("Too many decimals for this currency"),
    "currencies_does_not_match": N_("This customer is billed in another currency"),
    "plan_change_not_supported_yet": N_("Changing plans is not available yet"),
    "plan_not_found": N_("Choose one of the plans"),
    "invalid_date": N_("Not a valid date"),
    "cannot_change_once_started": N_("Cannot change once started"),
    "same_plan": N_("Already on this plan"),
    "start_out_of_range": N_("Within 5 years before today and 10 years after"),
}

PLAN_FIELD_REASONS = {
    ("amount_currency", "value_is_invalid"): N_("A currency code (ISO 4217), e.g. EUR"),
    ("on_termination_credit_note", "invalid_value"): N_("Not one of the choices for the unused days"),
    ("on_termination_invoice", "invalid_value"): N_("Not one of the choices for the final invoice"),
    ("trial_period", "value_is_out_of_range"): N_("0 or more days"),
    ("amount", "value_is_out_of_range"): N_("0 or more"),
    ("min_amount", "value_is_out_of_range"): N_("0 or more"),
    ("model", "invalid_aggregation_type_or_charge_model"): N_(
        "Not possible with this metric: dynamic needs a Sum metric, percentage cannot use Latest value"),
    ("external_id", "value_already_exist"): N_("Already used by another live subscription"),
    ("ending_at", "invalid_date"): N_("A date after the start"),
    ("threshold_amount", "value_is_out_of_range"): N_("Above 0"),
    ("threshold_amount", "value_is_mandatory"): N_("An amount is needed"),
    ("usage_thresholds", "only_one_recurring_threshold"): N_("Only one threshold can repeat"),
    ("usage_thresholds", "value_already_exist"): N_("Two thresholds have the same amount"),
}

# Add-ons and one-off invoices (the add-on catalog's and one-off invoices' reasons are Lago's).
ADD_ON_REASONS = {
    "value_already_exist": N_("Already used by another add-on"),
    "value_is_out_of_range": N_("Above 0"),
    "value_is_invalid": N_("A currency code (ISO 4217), e.g. EUR"),
    "invalid_value": N_("Not a number"),
    "too_many_decimals": N_("Too many decimals for this currency"),
    "add_on_not_found": N_("Choose one of the add-ons"),
    "tax_not_found": N_("Choose among the taxes"),
    "currencies_does_not_match": N_("This customer is billed in another currency"),
    "fees_not_found": N_("Add at least one line"),
}
ADD_ON_FIELD_REASONS = {
    ("units", "value_is_out_of_range"): N_("0 or more"),
    ("units", "too_many_decimals"): N_("At most 15 decimals"),
    ("unit_price", "value_is_out_of_range"): N_("0 or more"),
    ("currency", "value_is_mandatory"): N_("The customer has no currency yet: choose one"),
}

EXPRESSION_PROBLEMS = {
    "no_expression": N_("Write an expression to test."),
    "invalid_expression": N_("Not a valid expression"),
    "missing_property": N_("The sample has no value for this property"),
    "not_a_number": N_("Not a number"),
    "division_by_zero": N_("Division by zero"),
    "invalid_argument": N_("ROUND takes 0 to 15 digits"),
    "unsupported_value": N_("A list or an object where a single value is needed"),
    "overflow": N_("The result is too large"),
    "invalid_json": N_("The sample properties are not valid JSON"),
    "not_an_object": N_('The sample properties must be a JSON object, e.g. {"size": 3}'),
    "sample_too_long": N_("The sample properties are too long"),
}

EVENT_ERRORS = {  # error -> (badge, reason)
    "metric_not_found": (N_("no metric"), N_("No billable metric has this code: not billed")),
    "missing_field": (N_("missing field"), N_("The metric's field is missing from the properties: counted as 0")),
    "invalid_value": (N_("not a number"), N_("The metric's field is not a number: counted as 0")),
}
NO_SUBSCRIPTION = (N_("no subscription"), N_("No subscription was live at this time: not billed"))


WALLET_REASONS = {
    "amount_below_minimum": N_("Below this wallet's minimum paid top-up"),
    "amount_above_maximum": N_("Above this wallet's maximum paid top-up"),
    "must_be_greater_than_or_equal_min": N_("Lower than the minimum"),
    "invalid_limitations": N_("Not fee types or billable metrics of this organization"),
    "insufficient_credits": N_("More than the wallet holds"),
    "value_must_be_positive": N_("A number above 0"),
    "value_is_out_of_range": N_("A number above 0"),
    "invalid_type": N_("Not a number"),
    "is_terminated": N_("This wallet is terminated"),
    "currencies_does_not_match": N_("This customer is billed in another currency"),
}

# The invoice page's actions: refresh, void, credit notes (their amounts per fee).
INVOICE_REASONS = {
    "higher_than_remaining_fee_amount": N_("More than what is left to credit on this fee."),
    "higher_than_remaining_invoice_amount": N_("More than what is left to credit or refund on this invoice."),
    "does_not_match_item_amounts": N_("Credit, refund and offset must add up to the credit note's total."),
    "value_is_invalid": N_("Not a valid amount."),
    "too_many_decimals": N_("More decimals than the currency has."),
    "value_is_out_of_range": N_("Too large."),
    "value_is_mandatory": N_("Enter an amount for at least one fee."),
    "not_voidable": N_("Only a finalized invoice that is not paid can be voided."),
    "is_finalized": N_("A finalized invoice never changes; issue a credit note instead."),
    "not_draft": N_("Only a draft can be finalized: this invoice was finalized already."),
    "invalid_type_or_status": N_("Credit notes are for finalized invoices with an amount above zero."),
}


def _readable(code: str) -> str:
    """A code no table words, at least readable: "not_a_number" -> "Not a number"."""
    return code.replace("_", " ").capitalize()


def wallet_reason(field: str, code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """One reason code of a wallet form's field, in words."""
    text = WALLET_REASONS.get(code)
    return gettext(text, locale) if text else reason(field, code, locale)


def reason(field: str, code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """One reason code of one field, in words."""
    text = FIELD_REASONS.get((field, code)) or REASONS.get(code)
    return gettext(text, locale) if text else _readable(code)


def plan_reason(field: str, code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """One reason code of a plan, charge or subscription field, in words."""
    text = (PLAN_FIELD_REASONS.get((field, code)) or FIELD_REASONS.get((field, code)) or PLAN_REASONS.get(code)
            or REASONS.get(code))
    return gettext(text, locale) if text else _readable(code)


def add_on_reason(field: str, code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """One reason code of an add-on or one-off invoice field, in words."""
    text = ADD_ON_FIELD_REASONS.get((field, code)) or ADD_ON_REASONS.get(code) or REASONS.get(code)
    return gettext(text, locale) if text else _readable(code)


def invoice_reason(code: str, locale: str | None = DEFAULT_LOCALE, *, otherwise: str | None = None) -> str:
    """One reason an invoice action (refresh, void, credit note) was refused, in words; an unknown code is
    worded as the `otherwise` code, or shown as is."""
    text = INVOICE_REASONS.get(code) or INVOICE_REASONS.get(otherwise or "")
    return gettext(text, locale) if text else code


def field_errors(details: Mapping[str, object], *, expression: object = None,
                 locale: str | None = DEFAULT_LOCALE) -> dict[str, list[str]]:
    """ValidationFailed details (field -> reason codes) as field -> sentences.

    With the `expression` that was refused, its sentence says where the parser stopped.
    """
    errors: dict[str, list[str]] = {}
    for field, codes in details.items():
        codes = codes if isinstance(codes, list | tuple) else [codes]
        errors[field] = [reason(field, str(code), locale) for code in codes]
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


def expression_problem(trial: ExpressionTrial, locale: str | None = DEFAULT_LOCALE) -> str:
    """Why the expression tester could not say what an expression makes of the sample, in words."""
    code = trial.problem or ""
    text = gettext(EXPRESSION_PROBLEMS[code], locale) if code in EXPRESSION_PROBLEMS else _readable(code)
    if trial.detail and trial.problem != "no_expression":
        text = f"{text}: {trial.detail}"
    return text


def event_problems(event: EventRow, locale: str | None = DEFAULT_LOCALE) -> list[tuple[str, str]]:
    """Why an event may not be billed, as (badge, reason) in words; empty when nothing is wrong with it."""
    problems = []
    if event.error:
        if event.error.startswith("expression_failed:"):
            code = event.error.split(":", 1)[1]
            problem = (gettext(EXPRESSION_PROBLEMS[code], locale) if code in EXPRESSION_PROBLEMS
                       else code.replace("_", " ")).lower()
            problems.append((gettext("expression failed", locale),
                             gettext("The metric's expression failed ({problem}): counted as 0",
                                     locale).format(problem=problem)))
        elif event.error in EVENT_ERRORS:
            badge, why = EVENT_ERRORS[event.error]
            problems.append((gettext(badge, locale), gettext(why, locale)))
        else:
            readable = event.error.replace("_", " ")
            problems.append((readable, readable.capitalize()))
    if not event.matched_subscription:
        problems.append((gettext(NO_SUBSCRIPTION[0], locale), gettext(NO_SUBSCRIPTION[1], locale)))
    return problems
