"""Billing periods: pure date arithmetic, in the customer's timezone.

A period is half-open in UTC, [start, end): it starts at local midnight of its first day and
ends at local midnight after its last day. Proration (schedule.fee_days) counts whole local days, the
first and the last both included (BILLING.md, Subscriptions).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
