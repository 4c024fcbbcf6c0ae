"""What a billable metric makes of an event at ingestion: its value, unique value, operation,
filter group and error. Computed once and stored on the event, recomputed when the metric changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from billing.catalog.models import BillableMetric
from billing.metering.aggregation import epoch_seconds, group_key
from billing.metering.expression import ExpressionError, parse_expression
from billing.money import decimal_str, parse_decimal
from billing.validation import MAX_DECIMAL, decimal_in_range


class DerivedFact(NamedTuple):  # a tuple: one is made per event ingested
    value: Decimal | None
    unique_value: str | None
    operation: str
    group_key: str
    error: str | None


METRIC_NOT_FOUND = DerivedFact(None, None, "add", "", "metric_not_found")
OUT_OF_RANGE = "value_is_out_of_range"  # beyond MAX_DECIMAL or MAX_DECIMAL_PLACES (billing.validation)
_BOUND = int(MAX_DECIMAL)
MAX_GROUP_KEY = 1024  # events.group_key's length


def _without_group(fact: DerivedFact) -> DerivedFact:
    return fact._replace(error=fact.error or "filter_values_too_long")


@dataclass(frozen=True)
class MetricReading:
    """What derive() needs of a billable metric: plain data, safe to keep across sessions and threads."""

    code: str
    aggregation_type: str
    field_name: str | None
    expression: str | None
    filter_keys: tuple[str, ...]


def metric_reading(metric: BillableMetric) -> MetricReading:
    return MetricReading(code=metric.code, aggregation_type=metric.aggregation_type, field_name=metric.field_name,
                         expression=metric.expression, filter_keys=tuple(sorted(f.key for f in metric.filters)))


def derive(metric: MetricReading | None, *, code: str, properties: Mapping[str, object],
           timestamp: datetime) -> DerivedFact:
    """The metric's reading of one event; problems are recorded as `error`, never raised (the event is kept)."""
    if metric is None:
        return METRIC_NOT_FOUND
    operation = "remove" if properties.get("operation_type") == "remove" else "add"
    key = group_key(properties, metric.filter_keys)
    if len(key) > MAX_GROUP_KEY:
        # Values this long match no filter value; the event is kept, billed without a filter, and says why.
        return _without_group(derive(replace(metric, filter_keys=()), code=code, properties=properties,
                                     timestamp=timestamp))
    kind = metric.aggregation_type
    if kind == "count_agg":
        return DerivedFact(None, None, operation, key, None)
    error = None
    raw: object
    if metric.expression:
        try:
            raw = parse_expression(metric.expression).evaluate(
                properties=properties, timestamp=epoch_seconds(timestamp), code=code)
        except ExpressionError as failure:
            return DerivedFact(Decimal(0), None, operation, key, f"expression_failed:{failure.code}"[:64])
    else:
        raw = properties.get(metric.field_name) if metric.field_name else None
    if kind == "unique_count_agg":
        if raw is None or raw == "":
            return DerivedFact(None, None, operation, key, "missing_field")
        return DerivedFact(None, _unique_text(raw)[:255], operation, key, None)
    value = parse_decimal(raw) if not isinstance(raw, bool) else None
    # A JSON integer (the usual value) is compared as it is; a decimal's places are checked too.
    if value is not None and not (-_BOUND < raw < _BOUND if type(raw) is int else decimal_in_range(value)):
        # Ingestion refuses it (metering.services); an event stored before its metric existed keeps it as 0.
        return DerivedFact(Decimal(0), None, operation, key, OUT_OF_RANGE)
    if metric.expression and value is None:
        return DerivedFact(Decimal(0), None, operation, key, "expression_failed:not_a_number")
    if value is None:
        # NOTE: a missing or non-numeric value counts as 0 (Lago's behaviour); the event keeps an
        # error so that it shows in admin instead of vanishing silently.
        error = "missing_field" if raw is None else "invalid_value"
        value = Decimal(0)
    return DerivedFact(value, None, operation, key, error)


def _unique_text(raw: object) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float | Decimal):
        number = parse_decimal(raw)
        return decimal_str(number) if number is not None else str(raw)
    return str(raw)
