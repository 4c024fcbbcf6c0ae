"""Tax identification numbers: the shapes a customer's number is held to in the portal."""

from __future__ import annotations

import pytest

from billing.customers import tax_ids


@pytest.mark.parametrize(("number", "country"), [
    ("FR40303265045", "FR"),
    ("FR 40 303 265 045", "FR"),  # spaces as printed on an invoice
    ("40303265045", "FR"),  # the prefix left out
    ("DE123456789", "DE"),
    ("de-123.456.789", "DE"),
    ("ATU12345678", "AT"),
    ("EL123456789", "GR"),  # Greece's prefix is EL
    ("NL123456789B01", "NL"),
    ("ESX1234567Z", "ES"),
    ("IE1234567WA", "IE"),
    ("SE123456789001", "SE"),
    ("GB123456789", "GB"),
    ("CHE123456789MWST", "CH"),
    ("DE123456789", "FR"),  # registered in Germany, billed at a French address
    ("123-45-6789", "US"),  # no rule known for the country: any number
    ("ABN 51 824 753 556", None),
])
def test_accepted(number, country):
    assert tax_ids.is_valid(number, country)


@pytest.mark.parametrize(("number", "country"), [
    ("FR4030326504", "FR"),  # one digit short
    ("DE12345678", "DE"),
    ("ATU1234567", "AT"),
    ("AT12345678", "AT"),  # the U is part of Austria's number
    ("NL123456789", "NL"),  # no B01
    ("hello", "FR"),
    ("IT1234567890", "DE"),  # an Italian prefix with 10 digits instead of 11
    ("DE123", None),  # a known prefix, a wrong shape
    ("   ", None),
])
def test_refused(number, country):
    assert not tax_ids.is_valid(number, country)


def test_normalized_number_is_what_registries_print():
    assert tax_ids.normalized(" fr 40.303-265/045 ") == "FR40303265045"
    assert tax_ids.has_rule("gr") and tax_ids.has_rule("CH") and not tax_ids.has_rule("US")
