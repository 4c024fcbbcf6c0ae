"""What a plan includes, in plain words ("Up to 10 seats", "SSO", "Provider: Okta"), and the words of the
feature editors (value types, refusal reasons)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from babel.numbers import format_decimal

from wording.i18n import DEFAULT_LOCALE, N_, babel_locale, gettext

VALUE_TYPES = {
    "boolean": N_("Yes or no"),
    "integer": N_("Whole number"),
    "string": N_("Text"),
    "select": N_("One of a list"),
}

# NOTE: an integer privilege coded like a ceiling (`max`, `max_seats`, `limit`) reads as "up to N".
_CEILINGS = ("max", "maximum", "limit", "quota")

REASONS = {
    "value_is_mandatory": N_("Required."),
    "value_is_invalid": N_("Not a valid value for this type."),
    "value_is_too_long": N_("Too long."),
    "value_already_exist": N_("Another feature already has this code."),
    "value_is_duplicated": N_("Two privileges have the same code."),
    "value_cannot_change": N_("A privilege keeps its type: delete it and add a new one."),
    "invalid_format": N_("A list privilege needs its options (comma-separated); other types have none."),
    "value_not_in_select_options": N_("Not one of the options."),
    "value_is_out_of_range": N_("Too large."),
    "feature_not_found": N_("This feature no longer exists."),
    "privilege_not_found": N_("This privilege no longer exists."),
}


class Privilege(Protocol):
    code: str
    name: str | None
    value_type: str
    value: object


class Feature(Protocol):
    code: str
    name: str | None
    privileges: Iterable[Privilege]


def reason(code: str, locale: str = DEFAULT_LOCALE) -> str:
    text = REASONS.get(code)
    return gettext(text, locale) if text else code.replace("_", " ")


def value_type_choices(locale: str = DEFAULT_LOCALE) -> list[tuple[str, str]]:
    return [(code, gettext(text, locale)) for code, text in VALUE_TYPES.items()]


def _is_ceiling(code: str) -> bool:
    return any(code == word or code.startswith(f"{word}_") for word in _CEILINGS)


def _number(value: object, locale: str) -> str:
    return format_decimal(value, locale=babel_locale(locale)) if isinstance(value, int) else str(value)


def privilege_words(privilege: Privilege, locale: str = DEFAULT_LOCALE) -> str | None:
    """One privilege's value in words; None for a privilege switched off (a `false`)."""
    label = privilege.name or privilege.code.replace("_", " ").capitalize()
    if privilege.value_type == "boolean":
        return label if privilege.value is True else None
    if privilege.value_type == "integer" and _is_ceiling(privilege.code):
        return gettext("up to %(number)s", locale) % {"number": _number(privilege.value, locale)}
    return gettext("%(label)s: %(value)s", locale) % {"label": label, "value": _number(privilege.value, locale)}


def feature_words(feature: Feature, locale: str = DEFAULT_LOCALE) -> str:
    """A feature a plan includes, in one line: "SSO", "Up to 10 seats", "Seats: up to 10, Allow root user"."""
    name = feature.name or feature.code.replace("_", " ").capitalize()
    privileges = list(feature.privileges)
    if len(privileges) == 1 and privileges[0].value_type == "integer" and _is_ceiling(privileges[0].code):
        return gettext("Up to %(number)s %(feature)s", locale) % {
            "number": _number(privileges[0].value, locale), "feature": name[:1].lower() + name[1:]}
    details = [words for words in (privilege_words(p, locale) for p in privileges) if words]
    if not details:
        return name
    return gettext("%(feature)s: %(details)s", locale) % {"feature": name, "details": ", ".join(details)}


def plan_feature_lines(features: Iterable[Feature], locale: str = DEFAULT_LOCALE) -> list[str]:
    return [feature_words(f, locale) for f in features]


def form_value(value: object) -> str:
    """A privilege's value as an editor's field shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_reasons(details: Mapping[str, object], locale: str = DEFAULT_LOCALE) -> dict[str, list[str]]:
    """ValidationFailed details as field -> sentences."""
    return {field: [reason(str(code), locale) for code in (codes if isinstance(codes, list) else [codes])]
            for field, codes in details.items()}
