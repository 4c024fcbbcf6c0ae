"""Billing periods: date arithmetic in the customer's timezone, and a subscription's periods and terms.

A period is half-open in UTC, [start, end): it starts at local midnight of its first day and
ends at local midnight after its last day. Proration (schedule.fee_days) counts whole local days, the
first and the last both included (docs/billing.md, Subscriptions).

The functions of a subscription (`period_at`, `current_period`, `terms_of`, ...) read only its own
columns, its plan and its customer: invoicing and metering import them from here, below every
use case of `billing.subscriptions.services`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from billing.ports import runtime

if TYPE_CHECKING:  # annotations only: the arithmetic reads a subscription, it loads no table
    from billing.subscriptions.models import Subscription

MONTHS_PER_INTERVAL = {"monthly": 1, "quarterly": 3, "semiannual": 6, "yearly": 12}


@dataclass(frozen=True)
class Period:
    first_day: date  # local, inclusive
    last_day: date  # local, inclusive
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def display_end(self) -> datetime:
        """The last second of the period, as Lago shows `to_datetime` (…T23:59:59Z)."""
        return self.end - timedelta(seconds=1)


def local_date(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def _add_months(day: date, months: int, anchor_day: int) -> date:
    """`day` moved by `months`, landing on `anchor_day` or the month's last day if it has fewer."""
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor_day, last))


def full_period_days(interval: str, billing_time: str, anchor: date, on: date) -> tuple[date, date]:
    """First and last local day of the full period that contains `on`."""
    if interval == "weekly":
        weekday = 0 if billing_time == "calendar" else anchor.weekday()  # calendar weeks start on Monday
        first = on - timedelta(days=(on.weekday() - weekday) % 7)
        return first, first + timedelta(days=6)
    months = MONTHS_PER_INTERVAL[interval]
    if billing_time == "calendar":
        first_month = ((on.month - 1) // months) * months + 1
        first = date(on.year, first_month, 1)
        next_first = _add_months(first, months, 1)
        return first, next_first - timedelta(days=1)
    # Anniversary: periods start on the subscription's day of month (or the month's last day).
    anchor_day = anchor.day
    steps = ((on.year - anchor.year) * 12 + (on.month - anchor.month)) // months
    first = _add_months(anchor, steps * months, anchor_day)
    while first > on:
        steps -= 1
        first = _add_months(anchor, steps * months, anchor_day)
    while True:
        next_first = _add_months(anchor, (steps + 1) * months, anchor_day)
        if next_first > on:
            return first, next_first - timedelta(days=1)
        steps += 1
        first = next_first


def period_containing(moment: datetime, *, interval: str, billing_time: str, anchor: date, timezone: str) -> Period:
    first, last = full_period_days(interval, billing_time, anchor, local_date(moment, timezone))
    return Period(first, last, local_midnight(first, timezone), local_midnight(last + timedelta(days=1), timezone))


def next_period(period: Period, *, interval: str, billing_time: str, anchor: date, timezone: str) -> Period:
    return period_containing(period.end, interval=interval, billing_time=billing_time, anchor=anchor,
                             timezone=timezone)


def local_day_cuts(start: datetime, end: datetime, timezone: str) -> list[datetime]:
    """The local midnights strictly inside (start, end), in UTC: [start, end) holds len(cuts) + 1 local days.

    Day d of [start, end) is [cuts[d - 1], cuts[d]) (from `start` for the first, to `end` for the last);
    an instant's day index is the number of cuts at or before it (`bisect_right`).
    """
    cuts = []
    day = local_date(start, timezone) + timedelta(days=1)
    while (midnight := local_midnight(day, timezone)) < end:
        if midnight > start:
            cuts.append(midnight)
        day += timedelta(days=1)
    return cuts


@dataclass(frozen=True)
class Terms:
    interval: str
    billing_time: str
    anchor: date
    timezone: str
    started_at: datetime
    terminated_at: datetime | None = None
    trial_ends_at: datetime | None = None
    pay_in_advance: bool = False
    charges_monthly: bool = False  # yearly plans may bill their charges every month (bill_charges_monthly)
    created_at: datetime | None = None  # when the subscription was created (a backdated one bills from then)

    def period_at(self, moment: datetime) -> Period:
        return period_containing(moment, interval=self.interval, billing_time=self.billing_time, anchor=self.anchor,
                                 timezone=self.timezone)


def trial_end(started_at: datetime | None, trial_days: Decimal | None) -> datetime | None:
    """When a trial of `trial_days` (possibly fractional) started at `started_at` ends; exact, no float."""
    if started_at is None or not trial_days or trial_days <= 0:
        return None
    return started_at + timedelta(microseconds=int(trial_days * 86_400_000_000))


def charges_billed_monthly(plan) -> bool:
    """Yearly, half-yearly and quarterly plans may bill their usage every month (Lago's bill_charges_monthly)."""
    return bool(plan.bill_charges_monthly) and plan.interval in ("yearly", "semiannual", "quarterly")


def billing_anchor(subscription: Subscription) -> date:
    """The local date periods are anchored to (the subscription date, for anniversary billing)."""
    return local_date(subscription.subscription_at, subscription.customer.applicable_timezone)


def period_at(subscription: Subscription, moment: datetime) -> Period:
    """The full billing period of `subscription` that contains `moment`."""
    return period_containing(moment, interval=subscription.plan.interval, billing_time=subscription.billing_time,
                             anchor=billing_anchor(subscription), timezone=subscription.customer.applicable_timezone)


def current_charges_period(subscription: Subscription, now: datetime | None = None) -> Period:
    """The period the subscription's usage is billed for: its plan period, or a month when the plan
    bills its charges monthly."""
    if not charges_billed_monthly(subscription.plan):
        return current_period(subscription, now)
    return period_containing(_clamped_now(subscription, now), interval="monthly",
                             billing_time=subscription.billing_time,
                             anchor=billing_anchor(subscription), timezone=subscription.customer.applicable_timezone)


def charges_period_at(subscription: Subscription, moment: datetime) -> Period:
    """The full period of the subscription's usage that contains `moment` (a month when charges are billed monthly)."""
    if not charges_billed_monthly(subscription.plan):
        return period_at(subscription, moment)
    return period_containing(moment, interval="monthly", billing_time=subscription.billing_time,
                             anchor=billing_anchor(subscription), timezone=subscription.customer.applicable_timezone)


def _clamped_now(subscription: Subscription, now: datetime | None) -> datetime:
    now = now or runtime.clock.now()
    if subscription.terminated_at is not None:
        now = min(now, subscription.terminated_at)
    if subscription.started_at is not None:
        now = max(now, subscription.started_at)
    return now


def current_period(subscription: Subscription, now: datetime | None = None) -> Period:
    return period_at(subscription, _clamped_now(subscription, now))


def terms_of(subscription: Subscription) -> Terms:
    plan = subscription.plan
    trial_ends_at = trial_end(subscription.started_at, plan.trial_period)
    return Terms(interval=plan.interval, billing_time=subscription.billing_time,
                 anchor=billing_anchor(subscription), timezone=subscription.customer.applicable_timezone,
                 started_at=subscription.started_at, terminated_at=subscription.terminated_at,
                 trial_ends_at=trial_ends_at, pay_in_advance=plan.pay_in_advance,
                 charges_monthly=charges_billed_monthly(plan), created_at=subscription.created_at)
