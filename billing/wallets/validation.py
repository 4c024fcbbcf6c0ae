"""Wallet input: credits, limits, metadata, applies_to and recurring rules as sent, checked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.catalog.models import BillableMetric
from billing.db import utcnow
from billing.errors import ValidationFailed
from billing.money import round_credits
from billing.ports import runtime
from billing.validation import MAX_AMOUNT_CENTS, Checker
from billing.wallets import ledger
from billing.wallets.models import (
    FEE_TYPES,
    RULE_INTERVALS,
    RecurringTransactionRule,
    Wallet,
)

TOP_UP_LIMITS = ("paid_top_up_min_amount_cents", "paid_top_up_max_amount_cents")
MAX_PRIORITY = 50  # NOTE: Lago's wallet priorities run 1..50, 50 (the lowest) by default


def check_credits(check: Checker, data: Mapping[str, object], field: str) -> Decimal:
    value = check.decimal(field) if data.get(field) not in (None, "") else None
    return round_credits(value) if value is not None else Decimal(0)


def check_metadata(check: Checker, data: Mapping[str, object], field: str) -> list[dict] | None:
    """Lago's transaction metadata: a list of `{key, value}` strings (None when absent)."""
    raw = data.get(field)
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(
            isinstance(item, Mapping) and isinstance(item.get("key"), str) and isinstance(item.get("value"), str)
            and len(item["key"]) <= 255 and len(item["value"]) <= 255 for item in raw):
        check.fail(field, "invalid_value")
        return None
    return [{"key": item["key"], "value": item["value"]} for item in raw]


def check_applies_to(check: Checker, data: Mapping[str, object]) -> tuple[list[str], list[str]] | None:
    """`applies_to: {fee_types, billable_metric_codes}` as (fee types, metric codes); None when absent."""
    raw = data.get("applies_to")
    if raw is None:
        return None
    fee_types = raw.get("fee_types") if isinstance(raw, Mapping) else None
    codes = raw.get("billable_metric_codes") if isinstance(raw, Mapping) else None
    fee_types, codes = fee_types or [], codes or []
    if not isinstance(raw, Mapping) or not isinstance(fee_types, list) or not isinstance(codes, list) \
            or not all(isinstance(value, str) for value in [*fee_types, *codes]) \
            or any(fee_type not in FEE_TYPES for fee_type in fee_types):
        # NOTE: Lago's answer to any invalid limitation (Wallets::ValidateService).
        check.fail("applies_to", "invalid_limitations")
        return None
    return sorted(set(fee_types)), sorted(set(codes))


def set_applies_to(session: Session, wallet: Wallet, applies_to: tuple[list[str], list[str]]) -> None:
    fee_types, codes = applies_to
    metrics = list(session.scalars(select(BillableMetric).where(
        BillableMetric.organization_id == wallet.organization_id, BillableMetric.code.in_(codes),
        BillableMetric.deleted_at.is_(None)))) if codes else []
    if len(metrics) != len(codes):
        raise ValidationFailed({"applies_to": ["invalid_limitations"]})
    wallet.allowed_fee_types = fee_types
    wallet.billable_metrics = metrics


def check_limits(check: Checker, data: Mapping[str, object], wallet: Wallet | None = None) -> dict[str, int | None]:
    """The paid top-up limits given (minor units, > 0; the maximum not below the minimum)."""
    values = {field: check.amount_cents(field, minimum=1) for field in TOP_UP_LIMITS if field in data}
    low = values.get("paid_top_up_min_amount_cents", wallet.paid_top_up_min_amount_cents if wallet else None)
    high = values.get("paid_top_up_max_amount_cents", wallet.paid_top_up_max_amount_cents if wallet else None)
    if low is not None and high is not None and high < low:
        check.fail("paid_top_up_max_amount_cents", "must_be_greater_than_or_equal_min")
    return values


def credits_out_of_range(wallet: Wallet, credits: dict[str, Decimal]) -> dict[str, list[str]]:
    """Credits whose worth (with the wallet's balance) would pass MAX_AMOUNT_CENTS: no amount column could hold it."""
    held = wallet.credits_balance or Decimal(0)
    return {field: ["value_is_out_of_range"] for field, value in credits.items()
            if value > 0 and ledger.credits_amount_cents(wallet, held + value) > MAX_AMOUNT_CENTS}


def check_in_future(check: Checker, field: str, moment: datetime | None) -> datetime | None:
    """NOTE: Lago refuses a wallet expiration in the past (`expiration_at: invalid_date`)."""
    if moment is not None and moment <= runtime.clock.now():
        check.fail(field, "invalid_date")
        return None
    return moment


def limit_error(wallet: Wallet, paid: Decimal) -> str | None:
    """Why a paid top-up of `paid` credits is refused by the wallet's limits; None when it is within them.

    NOTE: its amount (credits × rate, rounded once) is compared with `paid_top_up_min_amount_cents`
    and `paid_top_up_max_amount_cents` (Lago's `amount_below_minimum` / `amount_above_maximum`).
    """
    if paid <= 0:
        return None
    amount = ledger.credits_amount_cents(wallet, paid)
    if wallet.paid_top_up_min_amount_cents is not None and amount < wallet.paid_top_up_min_amount_cents:
        return "amount_below_minimum"
    if wallet.paid_top_up_max_amount_cents is not None and amount > wallet.paid_top_up_max_amount_cents:
        return "amount_above_maximum"
    return None


def check_rules(check: Checker, data: Mapping[str, object]) -> list[dict] | None:
    raw = data.get("recurring_transaction_rules")
    if raw is None:
        return None
    if not isinstance(raw, list):
        check.fail("recurring_transaction_rules", "invalid_value")
        return []
    rules = []
    for item in raw:
        if not isinstance(item, dict):
            check.fail("recurring_transaction_rules", "invalid_value")
            continue
        rc = Checker(item)
        trigger = rc.choice("trigger", ("interval", "threshold"), required=True)
        method = rc.choice("method", ("fixed", "target")) or "fixed"
        rule = {"trigger": trigger, "method": method, "interval": None, "threshold_credits": None,
                "target_ongoing_balance": None, "paid_credits": check_credits(rc, item, "paid_credits"),
                "granted_credits": check_credits(rc, item, "granted_credits"),
                "started_at": rc.datetime("started_at"), "expiration_at": rc.datetime("expiration_at"),
                "transaction_name": rc.string("transaction_name"),
                "transaction_metadata": check_metadata(rc, item, "transaction_metadata") or [],
                "ignore_paid_top_up_limits": bool(rc.boolean("ignore_paid_top_up_limits")),
                "invoice_requires_successful_payment": bool(rc.boolean("invoice_requires_successful_payment")),
                "grants_target_top_up": None}
        if trigger == "interval":
            rule["interval"] = rc.choice("interval", RULE_INTERVALS, required=True)
        if trigger == "threshold":
            rule["threshold_credits"] = rc.decimal("threshold_credits", required=True)
        if method == "target":
            rule["target_ongoing_balance"] = rc.decimal("target_ongoing_balance", required=True)
            rule["grants_target_top_up"] = bool(rc.boolean("grants_target_top_up"))
        try:
            rc.done()
        except ValidationFailed as error:
            for key, reasons in error.details.items():
                for reason in reasons:
                    check.fail(f"recurring_transaction_rules.{key}", reason)
        rules.append(rule)
    return rules


def check_rule_limits(wallet: Wallet, rules: list[dict]) -> None:
    for rule in rules:
        if rule["method"] == "fixed" and not rule["ignore_paid_top_up_limits"]:
            error = limit_error(wallet, rule["paid_credits"])
            if error:
                raise ValidationFailed({"recurring_transaction_rules.paid_credits": [error]})


def set_rules(wallet: Wallet, rules: list[dict]) -> None:
    """Replace the wallet's rules (Lago's update sends the whole list).

    NOTE: a `fixed` rule's paid credits must be within the wallet's paid top-up limits unless the
    rule ignores them (Lago: rules are checked against the limits when created or updated;
    https://github.com/getlago/lago-api/pull/4316, /pull/4344). A `target` rule's amount is known
    only when it fires.
    """
    check_rule_limits(wallet, rules)
    too_large = {f"recurring_transaction_rules.{field}": reasons for rule in rules
                 for field, reasons in credits_out_of_range(wallet, {
                     field: rule[field] or Decimal(0)
                     for field in ("paid_credits", "granted_credits", "target_ongoing_balance")}).items()}
    if too_large:
        raise ValidationFailed(too_large)
    wallet.rules.clear()
    now = utcnow()
    for rule in rules:
        started = rule["started_at"] or now
        # An interval rule's next top-up; a threshold rule's start, when the clock asks for a check.
        next_run = started if rule["trigger"] == "interval" or started > now else None
        wallet.rules.append(RecurringTransactionRule(**rule, next_run_at=next_run, armed=True))
