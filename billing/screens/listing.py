"""The admin lists' one machinery: a list declared once (`ListSpec`: its filters, sort keys, page size and CSV
columns), a query string read into a typed `ListQuery` (a bad value is a reason code on its field, never a 500), a
page read in one statement, and the CSV of every page streamed from a yielding query (never built in memory).

The lists themselves (their statements, scoped to one organization) are in `screens/lists.py`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.sql import ColumnElement

from billing.db import read_only
from billing.money import is_currency, to_major
from billing.pagination import Page, like_escaped

TEXT, CHOICE, DAY, FLAG, CURRENCY = "text", "choice", "date", "flag", "currency"
MAX_TEXT = 255
SHORTEST_ANYWHERE = 3  # a search this long or longer matches anywhere in a text, a shorter one at its start
CSV_BATCH_ROWS = 500  # rows fetched per round trip (a server-side cursor on PostgreSQL) and sent per chunk
# NOTE: a spreadsheet runs a cell starting with one of these as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Filter:
    """One filter of a list: its query-string key and the kind of value it takes."""

    name: str
    kind: str = TEXT
    choices: tuple[str, ...] = ()  # CHOICE: the values taken; empty: the caller's own (plans, providers)

    def read(self, raw: str) -> tuple[Any, str | None]:
        """The typed value of `raw` (None when empty), or None and the reason it is refused."""
        raw = raw.strip()
        if not raw:
            return None, None
        if self.kind == TEXT:
            return raw[:MAX_TEXT], None
        if self.kind == FLAG:
            return (True, None) if raw in ("1", "true", "on", "yes") else (None, "not_a_flag")
        if self.kind == CURRENCY:
            return (raw.upper(), None) if is_currency(raw.upper()) else (None, "not_a_currency")
        if self.kind == CHOICE:
            return (raw, None) if raw in self.choices or not self.choices else (None, "not_a_choice")
        try:
            return (date.fromisoformat(raw), None) if len(raw) == 10 else (None, "not_a_date")
        except ValueError:
            return None, "not_a_date"


@dataclass(frozen=True)
class Column:
    """One CSV column: its header and the row's field; MONEY reads minor units and writes major units."""

    header: str
    key: str
    money: bool = False

    def cell(self, row: Any) -> object:
        value = getattr(row, self.key)
        if value is None:
            return ""
        if self.money:
            return to_major(value, row.currency)  # a Decimal: "12.50", never a float
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, str) and value.startswith(FORMULA_STARTS):
            return "'" + value
        return value


@dataclass(frozen=True)
class ListSpec:
    """A list: its rows, what its URL may say (filters, sort keys) and what its CSV holds."""

    rows: Callable[[str, ListQuery], Select]  # (organization id, query) -> the filtered rows, in no order
    filters: tuple[Filter, ...]
    sorts: Mapping[str, ColumnElement]  # the only sort keys a URL may name, each an SQL expression
    default_sort: str  # a key of `sorts`, "-" first for descending
    tie_breakers: tuple[ColumnElement, ...]  # end the order with a unique key: pages never overlap nor skip
    columns: tuple[Column, ...]
    ranges: tuple[tuple[str, str], ...] = ()  # (from, to) DAY filters: a "to" before its "from" is refused
    per_page: int = 25

    def read(self, args: Mapping[str, str]) -> ListQuery:
        """The list's view as `args` (a query string) says, each bad value dropped with its reason."""
        values: dict[str, Any] = {}
        typed: dict[str, str] = {}
        errors: dict[str, str] = {}
        for one in self.filters:
            raw = str(args.get(one.name) or "")[:MAX_TEXT]
            typed[one.name] = raw
            value, error = one.read(raw)
            if error:
                errors[one.name] = error
            elif value is not None:
                values[one.name] = value
        for start, end in self.ranges:
            if start in values and end in values and values[end] < values[start]:
                errors[end] = "before_start"
                del values[end]
        sort = str(args.get("sort") or "")
        if sort.removeprefix("-") not in self.sorts:
            sort = self.default_sort
        try:
            page = max(int(str(args.get("page") or 1)), 1)
        except ValueError:
            page = 1
        return ListQuery(values=values, typed=typed, errors=errors, sort=sort, page=min(page, 1_000_000),
                         default_sort=self.default_sort)

    def ordered(self, statement: Select, query: ListQuery) -> Select:
        """`statement` in the query's order; the tie breakers follow its direction, so that one index on
        (organization, key, tie breakers) serves both directions."""
        keys = (self.sorts[query.sort.removeprefix("-")], *self.tie_breakers)
        order = [key.desc() if query.descending else key.asc() for key in keys]
        if getattr(keys[0], "nullable", True):
            # NOTE: PostgreSQL sorts NULLs as the largest value, SQLite as the smallest: said here, both agree.
            order[0] = order[0].nulls_last()
        return statement.order_by(*order)


@dataclass(frozen=True)
class ListQuery:
    """What a list's URL asks: the valid filter values (typed), what was typed, the refusals, the sort, the page."""

    values: Mapping[str, Any]
    typed: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    sort: str = ""
    page: int = 1
    default_sort: str = ""  # left out of the links this view makes

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def params(self, **changes: object) -> dict[str, str]:
        """The query string of this view (valid filters, sort and page unless the default), with `changes`: for
        the pager's links and the CSV's."""
        params = {name: self.typed[name].strip() for name in self.values}
        params.update(sort="" if self.sort == self.default_sort else self.sort, page=str(self.page))
        params.update({key: str(value) for key, value in changes.items()})
        return {key: value for key, value in params.items() if value and not (key == "page" and value == "1")}


def contains(text: str, *columns: ColumnElement) -> ColumnElement:
    """Any of `columns` holds `text`, case-insensitively (wildcards typed are literal): anywhere in it from
    `SHORTEST_ANYWHERE` characters on, at its start when shorter.

    Written as `lower(column) LIKE …` for the trigram indexes of migration 0041 (PostgreSQL): they find a text of
    three characters or more anywhere, and a shorter one only at the start of a word; one or two characters
    anywhere would read every row of the organization (docs/admin.md "Lists").
    """
    escaped = like_escaped(text.lower())
    pattern = f"%{escaped}%" if len(text) >= SHORTEST_ANYWHERE else f"{escaped}%"
    return or_(*(func.lower(column).like(pattern, escape="\\") for column in columns))


def on_or_after(column: ColumnElement, day: date | None) -> ColumnElement | None:
    """`column` (a UTC moment) on `day` or later; no condition without a day."""
    return None if day is None else column >= datetime.combine(day, time.min, tzinfo=UTC)


def before_end_of(column: ColumnElement, day: date | None) -> ColumnElement | None:
    """`column` (a UTC moment) on `day` or earlier; no condition without a day."""
    return None if day is None else column < datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def where_all(statement: Select, *conditions: ColumnElement | None) -> Select:
    """`statement` with each condition given (None: a filter not asked for)."""
    return statement.where(*(c for c in conditions if c is not None))


def read_page(spec: ListSpec, *, organization_id: str, query: ListQuery) -> Page:
    """One page of the organization's rows and the count of all of them: two statements, whatever the page holds.

    Not `count(*) over ()` in the page's statement: it makes PostgreSQL read and sort every row of the list
    before the first page (0.66 s for 200,000 invoices), where the page alone walks an index.
    """
    statement = spec.rows(organization_id, query)
    offset = (query.page - 1) * spec.per_page
    with read_only() as session:
        rows = session.execute(spec.ordered(statement, query).limit(spec.per_page).offset(offset)).all()
        if query.page == 1 and len(rows) < spec.per_page:
            total = len(rows)
        else:
            total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    return Page(items=rows, current_page=query.page, per_page=spec.per_page, total_count=total)


def csv_chunks(spec: ListSpec, *, organization_id: str, query: ListQuery) -> Iterator[str]:
    """The CSV of every row the query finds (all pages), in the list's order, a chunk per batch fetched."""
    statement = spec.rows(organization_id, query)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(column.header for column in spec.columns)
    with read_only() as session:
        result = session.execute(spec.ordered(statement, query), execution_options={"yield_per": CSV_BATCH_ROWS})
        for number, row in enumerate(result, 1):
            writer.writerow(column.cell(row) for column in spec.columns)
            if number % CSV_BATCH_ROWS == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
