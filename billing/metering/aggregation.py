"""Aggregation of a metric's events into units: pure functions over property values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from billing.money import parse_decimal

SUPPORTED_AGGREGATIONS = ("count_agg", "sum_agg")


def numeric_value(properties: Mapping[str, object] | None, field_name: str | None) -> Decimal:
    """The event's value for `field_name`; missing or non-numeric counts as 0 (Lago's behaviour)."""
    if not properties or not field_name:
        return Decimal(0)
    value = parse_decimal(properties.get(field_name))
    return value if value is not None else Decimal(0)


def aggregate(aggregation_type: str, field_name: str | None, events: Iterable[Mapping[str, object] | None]) -> Decimal:
    """Units of a period from the properties of its events (each event counted once)."""
    if aggregation_type == "count_agg":
        return Decimal(sum(1 for _ in events))
    if aggregation_type == "sum_agg":
        return sum((numeric_value(props, field_name) for props in events), Decimal(0))
    raise ValueError(f"unsupported aggregation type {aggregation_type!r}")
