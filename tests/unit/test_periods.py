from datetime import UTC, date, datetime

import pytest

from billing.subscriptions.periods import full_period_days, period_containing
from billing.subscriptions.schedule import FeePart, fee_days


@pytest.mark.parametrize(("interval", "on", "first", "last"), [
    ("monthly", date(2026, 2, 14), date(2026, 2, 1), date(2026, 2, 28)),
    ("weekly", date(2026, 11, 26), date(2026, 11, 23), date(2026, 11, 29)),  # Monday..Sunday
    ("quarterly", date(2026, 5, 31), date(2026, 4, 1), date(2026, 6, 30)),
    ("semiannual", date(2026, 12, 31), date(2026, 7, 1), date(2026, 12, 31)),
    ("yearly", date(2028, 2, 29), date(2028, 1, 1), date(2028, 12, 31)),
])
def test_calendar_periods(interval, on, first, last):
    assert full_period_days(interval, "calendar", date(2020, 1, 15), on) == (first, last)


@pytest.mark.parametrize(("interval", "anchor", "on", "first", "last"), [
    ("monthly", date(2026, 1, 15), date(2026, 3, 14), date(2026, 2, 15), date(2026, 3, 14)),
    # NOTE: an anniversary on the 31st falls on the month's last day where there is no 31st.
    ("monthly", date(2026, 1, 31), date(2026, 2, 27), date(2026, 1, 31), date(2026, 2, 27)),
    ("monthly", date(2026, 1, 31), date(2026, 2, 28), date(2026, 2, 28), date(2026, 3, 30)),
    ("monthly", date(2026, 1, 31), date(2026, 4, 15), date(2026, 3, 31), date(2026, 4, 29)),
    ("weekly", date(2026, 11, 25), date(2026, 12, 1), date(2026, 11, 25), date(2026, 12, 1)),
    ("yearly", date(2024, 2, 29), date(2025, 3, 1), date(2025, 2, 28), date(2026, 2, 27)),
    ("quarterly", date(2026, 1, 10), date(2026, 4, 9), date(2026, 1, 10), date(2026, 4, 9)),
])
def test_anniversary_periods(interval, anchor, on, first, last):
    assert full_period_days(interval, "anniversary", anchor, on) == (first, last)


def test_period_boundaries_are_local_midnights_in_utc():
    moment = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)  # already November 1st in Paris
    period = period_containing(moment, interval="monthly", billing_time="calendar", anchor=date(2026, 1, 1),
                               timezone="Europe/Paris")
    assert period.first_day == date(2026, 11, 1)
    assert period.start == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert period.days == 30


def test_proration_counts_first_and_last_day():
    period = period_containing(datetime(2026, 11, 5, tzinfo=UTC), interval="monthly", billing_time="calendar",
                               anchor=date(2026, 11, 5), timezone="UTC")

    def days(first: str, end: str) -> int:
        return fee_days(FeePart(period, datetime.fromisoformat(first).replace(tzinfo=UTC),
                                datetime.fromisoformat(end).replace(tzinfo=UTC)), "UTC")

    # BILLING.md: started and terminated on the same day of a 30-day month → 1 day.
    assert days("2026-11-05T09:00:00", "2026-11-05T17:00:00") == 1
    assert days("2026-11-10T00:00:00", "2026-11-20T08:00:00") == 11
    assert days("2026-11-01T00:00:00", "2026-12-01T00:00:00") == 30
