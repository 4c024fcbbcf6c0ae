"""What an event store answers, in a form two stores can be compared on.

Each store numbers its events on its own (the SQL store from its table's identity, the ClickHouse store from the
ledger's `event_ids`), so an event id is replaced by the transaction id it stands for, or left out.
"""

from __future__ import annotations

from collections.abc import Mapping

from billing.metering.aggregation import GroupUsage
from billing.metering.services import StoredEvent
from billing.metering.usage import UsageQuery


def comparable_usage(query: UsageQuery, groups: Mapping[str, GroupUsage],
                     transaction_of: Mapping[int, str] | None = None) -> dict:
    """A usage read as plain data: what the units are computed from, per filter group.

    An event id (the latest event, a unique value's last operation) becomes its transaction id when
    `transaction_of` is given (so the same event must be chosen, ties included), else it is left out. Only what
    the query asks for: the latest event when `latest`, the unique values when `unique`, the days when cut
    (a store may leave out what was not asked).

    Decimals compare by value (`Decimal('3.000') == Decimal('3')`): the stores' scales differ. In usage, the SQL
    store on PostgreSQL answers with NUMERIC's 15 places, ClickHouse strips trailing zeros (`_plain`), the SQL
    store on SQLite gives what Python's sums leave; an event's value has 15 places from PostgreSQL and
    ClickHouse (Decimal(40, 15)), none from SQLite.
    """
    def event(event_id: int):
        return transaction_of[event_id] if transaction_of is not None else None

    def partial(p):
        latest = p.latest and (p.latest[0], event(p.latest[1]), p.latest[2]) if query.latest else None
        return p.events_count, p.value_sum, p.value_max, p.value_time_sum, latest

    def tallies(values):
        if not query.unique:
            return None
        return {value: (t.adds, t.removes, t.last and (t.last[0], event(t.last[1]), t.last[2]))
                for value, t in values.items()}

    cut = query.day_cuts is not None
    return {key: (partial(g.during), partial(g.before), tallies(g.unique_during), tallies(g.unique_before),
                  {day: partial(p) for day, p in g.days.items()} if cut else None,
                  {day: tallies(values) for day, values in g.unique_days.items()} if cut else None)
            for key, g in groups.items()}


def comparable_event(event: Mapping) -> dict:
    """A stored event as the API shows it, without its id (each store numbers its own)."""
    return {name: event[name] for name in StoredEvent.__annotations__ if name != "id"}
