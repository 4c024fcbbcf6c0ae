"""Lago's dunning fields of a customer through the official lago-python-client: applied_dunning_campaign_code and
exclude_from_dunning_campaign on POST /customers, answered back on the customer; an unknown code is a 422."""

from __future__ import annotations

from typing import Optional

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer

from billing.dunning import campaigns
from billing.organizations.services import create_organization


class DunningCustomer(Customer):
    """lago-python-client 1.55's Customer has neither field yet (Lago's API takes them): added here."""

    applied_dunning_campaign_code: Optional[str]  # noqa: UP045 (pydantic v1 reads the annotation at runtime)
    exclude_from_dunning_campaign: Optional[bool]  # noqa: UP045


def _campaign(org_id: str, code: str, **extra):
    return campaigns.create_campaign(organization_id=org_id, data={
        "code": code, "name": code.title(), "max_attempts": 3, "days_between_attempts": 2,
        "thresholds": [{"currency": "EUR", "amount_cents": 0}], **extra})


def _read(live_server: str, org, external_id: str) -> dict:
    # NOTE: the client's CustomerResponse drops fields it does not know: the customer is read over plain HTTP.
    answer = httpx.get(f"{live_server}/api/v1/customers/{external_id}",
                       headers={"Authorization": f"Bearer {org.api_key}"}, timeout=30)
    assert answer.status_code == 200
    return answer.json()["customer"]


def test_a_customer_is_given_a_campaign_or_excluded(org, lago, live_server):
    _campaign(org.id, "standard", applied_to_organization=True)
    _campaign(org.id, "strict")
    lago.customers.create(DunningCustomer(external_id="acme", name="Acme", applied_dunning_campaign_code="strict"))
    acme = _read(live_server, org, "acme")
    assert (acme["applied_dunning_campaign_code"], acme["exclude_from_dunning_campaign"]) == ("strict", False)

    lago.customers.create(DunningCustomer(external_id="acme", exclude_from_dunning_campaign=True))
    acme = _read(live_server, org, "acme")
    assert (acme["applied_dunning_campaign_code"], acme["exclude_from_dunning_campaign"]) == (None, True)

    lago.customers.create(DunningCustomer(external_id="acme", exclude_from_dunning_campaign=False))
    listed = httpx.get(f"{live_server}/api/v1/customers", headers={"Authorization": f"Bearer {org.api_key}"},
                       timeout=30).json()["customers"]
    assert [(c["applied_dunning_campaign_code"], c["exclude_from_dunning_campaign"]) for c in listed] == [
        (None, False)]  # on the organization's default

    lago.customers.create(Customer(external_id="plain", name="Plain"))  # neither field: nothing changes
    plain = _read(live_server, org, "plain")
    assert (plain["applied_dunning_campaign_code"], plain["exclude_from_dunning_campaign"]) == (None, False)


def test_an_unknown_or_foreign_code_is_refused(org, lago, live_server):
    other = create_organization(name="Globex", default_currency="EUR").organization_id
    _campaign(other, "theirs")
    for code in ("nope", "theirs"):
        with pytest.raises(LagoApiError) as refused:
            lago.customers.create(DunningCustomer(external_id="acme", name="Acme", applied_dunning_campaign_code=code))
        assert refused.value.status_code == 422
        assert refused.value.response["error_details"] == {
            "applied_dunning_campaign_code": ["dunning_campaign_not_found"]}
    answer = httpx.get(f"{live_server}/api/v1/customers/acme", headers={"Authorization": f"Bearer {org.api_key}"},
                       timeout=30)
    assert answer.status_code == 404  # the whole creation was rolled back

    answer = httpx.post(f"{live_server}/api/v1/customers", headers={"Authorization": f"Bearer {org.api_key}"},
                        json={"customer": {"external_id": "acme", "exclude_from_dunning_campaign": "yes"}}, timeout=30)
    assert answer.status_code == 422
    assert answer.json()["error_details"] == {"exclude_from_dunning_campaign": ["invalid_type"]}
