"""Lago's shipping_address and billing_configuration.document_locale on customers, through lago-python-client."""

from __future__ import annotations

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer
from lago_python_client.models.customer import Address, CustomerBillingConfiguration


def test_shipping_address_and_document_locale_are_kept_and_answered(lago):
    created = lago.customers.create(Customer(
        external_id="ship-1", country="FR",
        shipping_address=Address(address_line1="2 quai de Seine", city="Lyon", zipcode="69001", country="fr"),
        billing_configuration=CustomerBillingConfiguration(document_locale="FR")))
    assert created.shipping_address.city == "Lyon" and created.shipping_address.country == "FR"
    assert created.billing_configuration.document_locale == "fr"

    # An update naming only the city keeps the rest of the address and the locale.
    updated = lago.customers.create(Customer(external_id="ship-1", shipping_address=Address(city="Lille")))
    assert (updated.shipping_address.city, updated.shipping_address.address_line1) == ("Lille", "2 quai de Seine")
    assert updated.billing_configuration.document_locale == "fr"


def test_a_bad_shipping_country_or_locale_is_refused_by_its_field(lago):
    with pytest.raises(LagoApiError) as raised:
        lago.customers.create(Customer(external_id="ship-2", shipping_address=Address(country="Atlantis"),
                                       billing_configuration=CustomerBillingConfiguration(document_locale="zz")))
    assert raised.value.status_code == 422
    assert raised.value.response["error_details"] == {
        "shipping_address.country": ["country_code_invalid"],
        "billing_configuration.document_locale": ["value_is_invalid"]}
    with pytest.raises(LagoApiError):
        lago.customers.find("ship-2")  # nothing half-written
