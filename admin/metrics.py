"""The billable-metric form as the catalog service's Lago-shaped data, and back."""

from __future__ import annotations

import re

from admin.forms import MetricForm
from billing.screens.catalog import MetricRow

FIELDS = ("name", "code", "description", "aggregation_type", "field_name", "expression", "recurring",
          "rounding_function", "rounding_precision", "filters")


def initial_data(metric: MetricRow) -> dict[str, object]:
    """What the edit form shows for `metric`."""
    return {"name": metric.name, "code": metric.code, "description": metric.description or "",
            "aggregation_type": metric.aggregation_type, "field_name": metric.field_name or "",
            "expression": metric.expression or "", "recurring": metric.recurring,
            "rounding_function": metric.rounding_function or "",
            "rounding_precision": "" if metric.rounding_precision is None else str(metric.rounding_precision),
            "filters": metric.filters_text}


def parse_filters(text: str) -> tuple[list[dict[str, object]], list[str]]:
    """`key: value1, value2` lines as Lago's filters, and the reasons they cannot be (filters reason codes)."""
    filters: list[dict[str, object]] = []
    reasons: list[str] = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        key, colon, values = line.partition(":")
        wanted = [v.strip() for v in values.split(",") if v.strip()]
        if not colon or not key.strip() or not wanted:
            reasons.append("invalid_format")
            continue
        if any(f["key"] == key.strip() for f in filters):
            reasons.append("duplicate_key")
            continue
        filters.append({"key": key.strip(), "values": list(dict.fromkeys(wanted))})
    return filters, list(dict.fromkeys(reasons))


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def service_data(form: MetricForm, *, current: MetricRow | None) -> tuple[dict[str, object], dict[str, list[str]]]:
    """The form as `create_billable_metric` / `update_billable_metric` data, and reason codes found here first.

    Every field is sent, so that emptying one clears it; filters only when they changed, so that
    saving a metric's name does not rewrite its filters.
    """
    reasons: dict[str, list[str]] = {}
    filters, filter_reasons = parse_filters(form.filters.data)
    if filter_reasons:
        reasons["filters"] = filter_reasons
    data: dict[str, object] = {
        "name": _text(form.name.data), "code": _text(form.code.data), "description": _text(form.description.data),
        "aggregation_type": _text(form.aggregation_type.data), "field_name": _text(form.field_name.data),
        "expression": _text(form.expression.data), "recurring": bool(form.recurring.data),
        "rounding_function": _text(form.rounding_function.data),
        "rounding_precision": None,
    }
    precision = _text(form.rounding_precision.data)
    if precision is not None:
        if re.fullmatch(r"[+-]?\d{1,6}", precision):
            data["rounding_precision"] = int(precision)  # the service checks the range
        else:
            reasons["rounding_precision"] = ["invalid_type"]
    if current is None or filters != [{"key": k, "values": list(v)} for k, v in current.filters]:
        data["filters"] = filters
    if current is not None:
        # NOTE: on update the service leaves an absent name or code as it was; the form says it is required.
        for field in ("name", "code"):
            if data[field] is None:
                reasons.setdefault(field, []).append("value_is_mandatory")
    return data, reasons
