"""The billing schedule: which invoices a subscription gets, when, and for what (pure, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.subscriptions.periods import Terms
from billing.subscriptions.schedule import (
    REASON_PERIODIC,
    REASON_STARTING,
    REASON_TERMINATING,
    REASON_TRIAL_ENDED,
    billings,
    fee_days,
)


def utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def terms(**overrides) -> Terms:
    base = {"interval": "monthly", "billing_time": "calendar", "anchor": date(2026, 11, 10), "timezone": "UTC",
            "started_at": utc("2026-11-10T00:00:00")}
    return Terms(**{**base, **overrides})


def summary(items):
    return [(b.boundary.date().isoformat(), b.reason,
             (b.fee.start.date().isoformat(), b.fee.end.date().isoformat()) if b.fee else None,
             (b.charges[0].date().isoformat(), b.charges[1].date().isoformat()) if b.charges else None)
            for b in items]


def test_arrears_bills_fee_and_charges_at_each_period_end():
    assert summary(billings(terms(), utc("2027-01-01T00:00:00"))) == [
        ("2026-12-01", REASON_PERIODIC, ("2026-11-10", "2026-12-01"), ("2026-11-10", "2026-12-01")),
        ("2027-01-01", REASON_PERIODIC, ("2026-12-01", "2027-01-01"), ("2026-12-01", "2027-01-01")),
    ]


def test_advance_bills_the_fee_at_the_start_and_charges_at_the_end():
    assert summary(billings(terms(pay_in_advance=True), utc("2027-01-01T00:00:00"))) == [
        ("2026-11-10", REASON_STARTING, ("2026-11-10", "2026-12-01"), None),
        ("2026-12-01", REASON_PERIODIC, ("2026-12-01", "2027-01-01"), ("2026-11-10", "2026-12-01")),
        ("2027-01-01", REASON_PERIODIC, ("2027-01-01", "2027-02-01"), ("2026-12-01", "2027-01-01")),
    ]


def test_trial_days_carry_no_fee_in_arrears():
    [first] = billings(terms(trial_ends_at=utc("2026-11-24T00:00:00")), utc("2026-12-01T00:00:00"))
    assert (first.fee.start, first.charges[0]) == (utc("2026-11-24T00:00:00"), utc("2026-11-10T00:00:00"))
    assert fee_days(first.fee, "UTC") == 7 and first.fee.period.days == 30


def test_advance_fee_waits_for_the_end_of_the_trial():
    items = billings(terms(pay_in_advance=True, trial_ends_at=utc("2026-11-24T12:00:00")), utc("2026-12-01T00:00:00"))
    assert summary(items) == [
        ("2026-11-24", REASON_TRIAL_ENDED, ("2026-11-24", "2026-12-01"), None),
        ("2026-12-01", REASON_PERIODIC, ("2026-12-01", "2027-01-01"), ("2026-11-10", "2026-12-01")),
    ]


def test_a_trial_longer_than_a_period_skips_its_fee():
    items = billings(terms(trial_ends_at=utc("2026-12-20T00:00:00")), utc("2027-01-01T00:00:00"))
    assert [b.fee is None for b in items] == [True, False]
    assert fee_days(items[1].fee, "UTC") == 12


def test_termination_bills_the_rest_at_once_and_nothing_after():
    items = billings(terms(terminated_at=utc("2026-12-15T08:00:00")), utc("2027-03-01T00:00:00"))
    assert summary(items) == [
        ("2026-12-01", REASON_PERIODIC, ("2026-11-10", "2026-12-01"), ("2026-11-10", "2026-12-01")),
        ("2026-12-15", REASON_TERMINATING, ("2026-12-01", "2026-12-15"), ("2026-12-01", "2026-12-15")),
    ]


def test_termination_on_a_period_end_is_that_periods_billing():
    items = billings(terms(terminated_at=utc("2026-12-01T00:00:00")), utc("2027-03-01T00:00:00"))
    assert summary(items) == [
        ("2026-12-01", REASON_TERMINATING, ("2026-11-10", "2026-12-01"), ("2026-11-10", "2026-12-01"))]


def test_advance_plan_terminated_keeps_its_paid_fee_and_bills_the_last_charges():
    items = billings(terms(pay_in_advance=True, terminated_at=utc("2026-11-20T00:00:00")), utc("2027-01-01T00:00:00"))
    assert summary(items) == [
        ("2026-11-10", REASON_STARTING, ("2026-11-10", "2026-12-01"), None),
        ("2026-11-20", REASON_TERMINATING, None, ("2026-11-10", "2026-11-20")),
    ]


def test_boundaries_are_unique_and_ordered():
    items = billings(terms(pay_in_advance=True, trial_ends_at=utc("2026-12-01T00:00:00")), utc("2027-06-01T00:00:00"))
    boundaries = [b.boundary for b in items]
    assert boundaries == sorted(set(boundaries))
    # The trial ends exactly when December starts: December's fee is one billing with November's charges.
    assert summary(items)[0] == ("2026-12-01", REASON_TRIAL_ENDED, ("2026-12-01", "2027-01-01"),
                                 ("2026-11-10", "2026-12-01"))


def test_yearly_plan_billing_charges_monthly():
    yearly = terms(interval="yearly", anchor=date(2026, 1, 1), started_at=utc("2026-01-01T00:00:00"),
                   charges_monthly=True)
    items = billings(yearly, utc("2027-01-01T00:00:00"))
    assert len(items) == 12
    assert all(b.charges for b in items) and [b.fee is not None for b in items] == [False] * 11 + [True]
    assert summary(items)[0] == ("2026-02-01", REASON_PERIODIC, None, ("2026-01-01", "2026-02-01"))
    assert summary(items)[-1] == ("2027-01-01", REASON_PERIODIC, ("2026-01-01", "2027-01-01"),
                                  ("2026-12-01", "2027-01-01"))


def test_trial_end_is_exact_for_fractional_days():
    from decimal import Decimal

    from billing.subscriptions.periods import trial_end

    start = utc("2026-11-10T00:00:00")
    assert trial_end(start, Decimal("1.5")) == utc("2026-11-11T12:00:00")
    assert trial_end(start, Decimal(0)) is None and trial_end(None, Decimal(3)) is None


# ---------------------------------------------------------------- starting after the last billed boundary

_moments = st.integers(min_value=0, max_value=4 * 365 * 24).map(
    lambda hours: utc("2023-01-01T00:00:00") + timedelta(hours=hours, minutes=17))


@st.composite
def _terms(draw) -> Terms:
    started_at = draw(_moments)
    interval = draw(st.sampled_from(["weekly", "monthly", "quarterly", "semiannual", "yearly"]))
    ends = draw(st.none() | st.integers(min_value=1, max_value=3 * 365 * 24))
    trial = draw(st.none() | st.integers(min_value=1, max_value=60 * 24))
    return Terms(interval=interval, billing_time=draw(st.sampled_from(["calendar", "anniversary"])),
                 anchor=started_at.date(), timezone=draw(st.sampled_from(["UTC", "Europe/Paris", "Asia/Kolkata"])),
                 started_at=started_at,
                 terminated_at=started_at + timedelta(hours=ends) if ends else None,
                 trial_ends_at=started_at + timedelta(hours=trial) if trial else None,
                 pay_in_advance=draw(st.booleans()),
                 charges_monthly=interval != "monthly" and draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(_terms(), st.data())
def test_billings_after_a_boundary_are_the_later_ones_of_all_billings(terms_, data):
    until = utc("2027-06-01T00:00:00")
    everything = billings(terms_, until)
    # after: a billed boundary (what the callers pass), or any moment at all
    after = data.draw(st.sampled_from([b.boundary for b in everything]) if everything and data.draw(st.booleans())
                      else _moments)
    assert billings(terms_, until, after=after) == [b for b in everything if b.boundary > after]
