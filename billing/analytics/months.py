"""The months a report covers, and the SQL that puts a date or an instant in one of them.

A month is a calendar month of the organization's timezone. Putting rows in months is a CASE over
the months' boundaries (dates for date columns, UTC instants of local midnights for timestamps),
bound as parameters: the same statement runs on SQLite and PostgreSQL, whose date functions differ,
and it honours daylight-saving changes, which a fixed offset would not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from billing.errors import ValidationFailed
from billing.invoicing.models import Invoice
from billing.money import is_currency
from billing.organizations.models import Organization
from billing.ports import runtime
from billing.validation import Checker

MAX_MONTHS = 1200  # a hundred years: more months than any organization has


@dataclass(frozen=True)
class Filters:
    """What Lago's analytics endpoints filter on; None is no filter."""

    currency: str | None = None
    months: int | None = None  # the last N months, this one included (Lago: 0 and 1 mean this month)
    external_customer_id: str | None = None


def read_filters(args: Mapping[str, object]) -> Filters:
    """The filters of a query string; ValidationFailed naming each bad one (Lago's reason codes)."""
    check = Checker(args)
    months = check.integer("months", minimum=0, maximum=MAX_MONTHS)
    customer = check.string("external_customer_id")
    raw_currency = args.get("currency")
    currency = None
    if isinstance(raw_currency, str) and raw_currency.strip():
        # NOTE: Lago upcases the currency it is given (Api::V1::Analytics::*Controller#filters).
        currency = raw_currency.strip().upper()
        if not is_currency(currency):
            check.fail("currency", "value_is_invalid")
    if check.errors:
        raise ValidationFailed(check.errors)
    return Filters(currency=currency, months=months, external_customer_id=customer)


def month_after(month: date, count: int = 1) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Months:
    """Consecutive calendar months of one timezone, the first of each month."""

    firsts: tuple[date, ...]
    timezone: str

    @property
    def start(self) -> date:
        return self.firsts[0]

    @property
    def end(self) -> date:
        """The first day after the last month."""
        return month_after(self.firsts[-1])

    def widened(self, months_before: int) -> Months:
        """These months with `months_before` more in front (for amounts spread forward into them)."""
        return Months(tuple(month_after(self.start, -n) for n in range(months_before, 0, -1)) + self.firsts,
                      self.timezone)

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), ZoneInfo(self.timezone)).astimezone(UTC)

    def of_date(self, column: ColumnElement) -> tuple[ColumnElement, ColumnElement]:
        """(index of the month `column` falls in, condition that it falls in one) for a date column."""
        ends = [month_after(first) for first in self.firsts]
        return (case(*((column < end, index) for index, end in enumerate(ends))),
                and_(column >= self.start, column < self.end))

    def of_instant(self, column: ColumnElement) -> tuple[ColumnElement, ColumnElement]:
        """The same for a UTC timestamp column: months begin at local midnight on the 1st."""
        ends = [self._midnight(month_after(first)) for first in self.firsts]
        return (case(*((column < end, index) for index, end in enumerate(ends))),
                and_(column >= self._midnight(self.start), column < self._midnight(self.end)))


def report_months(session: Session, organization_id: str, months: int | None) -> Months:
    """The months a report shows: the last `months`, or every month since the organization's first.

    NOTE: Lago starts at the organization's creation month (Analytics::* `organization_creation_date`); Tally
    starts at the earlier of that and the first invoice's issuing month, so that invoices imported or seeded
    with earlier dates are counted.
    """
    organization = session.get(Organization, organization_id)
    timezone = (organization.timezone if organization else None) or "UTC"
    today = runtime.clock.now().astimezone(ZoneInfo(timezone)).date()
    current = today.replace(day=1)
    if months is not None:
        first = month_after(current, -(max(months, 1) - 1))
    else:
        created = organization.created_at.astimezone(ZoneInfo(timezone)).date() if organization else today
        earliest = session.scalar(select(func.min(Invoice.issuing_date))
                                  .where(Invoice.organization_id == organization_id))
        first = min(created, earliest or created, today).replace(day=1)
    count = (current.year - first.year) * 12 + current.month - first.month + 1
    return Months(tuple(month_after(first, n) for n in range(count)), timezone)
