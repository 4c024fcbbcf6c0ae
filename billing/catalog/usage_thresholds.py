"""A plan's usage thresholds (Lago's progressive billing): checked, set on a plan, copied to a child plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from billing.catalog.models import Plan, UsageThreshold
from billing.db import utcnow
from billing.validation import MAX_STRING, Checker

THRESHOLD_FIELDS = frozenset({"id", "lago_id", "threshold_display_name", "amount_cents", "recurring"})


@dataclass(frozen=True)
class ThresholdTerms:
    amount_cents: int
    recurring: bool
    threshold_display_name: str | None
    id: str | None = None  # an existing threshold of the plan to keep (Lago's update by id)


def check_thresholds(raw: object, errors: dict[str, object], field: str = "usage_thresholds"
                     ) -> list[ThresholdTerms] | None:
    """The thresholds sent, or None with the reasons in `errors` (keyed `usage_thresholds.<i>.<field>`).

    NOTE: Lago's rules (lago-api UsageThresholds::UpdateService and the UsageThreshold model): an amount in
    cents above 0; at most one recurring threshold; no two non-recurring thresholds of the same amount.
    """
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        errors[field] = ["invalid_type"]
        return None
    terms: list[ThresholdTerms] = []
    failed = False
    for index, item in enumerate(raw):
        check = Checker(item)
        for key in sorted(set(item) - THRESHOLD_FIELDS):
            check.fail(key, "not_supported_yet")
        amount = check.amount_cents("amount_cents", required=True, minimum=1)
        recurring = check.boolean("recurring")
        name = check.string("threshold_display_name", max_length=MAX_STRING)
        ident = item.get("id") or item.get("lago_id")
        if ident is not None and not isinstance(ident, str):
            check.fail("id", "invalid_type")
        if check.errors:
            errors.update({f"{field}.{index}.{key}": reasons for key, reasons in check.errors.items()})
            failed = True
            continue
        terms.append(ThresholdTerms(amount_cents=amount, recurring=bool(recurring), threshold_display_name=name,
                                    id=ident if isinstance(ident, str) else None))
    if failed:
        return None
    if sum(t.recurring for t in terms) > 1:
        errors[field] = ["only_one_recurring_threshold"]
        return None
    fixed = [t.amount_cents for t in terms if not t.recurring]
    if len(set(fixed)) != len(fixed):
        errors[field] = ["value_already_exist"]
        return None
    return terms


def set_thresholds(session: Session, plan: Plan, terms: list[ThresholdTerms]) -> None:
    """Make the plan's thresholds exactly `terms`: one named by id (or of the same amount and kind) is updated,
    the others are added, and those not sent are removed (kept as rows: invoices point at them)."""
    current = [t for t in plan_thresholds(plan) if t.deleted_at is None]
    by_id = {t.id: t for t in current}
    kept: set[str] = set()
    for term in terms:
        existing = by_id.get(term.id) if term.id else None
        if existing is None:
            existing = next((t for t in current if t.id not in kept and t.amount_cents == term.amount_cents
                             and t.recurring == term.recurring), None)
        if existing is None or existing.id in kept:
            existing = UsageThreshold(organization_id=plan.organization_id, plan_id=plan.id)
            session.add(existing)
        existing.amount_cents = term.amount_cents
        existing.recurring = term.recurring
        existing.threshold_display_name = term.threshold_display_name
        existing.updated_at = utcnow()
        if existing.id:
            kept.add(existing.id)
    now = utcnow()
    for threshold in current:
        if threshold.id not in kept:
            threshold.deleted_at = now


def copy_thresholds(session: Session, source: Plan, child: Plan) -> None:
    """Give a child plan (a subscription's overrides) the thresholds of `source` (its parent, or its earlier copy)."""
    for threshold in plan_thresholds(source):
        session.add(UsageThreshold(organization_id=child.organization_id, plan_id=child.id,
                                   amount_cents=threshold.amount_cents, recurring=threshold.recurring,
                                   threshold_display_name=threshold.threshold_display_name))


def plan_thresholds(plan: Plan) -> list[UsageThreshold]:
    """The plan's live thresholds, non-recurring ones by amount first (loaded with the plan)."""
    return [t for t in plan.usage_thresholds if t.deleted_at is None]
