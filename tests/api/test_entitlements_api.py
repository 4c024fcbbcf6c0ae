"""Lago's features and entitlements API. lago-python-client has no client for them, so they are called over plain HTTP
with the OpenAPI shapes; plans, customers and subscriptions are set up through the client. Covers the 16 operations,
Lago's refusals (types per value_type, select options, unknown codes), the plan value overridden per subscription,
an override outliving a plan change, the feature.* webhooks, and one organization never reaching another's."""

from __future__ import annotations

import json

import httpx
import pytest
from lago_python_client.client import Client
from lago_python_client.models import Customer, Plan, Subscription, WebhookEndpoint
from sqlalchemy import select

from billing.audit.services import AuditFilters, list_entries
from billing.db import read_only
from billing.organizations.services import create_organization
from billing.webhooks.models import WebhookDelivery

pytestmark = pytest.mark.usefixtures("allow_private_webhooks")

SEATS = {"code": "seats", "name": "Seats", "description": "Users of the account", "privileges": [
    {"code": "max", "name": "Maximum", "value_type": "integer"},
    {"code": "root", "name": "Allow root user", "value_type": "boolean"},
]}
SSO = {"code": "sso", "name": "Single sign-on", "privileges": [
    {"code": "provider", "name": "Provider", "value_type": "select", "config": {"select_options": ["google", "okta"]}},
]}


def _call(server: str, key: str, method: str, path: str, payload: object | None = None) -> httpx.Response:
    return httpx.request(method, f"{server}/api/v1{path}", headers={"Authorization": f"Bearer {key}"},
                         json=payload, timeout=30)


@pytest.fixture
def api(live_server, org):
    def call(method: str, path: str, payload: object | None = None) -> httpx.Response:
        return _call(live_server, org.api_key, method, path, payload)

    return call


@pytest.fixture
def catalog(api, lago):
    """Two features, two plans, and a customer subscribed to `startup` as `sub-1`."""
    assert api("POST", "/features", {"feature": SEATS}).status_code == 200
    assert api("POST", "/features", {"feature": SSO}).status_code == 200
    for code in ("startup", "scale"):
        lago.plans.create(Plan(name=code.title(), code=code, interval="monthly", amount_cents=1000,
                               amount_currency="EUR"))
    lago.customers.create(Customer(external_id="cus-1", name="Acme"))
    lago.subscriptions.create(Subscription(external_customer_id="cus-1", plan_code="startup", external_id="sub-1"))


def test_features_crud(api, lago):
    created = api("POST", "/features", {"feature": SEATS})
    assert created.status_code == 200, created.text
    feature = created.json()["feature"]
    assert {k: feature[k] for k in ("code", "name", "description")} == {
        "code": "seats", "name": "Seats", "description": "Users of the account"}
    assert feature["privileges"] == [
        {"code": "max", "name": "Maximum", "value_type": "integer", "config": {}},
        {"code": "root", "name": "Allow root user", "value_type": "boolean", "config": {}}]
    assert feature["created_at"].endswith("Z")
    assert api("GET", "/features/seats").json()["feature"] == feature

    listed = api("GET", "/features?search_term=USERS").json()
    assert [f["code"] for f in listed["features"]] == ["seats"] and listed["meta"]["total_count"] == 1
    assert api("GET", "/features?search_term=nothing").json()["meta"]["total_count"] == 0

    # PUT: the privileges sent are the whole list (`root` goes), a new one is added, a name changes.
    updated = api("PUT", "/features/seats", {"feature": {"name": "Seats v2", "privileges": [
        {"code": "max", "name": "Max users"},
        {"code": "tier", "value_type": "select", "config": {"select_options": ["a", "b"]}}]}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["feature"]["name"] == "Seats v2"
    assert [(p["code"], p["name"], p["value_type"], p["config"]) for p in updated.json()["feature"]["privileges"]] == [
        ("max", "Max users", "integer", {}), ("tier", None, "select", {"select_options": ["a", "b"]})]

    options = api("PUT", "/features/seats", {"feature": {"privileges": [
        {"code": "max"}, {"code": "tier", "config": {"select_options": ["a", "b", "c"]}}]}})
    assert options.status_code == 200, options.text  # an existing select keeps its type when none is sent
    assert options.json()["feature"]["privileges"][1]["config"] == {"select_options": ["a", "b", "c"]}
    gone = api("DELETE", "/features/seats/privileges/tier")
    assert [p["code"] for p in gone.json()["feature"]["privileges"]] == ["max"]
    assert api("DELETE", "/features/seats/privileges/tier").json()["code"] == "privilege_not_found"

    deleted = api("DELETE", "/features/seats")
    assert deleted.status_code == 200 and deleted.json()["feature"]["code"] == "seats"
    assert api("GET", "/features/seats").json() == {"status": 404, "error": "Not Found", "code": "feature_not_found"}
    assert api("POST", "/features", {"feature": SEATS}).status_code == 200  # its code is free again


def test_feature_refusals(api):
    assert api("POST", "/features", {"feature": SEATS}).status_code == 200
    again = api("POST", "/features", {"feature": SEATS})
    assert again.status_code == 422 and again.json()["error_details"] == {"code": ["value_already_exist"]}
    bad = api("POST", "/features", {"feature": {"code": "x", "description": "d" * 601, "privileges": [
        {"code": "a", "value_type": "float"},
        {"code": "b", "value_type": "select"},
        {"code": "c", "value_type": "integer", "config": {"select_options": ["x"]}},
        {"code": "c"}]}})
    assert bad.status_code == 422
    assert bad.json()["error_details"] == {
        "description": ["value_is_too_long"], "privilege.value_type": ["value_is_invalid"],
        "privilege.config": ["invalid_format", "invalid_format"], "privilege.code": ["value_is_duplicated"]}
    assert api("POST", "/features", {"feature": {"name": "no code"}}).json()["error_details"] == {
        "code": ["value_is_mandatory"]}
    assert api("POST", "/features", {"nope": {}}).status_code == 400
    changed = api("PUT", "/features/seats", {"feature": {"privileges": [{"code": "max", "value_type": "string"}]}})
    assert changed.json()["error_details"] == {"privilege.value_type": ["value_cannot_change"]}
    assert api("GET", "/features/seats").json()["feature"]["privileges"][0]["value_type"] == "integer"
    assert api("PUT", "/features/nope", {"feature": {}}).status_code == 404


@pytest.mark.usefixtures("catalog")
def test_plan_entitlements(api, lago):
    created = api("POST", "/plans/startup/entitlements", {"entitlements": {
        "seats": {"max": 10, "root": True}, "sso": {"provider": "google"}}})
    assert created.status_code == 200, created.text
    assert created.json() == {"entitlements": [
        {"code": "seats", "name": "Seats", "description": "Users of the account", "privileges": [
            {"code": "max", "name": "Maximum", "value_type": "integer", "config": {}, "value": 10},
            {"code": "root", "name": "Allow root user", "value_type": "boolean", "config": {}, "value": True}]},
        {"code": "sso", "name": "Single sign-on", "description": None, "privileges": [
            {"code": "provider", "name": "Provider", "value_type": "select",
             "config": {"select_options": ["google", "okta"]}, "value": "google"}]}]}
    assert api("GET", "/plans/startup/entitlements").json() == created.json()
    # The plan object carries them too (Lago's PlanObject.entitlements), read or listed; the client still reads it.
    assert api("GET", "/plans/startup").json()["plan"]["entitlements"] == created.json()["entitlements"]
    listed = {p["code"]: p["entitlements"] for p in api("GET", "/plans").json()["plans"]}
    assert listed == {"startup": created.json()["entitlements"], "scale": []}
    assert lago.plans.find("startup").code == "startup"

    # PATCH changes what it names and leaves the rest; POST replaces everything.
    patched = api("PATCH", "/plans/startup/entitlements", {"entitlements": {"seats": {"max": "25"}}})
    seats = api("GET", "/plans/startup/entitlements/seats").json()["entitlement"]
    assert [(p["code"], p["value"]) for p in seats["privileges"]] == [("max", 25), ("root", True)]
    assert [e["code"] for e in patched.json()["entitlements"]] == ["seats", "sso"]
    replaced = api("POST", "/plans/startup/entitlements", {"entitlements": {"seats": {"root": False}}})
    assert [(e["code"], [(p["code"], p["value"]) for p in e["privileges"]]) for e in replaced.json()["entitlements"]] \
        == [("seats", [("root", False)])]

    removed = api("DELETE", "/plans/startup/entitlements/seats/privileges/root")
    assert removed.json()["entitlement"]["privileges"] == []
    assert api("GET", "/features/seats").json()["feature"]["privileges"][1]["code"] == "root"  # kept on the feature
    assert api("DELETE", "/plans/startup/entitlements/seats").json()["entitlement"]["code"] == "seats"
    assert api("GET", "/plans/startup/entitlements").json() == {"entitlements": []}
    assert api("GET", "/plans/startup/entitlements/seats").json()["code"] == "entitlement_not_found"


@pytest.mark.usefixtures("catalog")
def test_changes_are_in_the_audit_trail(api, org):
    api("POST", "/plans/startup/entitlements", {"entitlements": {"seats": {"max": 10}, "sso": {}}})
    api("PATCH", "/plans/startup/entitlements", {"entitlements": {"seats": {"max": 20}}})
    api("PATCH", "/subscriptions/sub-1/entitlements", {"entitlements": {"seats": {"max": 25}}})
    api("PUT", "/features/sso", {"feature": {"name": "SSO"}})

    def entries(action: str) -> list[dict]:
        return [e.changes for e in list_entries(organization_id=org.id, filters=AuditFilters(action=action)).items]

    assert entries("plan.features_changed") == [{"seats.max": [10, 20]},
                                                {"seats.max": [None, 10], "sso": [None, "included"]}]
    assert entries("subscription.features_changed") == [{"seats.max": [None, 25]}]
    assert entries("feature.updated") == [{"name": ["Single sign-on", "SSO"]}]
    assert len(entries("feature.created")) == 2


@pytest.mark.usefixtures("catalog")
def test_plan_entitlement_refusals_write_nothing(api):
    assert api("POST", "/plans/startup/entitlements", {"entitlements": {"seats": {"max": 5}}}).status_code == 200
    bad = api("POST", "/plans/startup/entitlements", {"entitlements": {
        "seats": {"max": "ten", "root": "maybe"}, "sso": {"provider": "github"}}})
    assert bad.status_code == 422
    assert bad.json()["error_details"] == {"max_privilege_value": ["value_is_invalid"],
                                           "root_privilege_value": ["value_is_invalid"],
                                           "provider_privilege_value": ["value_not_in_select_options"]}
    assert api("POST", "/plans/startup/entitlements", {"entitlements": {"nope": {}}}).json()["code"] == \
        "feature_not_found"
    assert api("PATCH", "/plans/startup/entitlements", {"entitlements": {"seats": {"nope": 1}}}).json()["code"] == \
        "privilege_not_found"
    assert api("POST", "/plans/nope/entitlements", {"entitlements": {}}).json()["code"] == "plan_not_found"
    assert api("POST", "/plans/startup/entitlements", {}).status_code == 400
    kept = api("GET", "/plans/startup/entitlements").json()["entitlements"]
    assert [(e["code"], e["privileges"][0]["value"]) for e in kept] == [("seats", 5)]


@pytest.mark.usefixtures("catalog")
def test_subscription_entitlements_override_the_plan(api, lago):
    api("POST", "/plans/startup/entitlements", {"entitlements": {"seats": {"max": 10, "root": True}}})
    plan_only = api("GET", "/subscriptions/sub-1/entitlements").json()["entitlements"]
    assert plan_only[0]["privileges"][0] == {"code": "max", "name": "Maximum", "value_type": "integer", "config": {},
                                             "value": 10, "plan_value": 10, "override_value": None}
    assert plan_only[0]["overrides"] == {}

    patched = api("PATCH", "/subscriptions/sub-1/entitlements", {"entitlements": {
        "seats": {"max": 15}, "sso": {"provider": "okta"}}})
    assert patched.status_code == 200, patched.text
    seats, sso = patched.json()["entitlements"]
    assert [(p["code"], p["value"], p["plan_value"], p["override_value"]) for p in seats["privileges"]] == [
        ("max", 15, 10, 15), ("root", True, True, None)]
    assert seats["overrides"] == {"max": 15}
    assert (sso["privileges"][0]["value"], sso["privileges"][0]["plan_value"], sso["overrides"]) == \
        ("okta", None, {"provider": "okta"})

    # The override outlives a plan change (Lago keys it by the subscription's external id).
    lago.subscriptions.create(Subscription(external_customer_id="cus-1", plan_code="scale", external_id="sub-1"))
    after_upgrade = api("GET", "/subscriptions/sub-1/entitlements").json()["entitlements"]
    assert [(e["code"], e["overrides"]) for e in after_upgrade] == [
        ("seats", {"max": 15}), ("sso", {"provider": "okta"})]

    api("POST", "/plans/scale/entitlements", {"entitlements": {"seats": {"max": 50}}})
    dropped = api("DELETE", "/subscriptions/sub-1/entitlements/seats/privileges/max")
    assert dropped.status_code == 200, dropped.text
    assert dropped.json()["entitlement"]["privileges"][0]["value"] == 50  # the plan's again
    gone = api("DELETE", "/subscriptions/sub-1/entitlements/sso")
    assert gone.json()["entitlement"] == {"code": "sso", "name": "Single sign-on", "description": None,
                                          "privileges": [], "overrides": {}}
    assert [e["code"] for e in gone.json()["entitlements"]] == ["seats"]
    assert api("DELETE", "/subscriptions/sub-1/entitlements/sso").json()["code"] == "entitlement_not_found"

    bad = api("PATCH", "/subscriptions/sub-1/entitlements", {"entitlements": {"seats": {"max": True}}})
    assert bad.json()["error_details"] == {"max_privilege_value": ["value_is_invalid"]}
    assert api("GET", "/subscriptions/nope/entitlements").json()["code"] == "subscription_not_found"
    assert api("GET", "/subscriptions/sub-1/entitlements?subscription_status=pending").json()["code"] == \
        "subscription_not_found"
    assert api("GET", "/subscriptions/sub-1/entitlements?subscription_status=terminated").status_code == 200


@pytest.mark.usefixtures("catalog")
def test_deleting_a_feature_takes_it_out_of_plans_and_subscriptions(api):
    api("POST", "/plans/startup/entitlements", {"entitlements": {"seats": {"max": 10}, "sso": {}}})
    api("PATCH", "/subscriptions/sub-1/entitlements", {"entitlements": {"seats": {"max": 12}}})
    assert api("DELETE", "/features/seats").status_code == 200
    assert [e["code"] for e in api("GET", "/plans/startup/entitlements").json()["entitlements"]] == ["sso"]
    assert [e["code"] for e in api("GET", "/subscriptions/sub-1/entitlements").json()["entitlements"]] == ["sso"]


def test_feature_webhooks(api, lago, org, run_jobs):
    lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="http://127.0.0.1:9/hooks"))
    api("POST", "/features", {"feature": SEATS})
    api("PUT", "/features/seats", {"feature": {"name": "Seats v2"}})
    api("DELETE", "/features/seats")
    with read_only() as session:
        deliveries = session.scalars(select(WebhookDelivery).where(WebhookDelivery.organization_id == org.id)
                                     .order_by(WebhookDelivery.created_at)).all()
        bodies = [json.loads(d.body) for d in deliveries]
    assert [b["webhook_type"] for b in bodies] == ["feature.created", "feature.updated", "feature.deleted"]
    assert {b["object_type"] for b in bodies} == {"feature"}
    assert bodies[1]["feature"]["name"] == "Seats v2" and len(bodies[2]["feature"]["privileges"]) == 2


@pytest.mark.usefixtures("catalog")
def test_another_organization_reaches_nothing(api, live_server):
    api("POST", "/plans/startup/entitlements", {"entitlements": {"seats": {"max": 10}}})
    other = create_organization(name="Other", default_currency="EUR")
    client = Client(api_key=other.api_key, api_url=live_server)
    client.plans.create(Plan(name="Startup", code="startup", interval="monthly", amount_cents=0,
                             amount_currency="EUR"))

    def call(method: str, path: str, payload: object | None = None) -> httpx.Response:
        return _call(live_server, other.api_key, method, path, payload)

    assert call("GET", "/features").json()["features"] == []
    assert call("GET", "/features/seats").status_code == 404
    assert call("DELETE", "/features/seats").status_code == 404
    assert call("GET", "/plans/startup/entitlements").json() == {"entitlements": []}
    assert call("POST", "/plans/startup/entitlements", {"entitlements": {"seats": {}}}).json()["code"] == \
        "feature_not_found"
    assert call("GET", "/subscriptions/sub-1/entitlements").status_code == 404
    assert api("GET", "/features/seats").status_code == 200
