"""Entitlements without a database: a privilege's value checked and read back by its type, a subscription's
features resolved from its plan's and its own (the override winning), and what a plan includes in plain words."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from billing.entitlements.models import Entitlement, EntitlementValue, Feature, Privilege
from billing.entitlements.services import resolve
from billing.entitlements.values import stored_value, typed_value
from wording.entitlements import feature_words


@pytest.mark.parametrize(("value_type", "raw", "expected"), [
    ("integer", 10, ("10", None)),
    ("integer", "25", ("25", None)),
    ("integer", " -3 ", ("-3", None)),
    ("integer", True, (None, "value_is_invalid")),
    ("integer", 1.5, (None, "value_is_invalid")),
    ("integer", "ten", (None, "value_is_invalid")),
    ("integer", 2**70, (None, "value_is_out_of_range")),
    ("boolean", True, ("true", None)),
    ("boolean", "false", ("false", None)),
    ("boolean", "maybe", (None, "value_is_invalid")),
    ("string", "eu-west", ("eu-west", None)),
    ("string", 42, ("42", None)),
    ("string", {"a": 1}, (None, "value_is_invalid")),
    ("string", "x" * 256, (None, "value_is_too_long")),
    ("select", "okta", ("okta", None)),
    ("select", "github", (None, "value_not_in_select_options")),
    ("string", None, (None, "value_is_mandatory")),
])
def test_a_value_is_checked_against_its_type(value_type, raw, expected):
    assert stored_value(value_type, {"select_options": ["google", "okta"]}, raw) == expected


def test_a_stored_value_is_read_back_typed():
    assert typed_value("integer", "10") == 10
    assert typed_value("boolean", "true") is True and typed_value("boolean", "false") is False
    assert typed_value("select", "okta") == "okta" and typed_value("string", None) is None


def _feature(code: str, *privileges: tuple[str, str]) -> Feature:
    feature = Feature(id=code, code=code, name=code.title(), privileges=[])
    for position, (privilege_code, value_type) in enumerate(privileges):
        feature.privileges.append(Privilege(id=f"{code}.{privilege_code}", code=privilege_code, name=None,
                                            value_type=value_type, config={}, position=position))
    return feature


def _entitlement(feature: Feature, **values: str) -> Entitlement:
    entitlement = Entitlement(feature_id=feature.id, feature=feature, values=[])
    privileges = {p.code: p for p in feature.privileges}
    for code, value in values.items():
        entitlement.values.append(EntitlementValue(privilege_id=privileges[code].id, privilege=privileges[code],
                                                   value=value))
    return entitlement


def test_a_subscription_has_its_plans_features_with_its_own_values_winning():
    seats = _feature("seats", ("max", "integer"), ("root", "boolean"))
    sso = _feature("sso")
    api = _feature("api", ("rate", "integer"))
    plan = [_entitlement(seats, max="10", root="true"), _entitlement(sso)]
    own = [_entitlement(seats, max="15"), _entitlement(api, rate="100")]

    resolved = resolve(plan, own)
    assert [f.code for f in resolved] == ["api", "seats", "sso"]
    api_row, seats_row, sso_row = resolved
    assert [(p.code, p.value, p.plan_value, p.override_value) for p in seats_row.privileges] == [
        ("max", 15, 10, 15), ("root", True, True, None)]
    assert seats_row.overrides == {"max": 15}
    assert (api_row.privileges[0].value, api_row.privileges[0].plan_value) == (100, None)
    assert sso_row.privileges == () and sso_row.overrides == {}
    assert [f.code for f in resolve(plan, [])] == ["seats", "sso"]


def _words(name: str, *privileges: tuple[str, str, object], code: str = "f") -> str:
    return feature_words(SimpleNamespace(code=code, name=name, privileges=[
        SimpleNamespace(code=c, name=c.title(), value_type=t, value=v) for c, t, v in privileges]))


def test_what_a_plan_includes_in_plain_words():
    assert _words("SSO") == "SSO"
    assert _words("Seats", ("max", "integer", 10)) == "Up to 10 seats"
    assert _words("Seats", ("max", "integer", 10000)) == "Up to 10,000 seats"
    assert _words("Seats", ("max", "integer", 10), ("admins", "boolean", True)) == "Seats: up to 10, Admins"
    assert _words("Seats", ("max", "integer", 10), ("admins", "boolean", False)) == "Seats: up to 10"
    assert _words("Storage", ("region", "select", "eu")) == "Storage: Region: eu"
