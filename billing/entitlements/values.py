"""A privilege's value: checked against its value_type when set, stored as text, read back typed. Pure."""

from __future__ import annotations

from collections.abc import Mapping

# NOTE: Lago stores every value as a string and sends it back typed by the privilege's value_type
# (integer → number, boolean → true/false, string and select → string); a select's value must be one of
# its config.select_options (lago-api Entitlement::PlanEntitlementsBaseService, `value_not_in_select_options`).
_TRUE_WORDS = frozenset({"true", "t", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "f", "0", "no", "off"})
MAX_VALUE_LENGTH = 255


def stored_value(value_type: str, config: Mapping[str, object] | None, raw: object) -> tuple[str | None, str | None]:
    """`raw` as stored for a privilege of this type, or the reason it is refused: (stored, None) or (None, reason)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, "value_is_mandatory"
    if value_type == "boolean":
        if isinstance(raw, bool):
            return ("true" if raw else "false"), None
        word = raw.strip().lower() if isinstance(raw, str) else None
        if word in _TRUE_WORDS:
            return "true", None
        if word in _FALSE_WORDS:
            return "false", None
        return None, "value_is_invalid"
    if value_type == "integer":
        if isinstance(raw, bool):
            return None, "value_is_invalid"
        if isinstance(raw, int):
            number = raw
        elif isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
            number = int(raw.strip())
        else:
            return None, "value_is_invalid"
        if abs(number) > 2**63 - 1:
            return None, "value_is_out_of_range"
        return str(number), None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None, "value_is_invalid"
    text = str(raw).strip() if isinstance(raw, str) else str(raw)
    if len(text) > MAX_VALUE_LENGTH:
        return None, "value_is_too_long"
    if value_type == "select":
        options = (config or {}).get("select_options") or []
        if text not in options:
            return None, "value_not_in_select_options"
    return text, None


def typed_value(value_type: str, stored: str | None) -> bool | int | str | None:
    """The stored text as the API sends it: a boolean, an integer, or the string itself."""
    if stored is None:
        return None
    if value_type == "boolean":
        return stored == "true"
    if value_type == "integer":
        try:
            return int(stored)
        except ValueError:
            return stored
    return stored
