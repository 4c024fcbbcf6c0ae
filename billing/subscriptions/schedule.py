"""When a subscription is billed, and for what: a pure plan of its invoices.

Each `Billing` is one invoice's worth at one instant (its `boundary`): a subscription fee for part
of a period, the charges of a period, or both. Rules (docs/billing.md, Subscriptions):
- Charges are always billed in arrears, at the end of their period (or at termination).
- An arrears subscription fee is billed with its period's charges; an advance fee at the start of
  its period, together with the charges of the period that just ended.
- Trial days carry no fee: an arrears fee is prorated over the days after the trial; an advance
  fee is billed when the trial ends, for the rest of that period.
- Termination bills what is left of the last period at once.
Boundaries are unique per subscription, which is what the database's unique constraint holds on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.subscriptions.periods import Period, Terms, local_date

REASON_STARTING = "subscription_starting"
REASON_PERIODIC = "subscription_periodic"
REASON_TRIAL_ENDED = "subscription_trial_ended"
REASON_TERMINATING = "subscription_terminating"
_PRECEDENCE = (REASON_TERMINATING, REASON_TRIAL_ENDED, REASON_STARTING, REASON_PERIODIC)  # the reason one invoice shows


@dataclass(frozen=True)
class FeePart:
    period: Period  # the full period whose fee this is
    start: datetime  # the part billed: [start, end)
    end: datetime


@dataclass
class Billing:
    boundary: datetime
    reason: str
    fee: FeePart | None = None
    charges: tuple[datetime, datetime] | None = None


def billings(terms: Terms, until: datetime, *, after: datetime | None = None) -> list[Billing]:
    """Every billing of the subscription due at or before `until`, oldest first.

    `after`: only those due after it (the caller billed everything up to it): the periods before
    the one containing it are not walked (a 3-year-old monthly subscription: 0.4 ms → 0.03 ms).
    """
    by_boundary: dict[datetime, Billing] = {}
    floor = backdated_floor(terms)
    if floor is not None:
        after = floor if after is None else max(after, floor)

    def at(boundary: datetime, reason: str) -> Billing:
        billing = by_boundary.setdefault(boundary, Billing(boundary=boundary, reason=reason))
        if _PRECEDENCE.index(reason) < _PRECEDENCE.index(billing.reason):
            billing.reason = reason
        return billing

    end_of_life = terms.terminated_at
    trial_end = terms.trial_ends_at if terms.trial_ends_at and terms.trial_ends_at > terms.started_at else None

    def closing(live_end: datetime, period_end: datetime) -> str:
        return REASON_TERMINATING if end_of_life and end_of_life <= period_end else REASON_PERIODIC

    # Charges, in arrears, per charge period (a month on yearly plans billing charges monthly).
    charges_terms = terms
    if terms.charges_monthly and terms.interval != "monthly":
        charges_terms = Terms(interval="monthly", billing_time=terms.billing_time, anchor=terms.anchor,
                              timezone=terms.timezone, started_at=terms.started_at)
    for period, live_start, live_end in _live_periods(charges_terms, terms.started_at, end_of_life, until, after):
        if live_end <= until:
            at(live_end, closing(live_end, period.end)).charges = (live_start, live_end)
    # The subscription fee, per plan period.
    for period, live_start, live_end in _live_periods(terms, terms.started_at, end_of_life, until, after):
        fee_start = max(live_start, trial_end) if trial_end else live_start
        if terms.pay_in_advance:
            # NOTE: an advance fee is due for the whole (rest of the) period at its start, or when
            # the trial ends; a later termination does not change it (credit notes refund it).
            if fee_start < period.end and (end_of_life is None or fee_start < end_of_life) and fee_start <= until:
                reason = (REASON_TRIAL_ENDED if trial_end and fee_start == trial_end
                          else REASON_STARTING if fee_start == terms.started_at else REASON_PERIODIC)
                at(fee_start, reason).fee = FeePart(period, fee_start, period.end)
        elif fee_start < live_end and live_end <= until:
            at(live_end, closing(live_end, period.end)).fee = FeePart(period, fee_start, live_end)
    return [by_boundary[b] for b in sorted(by_boundary) if after is None or b > after]


def backdated_floor(terms: Terms) -> datetime | None:
    """For a subscription created after the period its `subscription_at` falls in, the start of the period of its
    creation: billings due at or before it are not issued.

    NOTE: Lago bills a backdated subscription from the period current at its creation only (lago-api
    app/services/subscriptions/create_service.rb `handle_past_subscription` activates it without billing, and
    app/services/subscriptions/billing_service.rb bills only subscriptions whose billing day is today): the
    periods that ended before it was created are never invoiced, so a subscription_at in 1970 bills one period,
    not 683 (docs/billing.md, Limits).
    """
    if terms.created_at is None:
        return None
    current = terms.period_at(terms.created_at)
    return current.start if terms.started_at < current.start else None


def _live_periods(terms: Terms, started_at: datetime, end_of_life: datetime | None, until: datetime,
                  after: datetime | None = None):
    """(period, live start, live end) of each period the subscription lived in, up to `until`.

    `after`: from the period containing it (every billing of an earlier period is due at or before
    that period's start: its charges and arrears fee at a period end, its advance fee inside it).
    """
    period = terms.period_at(max(started_at, after) if after is not None else started_at)
    while period.start <= until and (end_of_life is None or period.start < end_of_life):
        live_start = max(period.start, started_at)
        live_end = min(period.end, end_of_life) if end_of_life else period.end
        if live_start >= live_end:
            return
        yield period, live_start, live_end
        period = terms.period_at(period.end)


def fee_days(part: FeePart, timezone: str) -> int:
    """Days of the period the fee part covers, its first and last local day both counted."""
    first = local_date(part.start, timezone)
    last = local_date(part.end - timedelta(microseconds=1), timezone)
    return max((last - first).days + 1, 0)
