"""The audit trail: appended in the transaction of each change, by the actor the door authenticated (an API key, an
account manager) or the system; a rolled-back change leaves no entry; PostgreSQL refuses to change an entry."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from billing import db
from billing.audit.actors import Actor, acting_as, current_actor
from billing.audit.services import AuditFilters, changed_fields, list_entries
from billing.catalog.metrics import create_billable_metric
from billing.catalog.services import create_plan, update_plan
from billing.customers.services import upsert_customer
from billing.errors import ValidationFailed
from billing.lifecycle import create_subscription, terminate_subscription
from billing.subscriptions.services import update_subscription
from billing.wallets.services import create_wallet, create_wallet_transaction, terminate_wallet, update_wallet
from web.demo import delete_organization_data


def _entries(org_id: str, **filters):
    """The organization's entries, oldest first, but the first key's (made with the organization)."""
    entries = list_entries(organization_id=org_id, filters=AuditFilters(**filters), per_page=100).items
    return [e for e in reversed(entries) if e.object_type != "api_key"]


def _plan(org_id: str):
    metric = create_billable_metric(organization_id=org_id, data={"name": "Calls", "code": "calls",
                                                                  "aggregation_type": "count_agg"})
    return create_plan(organization_id=org_id, data={
        "name": "Pro", "code": "pro", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metric.id, "charge_model": "standard", "properties": {"amount": "0.05"}}]})


def test_changed_fields_names_only_the_leaves_that_differ():
    before = {"amount_cents": 1000, "charges": {"calls": {"properties": {"amount": "0.05", "x": 1}}}, "name": "A"}
    after = {"amount_cents": 1200, "charges": {"calls": {"properties": {"amount": "0.07", "x": 1}}}, "name": "A"}
    assert changed_fields(before, after) == {"amount_cents": [1000, 1200],
                                             "charges.calls.properties.amount": ["0.05", "0.07"]}
    assert changed_fields(None, {"role": "admin"}) == {"role": [None, "admin"]}
    # A decimal read back from NUMERIC(40,15) has the scale of the column, not another value.
    assert changed_fields({"rate": Decimal("20.500000000000000")}, {"rate": Decimal("20.5")}) == {}
    assert changed_fields({"rate": Decimal("20.50")}, {"rate": Decimal("20.25")}) == {"rate": ["20.5", "20.25"]}


def test_the_actor_is_the_system_unless_a_door_says_otherwise():
    assert current_actor().kind == "system"
    with acting_as(Actor(kind="account_manager", id="u1", label="ann@acme.test")):
        assert current_actor().label == "ann@acme.test"
    assert current_actor().kind == "system"


def test_plan_and_override_changes_record_their_charges_and_amounts(org, clock):
    plan = _plan(org.id)
    [charge] = plan.charges
    update_plan(organization_id=org.id, code="pro", data={"amount_cents": 1500, "charges": [
        {"id": charge.id, "billable_metric_id": charge.billable_metric_id, "charge_model": "standard",
         "properties": {"amount": "0.07"}}]})
    upsert_customer(organization_id=org.id, data={"external_id": "c1", "name": "Ann", "currency": "EUR"})
    create_subscription(organization_id=org.id, data={"external_customer_id": "c1", "plan_code": "pro",
                                                      "external_id": "s1"})
    update_subscription(organization_id=org.id, external_id="s1", data={"plan_overrides": {"amount_cents": 900}})
    terminate_subscription(organization_id=org.id, external_id="s1")

    entries = [e for e in _entries(org.id) if e.object_type not in ("customer", "billable_metric")]
    assert [(e.action, e.object_label, e.actor_kind) for e in entries] == [
        ("plan.created", "Pro", "system"), ("plan.updated", "Pro", "system"),
        ("subscription.created", "s1", "system"), ("subscription.overrides_changed", "s1", "system"),
        ("subscription.terminated", "s1", "system")]
    assert entries[1].changes == {"amount_cents": [1000, 1500], "charges.calls.properties.amount": ["0.05", "0.07"]}
    assert entries[1].currency == "EUR"
    assert entries[3].changes == {"amount_cents": [1500, 900]}
    assert entries[4].changes["status"] == ["active", "terminated"]


def test_wallet_changes_are_recorded(org, clock):
    upsert_customer(organization_id=org.id, data={"external_id": "c1", "name": "Ann", "currency": "EUR"})
    wallet = create_wallet(organization_id=org.id, data={"external_customer_id": "c1", "rate_amount": "1",
                                                         "name": "Prepaid", "granted_credits": "10"})
    create_wallet_transaction(organization_id=org.id, data={"wallet_id": wallet.id, "granted_credits": "5"})
    update_wallet(organization_id=org.id, wallet_id=wallet.id, data={"recurring_transaction_rules": [
        {"trigger": "threshold", "threshold_credits": "2", "granted_credits": "8"}]})
    terminate_wallet(organization_id=org.id, wallet_id=wallet.id)
    entries = _entries(org.id, object_type="wallet")
    assert [e.action for e in entries] == ["wallet.created", "wallet.credits_granted", "wallet.rules_changed",
                                           "wallet.terminated"]
    assert entries[1].changes == {"granted_credits": [None, "5"]}
    assert entries[2].changes["rules.rule 1.threshold_credits"] == [None, "2"]
    assert entries[3].changes == {"status": ["active", "terminated"], "credits_balance": ["15", "0"]}


def test_a_rolled_back_change_leaves_no_entry(org, clock, monkeypatch):
    _plan(org.id)
    upsert_customer(organization_id=org.id, data={"external_id": "c1", "name": "Ann", "currency": "EUR"})
    count = len(_entries(org.id))

    def fail(*_args, **_kwargs):
        raise RuntimeError("the webhook outbox is down")

    # The subscription's entry is added before its webhook: the failure after it rolls both back.
    monkeypatch.setattr("billing.lifecycle.emit_subscription", fail)
    with pytest.raises(RuntimeError):
        create_subscription(organization_id=org.id, data={"external_customer_id": "c1", "plan_code": "pro"})
    with pytest.raises(ValidationFailed):
        update_plan(organization_id=org.id, code="pro", data={"amount_cents": -1})
    assert len(_entries(org.id)) == count


def test_the_api_records_its_key_as_the_actor(org, app, clock):
    api = app.test_client()
    headers = {"Authorization": f"Bearer {org.api_key}"}
    _plan(org.id)
    created = api.put("/api/v1/plans/pro", headers=headers, json={"plan": {"amount_cents": 2000}})
    assert created.status_code == 200
    [entry] = _entries(org.id, action="plan.updated")
    assert (entry.actor_kind, entry.actor_label, entry.changes) == ("api_key", org.api_key[:10],
                                                                    {"amount_cents": [1000, 2000]})
    assert current_actor().kind == "system"  # the request's actor ended with it


def test_customers_created_and_changed_through_the_api_are_recorded(org, app, clock):
    api = app.test_client()
    headers = {"Authorization": f"Bearer {org.api_key}"}
    for name in ("Bob", "Bob Ltd"):
        saved = api.post("/api/v1/customers", headers=headers, json={"customer": {"external_id": "bob", "name": name}})
        assert saved.status_code == 200
    created, updated = _entries(org.id, object_type="customer")
    assert (created.action, created.actor_kind, created.changes["name"]) == ("customer.created", "api_key",
                                                                            [None, "Bob"])
    assert (updated.action, updated.object_label, updated.changes) == ("customer.updated", "Bob Ltd",
                                                                      {"name": ["Bob", "Bob Ltd"]})


def test_postgresql_refuses_to_change_or_delete_an_entry_but_with_its_organization(org, clock):
    _plan(org.id)
    engine = db.engine()
    if engine.dialect.name != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's; SQLite relies on the service only inserting")
    for statement in ("UPDATE audit_log SET action = 'plan.deleted'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(sa.text(statement))
    assert [e.action for e in _entries(org.id)] == ["billable_metric.created", "plan.created"]
    delete_organization_data(org.id)  # the trail goes only with its whole organization (seed-demo --reset)
    with engine.begin() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM audit_log WHERE organization_id = :id"),
                                 {"id": org.id}) == 0

