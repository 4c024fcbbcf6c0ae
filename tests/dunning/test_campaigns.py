"""Dunning campaigns as the core keeps them: validation by field (Lago's codes), one default per organization, soft
deletion, which campaign a customer is on, and the counts restarted when the rules change (as Lago does)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from billing.customers.models import Customer
from billing.customers.services import upsert_customer
from billing.db import read_only, unit_of_work
from billing.dunning import campaigns
from billing.dunning.models import DunningCampaign
from billing.dunning.reminders import DEFAULT_MESSAGE, DEFAULT_SUBJECT
from billing.errors import NotFound, ValidationFailed
from billing.organizations.services import create_organization


def _data(code: str = "standard", **extra) -> dict:
    return {"code": code, "name": code.title(), "max_attempts": 3, "days_between_attempts": 2,
            "thresholds": [{"currency": "EUR", "amount_cents": 10_000}], **extra}


def _refused(call, **kwargs) -> dict:
    with pytest.raises(ValidationFailed) as refused:
        call(**kwargs)
    return refused.value.details


def _customer(org_id: str, external_id: str) -> Customer:
    with read_only() as session:
        return session.scalar(select(Customer).where(Customer.organization_id == org_id,
                                                     Customer.external_id == external_id))


def _mid_campaign(org_id: str, *external_ids: str) -> None:
    """As if the dunning run had made two attempts on each."""
    with unit_of_work() as uow:
        uow.session.execute(update(Customer).where(Customer.organization_id == org_id,
                                                   Customer.external_id.in_(external_ids)).values(
            last_dunning_campaign_attempt=2, last_dunning_campaign_attempt_at=datetime(2026, 11, 5, tzinfo=UTC)))


def _counts(org_id: str, external_id: str) -> tuple[int, int, datetime | None]:
    c = _customer(org_id, external_id)
    return c.dunning_cycle, c.last_dunning_campaign_attempt, c.last_dunning_campaign_attempt_at


def test_a_campaign_is_created_with_its_thresholds_and_default_wording(org):
    created = campaigns.create_campaign(organization_id=org.id, data=_data(
        description="Most customers", bcc_emails=["ar@acme.test"],
        thresholds=[{"currency": "USD", "amount_cents": 5000}, {"currency": "EUR", "amount_cents": 0}]))
    assert (created.code, created.max_attempts, created.days_between_attempts) == ("standard", 3, 2)
    assert [(t.currency, t.amount_cents) for t in created.thresholds] == [("EUR", 0), ("USD", 5000)]
    assert (created.reminder_subject, created.reminder_message) == (DEFAULT_SUBJECT, DEFAULT_MESSAGE)
    assert created.bcc_emails == ["ar@acme.test"] and not created.applied_to_organization
    assert campaigns.get_campaign(organization_id=org.id, campaign_id=created.id).name == "Standard"


@pytest.mark.parametrize(("data", "details"), [
    ({}, {"code": ["value_is_mandatory"], "name": ["value_is_mandatory"], "max_attempts": ["value_is_mandatory"],
          "days_between_attempts": ["value_is_mandatory"], "thresholds": ["value_is_mandatory"]}),
    (_data(max_attempts=0, days_between_attempts=366), {"max_attempts": ["value_is_out_of_range"],
                                                        "days_between_attempts": ["value_is_out_of_range"]}),
    (_data(max_attempts=21, days_between_attempts="x"), {"max_attempts": ["value_is_out_of_range"],
                                                         "days_between_attempts": ["invalid_type"]}),
    (_data(thresholds=[]), {"thresholds": ["value_is_mandatory"]}),
    (_data(thresholds="EUR"), {"thresholds": ["invalid_type"]}),
    (_data(thresholds=[{"currency": "EUR", "amount_cents": 1}, {"currency": "EUR", "amount_cents": 2},
                       {"currency": "XXY", "amount_cents": -1}, "x"]),
     {"thresholds.1.currency": ["value_already_exist"], "thresholds.2.currency": ["value_is_invalid"],
      "thresholds.2.amount_cents": ["value_is_out_of_range"], "thresholds.3": ["invalid_type"]}),
    (_data(bcc_emails=["a@b.test", "nope"]), {"bcc_emails": ["invalid_email_format"]}),
    (_data(bcc_emails=[f"a{i}@b.test" for i in range(6)]), {"bcc_emails": ["too_many_emails"]}),
    (_data(reminder_subject="Pay {amount}\nnow", reminder_message="Dear {first_name}"),
     {"reminder_subject": ["value_is_invalid"], "reminder_message": ["unknown_placeholder"]}),
    (_data(reminder_subject="x" * 256, reminder_message="y" * 5001),
     {"reminder_subject": ["value_is_too_long"], "reminder_message": ["value_is_too_long"]}),
    (_data(reminder_subject="", applied_to_organization="yes"),
     {"reminder_subject": ["value_is_mandatory"], "applied_to_organization": ["invalid_type"]}),
])
def test_bad_input_is_refused_by_field(org, data, details):
    assert _refused(campaigns.create_campaign, organization_id=org.id, data=data) == details
    assert campaigns.list_campaigns(organization_id=org.id) == []


def test_codes_are_unique_among_live_campaigns_of_an_organization(org):
    first = campaigns.create_campaign(organization_id=org.id, data=_data("standard"))
    assert _refused(campaigns.create_campaign, organization_id=org.id, data=_data("standard")) == {
        "code": ["value_already_exist"]}
    other = create_organization(name="Globex", default_currency="EUR").organization_id
    campaigns.create_campaign(organization_id=other, data=_data("standard"))  # another organization's
    second = campaigns.create_campaign(organization_id=org.id, data=_data("gentle"))
    assert _refused(campaigns.update_campaign, organization_id=org.id, campaign_id=second.id,
                    data={"code": "standard"}) == {"code": ["value_already_exist"]}
    campaigns.update_campaign(organization_id=org.id, campaign_id=first.id, data={"code": "standard"})  # its own
    campaigns.delete_campaign(organization_id=org.id, campaign_id=first.id)
    assert campaigns.create_campaign(organization_id=org.id, data=_data("standard")).id != first.id


def test_one_default_at_a_time_and_the_customers_it_applies_to(org):
    for external_id in ("alice", "bob", "carol", "dave"):
        upsert_customer(organization_id=org.id, data={"external_id": external_id, "name": external_id.title()})
    standard = campaigns.create_campaign(organization_id=org.id, data=_data("standard", applied_to_organization=True))
    strict = campaigns.create_campaign(organization_id=org.id, data=_data("strict", max_attempts=5))
    upsert_customer(organization_id=org.id, data={"external_id": "bob", "applied_dunning_campaign_code": "strict"})
    upsert_customer(organization_id=org.id, data={"external_id": "carol", "exclude_from_dunning_campaign": True})

    rows = campaigns.list_campaigns(organization_id=org.id)
    assert [(r.campaign.code, r.campaign.applied_to_organization, r.customers_count) for r in rows] == [
        ("standard", True, 2), ("strict", False, 1)]
    page = campaigns.campaign_customers(organization_id=org.id, campaign_id=standard.id)
    assert [c.external_id for c in page.items] == ["alice", "dave"]
    customers = {x: _customer(org.id, x) for x in ("alice", "bob", "carol")}
    with read_only() as session:
        on = {x: getattr(campaigns.campaign_for(session, c), "code", None) for x, c in customers.items()}
    assert on == {"alice": "standard", "bob": "strict", "carol": None}

    # A new default takes the place of the previous one, in the same transaction.
    campaigns.create_campaign(organization_id=org.id, data=_data("gentle", applied_to_organization=True))
    rows = campaigns.list_campaigns(organization_id=org.id)
    assert [(r.campaign.code, r.campaign.applied_to_organization, r.customers_count) for r in rows] == [
        ("gentle", True, 2), ("standard", False, 0), ("strict", False, 1)]
    campaigns.update_campaign(organization_id=org.id, campaign_id=strict.id, data={"applied_to_organization": True})
    assert {r.campaign.code: r.customers_count for r in campaigns.list_campaigns(organization_id=org.id)} == {
        "strict": 3, "gentle": 0, "standard": 0}
    campaigns.update_campaign(organization_id=org.id, campaign_id=strict.id, data={"applied_to_organization": False})
    alice = _customer(org.id, "alice")
    with read_only() as session:
        assert campaigns.default_campaign(session, org.id) is None
        assert campaigns.campaign_for(session, alice) is None


def test_changing_the_rules_restarts_the_counts_of_its_customers_only(org):
    for external_id in ("alice", "bob", "carol"):
        upsert_customer(organization_id=org.id, data={"external_id": external_id})
    standard = campaigns.create_campaign(organization_id=org.id, data=_data("standard", applied_to_organization=True))
    strict = campaigns.create_campaign(organization_id=org.id, data=_data("strict"))
    upsert_customer(organization_id=org.id, data={"external_id": "bob", "applied_dunning_campaign_code": "strict"})
    cycles = {x: _counts(org.id, x)[0] for x in ("alice", "bob", "carol")}
    _mid_campaign(org.id, "alice", "bob", "carol")

    # Words only: nothing restarts.
    campaigns.update_campaign(organization_id=org.id, campaign_id=standard.id, data={
        "name": "Standard dunning", "reminder_subject": "About {amount}", "bcc_emails": ["ar@acme.test"]})
    assert _counts(org.id, "alice")[1:] == (2, datetime(2026, 11, 5, tzinfo=UTC))
    # The same thresholds again: nothing restarts.
    campaigns.update_campaign(organization_id=org.id, campaign_id=standard.id, data={
        "thresholds": [{"currency": "EUR", "amount_cents": 10_000}], "max_attempts": 3})
    assert _counts(org.id, "alice")[1] == 2

    campaigns.update_campaign(organization_id=org.id, campaign_id=standard.id, data={"days_between_attempts": 4})
    assert _counts(org.id, "alice") == (cycles["alice"] + 1, 0, None)
    assert _counts(org.id, "carol") == (cycles["carol"] + 1, 0, None)
    assert _counts(org.id, "bob")[1] == 2  # on its own campaign

    campaigns.update_campaign(organization_id=org.id, campaign_id=strict.id, data={
        "thresholds": [{"currency": "EUR", "amount_cents": 10_000}, {"currency": "USD", "amount_cents": 0}]})
    assert _counts(org.id, "bob") == (cycles["bob"] + 1, 0, None)
    assert [(t.currency, t.amount_cents) for t in campaigns.get_campaign(
        organization_id=org.id, campaign_id=strict.id).thresholds] == [("EUR", 10_000), ("USD", 0)]
    campaigns.update_campaign(organization_id=org.id, campaign_id=strict.id, data={
        "thresholds": [{"currency": "USD", "amount_cents": 500}]})
    assert [(t.currency, t.amount_cents) for t in campaigns.get_campaign(
        organization_id=org.id, campaign_id=strict.id).thresholds] == [("USD", 500)]


def test_deleting_a_campaign_sends_its_customers_back_to_the_default(org):
    upsert_customer(organization_id=org.id, data={"external_id": "alice"})
    standard = campaigns.create_campaign(organization_id=org.id, data=_data("standard", applied_to_organization=True))
    strict = campaigns.create_campaign(organization_id=org.id, data=_data("strict"))
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "applied_dunning_campaign_code": "strict"})
    _mid_campaign(org.id, "alice")
    cycle = _counts(org.id, "alice")[0]

    campaigns.delete_campaign(organization_id=org.id, campaign_id=strict.id)
    alice = _customer(org.id, "alice")
    assert alice.applied_dunning_campaign_id is None and _counts(org.id, "alice") == (cycle + 1, 0, None)
    with read_only() as session:
        assert campaigns.campaign_for(session, alice).id == standard.id
        assert session.get(DunningCampaign, strict.id).deleted_at is not None  # kept: its attempts name it
    with pytest.raises(NotFound):
        campaigns.get_campaign(organization_id=org.id, campaign_id=strict.id)
    with pytest.raises(NotFound):
        campaigns.update_campaign(organization_id=org.id, campaign_id=strict.id, data={"name": "x"})
    campaigns.delete_campaign(organization_id=org.id, campaign_id=standard.id)
    with read_only() as session:
        assert campaigns.campaign_for(session, alice) is None
    assert _refused(upsert_customer, organization_id=org.id, data={
        "external_id": "alice", "applied_dunning_campaign_code": "strict"}) == {
        "applied_dunning_campaign_code": ["dunning_campaign_not_found"]}


def test_another_organizations_campaign_is_not_found(org):
    other = create_organization(name="Globex", default_currency="EUR").organization_id
    theirs = campaigns.create_campaign(organization_id=other, data=_data("theirs"))
    for call in (campaigns.get_campaign, campaigns.delete_campaign):
        with pytest.raises(NotFound):
            call(organization_id=org.id, campaign_id=theirs.id)
    with pytest.raises(NotFound):
        campaigns.campaign_customers(organization_id=org.id, campaign_id=theirs.id)
    assert _refused(upsert_customer, organization_id=org.id, data={
        "external_id": "alice", "applied_dunning_campaign_code": "theirs"}) == {
        "applied_dunning_campaign_code": ["dunning_campaign_not_found"]}


def test_a_customers_choice_restarts_its_counts_when_it_changes(org):
    campaigns.create_campaign(organization_id=org.id, data=_data("standard", applied_to_organization=True))
    campaigns.create_campaign(organization_id=org.id, data=_data("strict"))
    upsert_customer(organization_id=org.id, data={"external_id": "alice"})
    _mid_campaign(org.id, "alice")
    cycle = _counts(org.id, "alice")[0]
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "applied_dunning_campaign_code": None,
                                                  "exclude_from_dunning_campaign": False})
    assert _counts(org.id, "alice") == (cycle, 2, datetime(2026, 11, 5, tzinfo=UTC))  # unchanged: no restart
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "applied_dunning_campaign_code": "strict"})
    assert _counts(org.id, "alice") == (cycle + 1, 0, None)
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "exclude_from_dunning_campaign": True})
    alice = _customer(org.id, "alice")
    assert alice.exclude_from_dunning_campaign and alice.applied_dunning_campaign_id is None
    assert _counts(org.id, "alice")[0] == cycle + 2
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "applied_dunning_campaign_code": "strict"})
    alice = _customer(org.id, "alice")
    assert not alice.exclude_from_dunning_campaign and alice.applied_dunning_campaign.code == "strict"
    assert _refused(upsert_customer, organization_id=org.id, data={
        "external_id": "alice", "applied_dunning_campaign_code": 5, "exclude_from_dunning_campaign": "no"}) == {
        "applied_dunning_campaign_code": ["invalid_type"], "exclude_from_dunning_campaign": ["invalid_type"]}
