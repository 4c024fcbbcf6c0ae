"""The audit trail of the catalog's other parts, changed through the API: coupons (and their applications to
customers), billable metrics (with the re-derivation a change triggers), add-ons and taxes. Each change is one entry
naming the API key, the object and what changed; a refused request writes none; another organization sees none."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from billing import db
from billing.audit.services import AuditFilters, list_entries, object_history
from billing.metering.services import ingest_events
from billing.organizations.services import create_organization


def _entries(org_id: str, **filters):
    """The organization's entries, oldest first, but the API key's own (made with the organization)."""
    entries = list_entries(organization_id=org_id, filters=AuditFilters(**filters), per_page=100).items
    return [e for e in reversed(entries) if e.object_type != "api_key"]


@pytest.fixture
def api(app, org):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {org.api_key}"}

    def call(method: str, path: str, json: dict | None = None, *, status: int = 200):
        response = client.open(f"/api/v1{path}", method=method, headers=headers, json=json)
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    return call


def _by(entries, action: str):
    found = [e for e in entries if e.action == action]
    assert len(found) == 1, [e.action for e in entries]
    return found[0]


def test_coupons_created_changed_applied_removed_and_deleted(api, org, clock):
    key = org.api_key[:10]
    api("POST", "/coupons", {"coupon": {"name": "Spring", "code": "spring", "coupon_type": "fixed_amount",
                                        "amount_cents": 1000, "amount_currency": "EUR", "frequency": "once",
                                        "expiration": "no_expiration"}})
    api("PUT", "/coupons/spring", {"coupon": {"name": "Spring sale", "amount_cents": 1500}})
    api("POST", "/customers", {"customer": {"external_id": "ann", "name": "Ann Ltd", "currency": "EUR"}})
    applied = api("POST", "/applied_coupons", {"applied_coupon": {"external_customer_id": "ann",
                                                                  "coupon_code": "spring", "amount_cents": 800}})
    applied_id = applied["applied_coupon"]["lago_id"]
    api("DELETE", f"/customers/ann/applied_coupons/{applied_id}")
    api("DELETE", f"/customers/ann/applied_coupons/{applied_id}")  # already ended: no change, no second entry
    api("POST", "/applied_coupons", {"applied_coupon": {"external_customer_id": "ann", "coupon_code": "spring"}})
    api("DELETE", "/coupons/spring")

    entries = [e for e in _entries(org.id) if e.action != "customer.created"]
    assert [(e.action, e.object_type, e.object_label, e.actor_kind, e.actor_label) for e in entries] == [
        ("coupon.created", "coupon", "Spring", "api_key", key),
        ("coupon.updated", "coupon", "Spring sale", "api_key", key),
        ("customer.coupon_applied", "customer", "Ann Ltd", "api_key", key),
        ("customer.coupon_removed", "customer", "Ann Ltd", "api_key", key),
        ("customer.coupon_applied", "customer", "Ann Ltd", "api_key", key),
        ("coupon.deleted", "coupon", "Spring sale", "api_key", key)]
    created, updated, applied_entry, removed, _again, deleted = entries
    assert created.currency == "EUR" and created.changes["amount_cents"] == [None, 1000]
    assert created.changes["coupon_type"] == [None, "fixed_amount"] and created.changes["status"] == [None, "active"]
    assert updated.changes == {"name": ["Spring", "Spring sale"], "amount_cents": [1000, 1500]}
    assert applied_entry.changes == {"coupon_code": [None, "spring"], "amount_cents": [None, 800],
                                     "remaining_amount_cents": [None, 800], "frequency": [None, "once"]}
    assert applied_entry.currency == "EUR"
    assert removed.changes == {"coupon_code": ["spring", None], "amount_cents": [800, None],
                               "remaining_amount_cents": [800, None], "frequency": ["once", None]}
    # The deleted terms, and the one customer who still had the coupon and lost it with them.
    assert deleted.changes["active_applications"] == [1, None] and deleted.changes["code"] == ["spring", None]
    assert deleted.object_id == created.object_id


def test_refused_coupon_requests_write_nothing(api, org, clock):
    api("POST", "/coupons", {"coupon": {"name": "Spring", "code": "spring", "coupon_type": "percentage",
                                        "frequency": "once", "expiration": "no_expiration"}}, status=422)
    api("POST", "/coupons", {"coupon": {"name": "Once", "code": "once", "coupon_type": "percentage",
                                        "percentage_rate": "10", "frequency": "once", "expiration": "no_expiration",
                                        "reusable": False}})
    api("POST", "/customers", {"customer": {"external_id": "ann", "name": "Ann Ltd"}})
    api("PUT", "/coupons/once", {"coupon": {"percentage_rate": "120"}}, status=422)
    api("POST", "/applied_coupons", {"applied_coupon": {"external_customer_id": "ann", "coupon_code": "once"}})
    api("POST", "/applied_coupons", {"applied_coupon": {"external_customer_id": "ann", "coupon_code": "once"}},
        status=422)  # not reusable
    api("PUT", "/coupons/once", {"coupon": {"percentage_rate": "20"}}, status=422)  # applied: its terms are frozen
    assert [e.action for e in _entries(org.id)] == ["coupon.created", "customer.created", "customer.coupon_applied"]
    assert _by(_entries(org.id), "coupon.created").changes["percentage_rate"] == [None, "10"]


def test_metrics_record_their_reading_and_the_events_a_change_rederives(api, org, clock, run_jobs):
    # Events that arrived before their metric: creating it reads them, and the entry says how many.
    ingest_events(organization_id=org.id, raw_events=[
        {"transaction_id": f"t{i}", "external_subscription_id": "s1", "code": "storage",
         "properties": {"gb": str(i), "region": "eu"}} for i in range(3)])
    api("POST", "/billable_metrics", {"billable_metric": {"name": "Storage", "code": "storage",
                                                          "aggregation_type": "sum_agg", "field_name": "gb"}})
    api("PUT", "/billable_metrics/storage", {"billable_metric": {"name": "Storage (GB)"}})
    api("PUT", "/billable_metrics/storage", {"billable_metric": {
        "aggregation_type": "max_agg", "filters": [{"key": "region", "values": ["eu", "us"]}]}})
    api("PUT", "/billable_metrics/storage", {"billable_metric": {"aggregation_type": "nope"}}, status=422)
    run_jobs()  # the rollups the changes asked for
    run_jobs()  # and again: a job run twice writes no entry
    api("DELETE", "/billable_metrics/storage")

    created, renamed, rederived, deleted = _entries(org.id, object_type="billable_metric")
    assert (created.action, created.actor_kind, created.object_label) == ("billable_metric.created", "api_key",
                                                                           "Storage")
    assert created.changes["aggregation_type"] == [None, "sum_agg"] and created.changes["events_rederived"] == [None, 3]
    assert renamed.changes == {"name": ["Storage", "Storage (GB)"]}  # nothing re-derived: the reading is the same
    assert rederived.changes == {"aggregation_type": ["sum_agg", "max_agg"], "filters.region": [None, ["eu", "us"]],
                                 "events_rederived": [None, 3]}
    assert deleted.action == "billable_metric.deleted"
    assert deleted.changes["code"] == ["storage", None] and deleted.changes["events_rederived"] == [None, 3]
    assert len(_entries(org.id)) == 4


def test_deleting_a_metric_names_the_plans_that_lose_its_charge(api, org, clock):
    metric = api("POST", "/billable_metrics", {"billable_metric": {"name": "Calls", "code": "calls",
                                                                   "aggregation_type": "count_agg"}})
    api("POST", "/plans", {"plan": {"name": "Pro", "code": "pro", "interval": "monthly", "amount_cents": 1000,
                                    "amount_currency": "EUR", "charges": [{
                                        "billable_metric_id": metric["billable_metric"]["lago_id"],
                                        "charge_model": "standard", "properties": {"amount": "0.05"}}]}})
    for code in ("pro_a", "pro_b", "pro_c"):  # overrides are plans of their own: a metric is often in many
        api("POST", "/plans", {"plan": {"name": code, "code": code, "interval": "monthly", "amount_cents": 1000,
                                        "amount_currency": "EUR", "charges": [{
                                            "billable_metric_id": metric["billable_metric"]["lago_id"],
                                            "charge_model": "standard", "properties": {"amount": "0.05"}}]}})
    plan_reads = []

    def statement(_conn, _cursor, text, *_args):
        if text.lstrip().startswith("SELECT plans."):
            plan_reads.append(text)

    event.listen(db.engine(), "before_cursor_execute", statement)
    try:
        api("DELETE", "/billable_metrics/calls")
    finally:
        event.remove(db.engine(), "before_cursor_execute", statement)
    assert plan_reads == []  # each charge's plan read with it, not one statement per plan
    deleted = _by(_entries(org.id), "billable_metric.deleted")
    assert deleted.changes["charged_on"] == [["pro", "pro_a", "pro_b", "pro_c"], None]
    assert "events_rederived" not in deleted.changes


def test_add_ons_and_taxes_are_recorded_with_their_prices_and_rates(api, org, clock):
    api("POST", "/taxes", {"tax": {"name": "VAT", "code": "vat", "rate": "20"}})
    api("PUT", "/taxes/vat", {"tax": {"rate": "20.5", "applied_to_organization": True}})
    api("POST", "/taxes", {"tax": {"name": "Too much", "code": "big", "rate": "120"}}, status=422)
    api("POST", "/add_ons", {"add_on": {"name": "Setup", "code": "setup", "amount_cents": 5000,
                                        "amount_currency": "EUR"}})
    api("PUT", "/add_ons/setup", {"add_on": {"amount_cents": 6000, "tax_codes": ["vat"]}})
    api("PUT", "/add_ons/setup", {"add_on": {"amount_cents": -1}}, status=422)
    api("DELETE", "/add_ons/setup")
    api("PUT", "/taxes/vat", {"tax": {"rate": "20.5"}})  # the same rate, told again (PostgreSQL reads 20.500…)
    api("DELETE", "/taxes/vat")

    entries = _entries(org.id)
    assert [e.action for e in entries] == ["tax.created", "tax.updated", "add_on.created", "add_on.updated",
                                           "add_on.deleted", "tax.updated", "tax.deleted"]
    tax_created, tax_updated, created, updated, deleted, unchanged, tax_deleted = entries
    assert tax_created.changes == {"name": [None, "VAT"], "code": [None, "vat"], "rate": [None, "20"],
                                   "applied_to_organization": [None, False]}
    assert tax_updated.changes == {"rate": ["20", "20.5"], "applied_to_organization": [False, True]}
    assert unchanged.changes == {}
    assert tax_deleted.changes["rate"] == ["20.5", None] and tax_deleted.object_id == tax_created.object_id
    assert created.currency == "EUR" and created.changes["amount_cents"] == [None, 5000]
    assert updated.changes == {"amount_cents": [5000, 6000], "tax_codes": [[], ["vat"]]}
    assert deleted.changes["amount_cents"] == [6000, None] and deleted.object_label == "Setup"


def test_another_organization_sees_none_of_it_and_cannot_change_it(api, app, org, clock):
    api("POST", "/coupons", {"coupon": {"name": "Spring", "code": "spring", "coupon_type": "percentage",
                                        "percentage_rate": "10", "frequency": "once",
                                        "expiration": "no_expiration"}})
    [entry] = _entries(org.id)
    other = create_organization(name="Globex", default_currency="EUR")
    outsider = app.test_client().put("/api/v1/coupons/spring", json={"coupon": {"name": "Mine"}},
                                     headers={"Authorization": f"Bearer {other.api_key}"})
    assert outsider.status_code == 404
    assert _entries(other.organization_id) == []
    assert object_history(organization_id=other.organization_id, object_ids=[entry.object_id]) == []
    assert [e.action for e in _entries(org.id)] == ["coupon.created"]
