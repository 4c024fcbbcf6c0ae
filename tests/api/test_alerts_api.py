"""Subscription and wallet alerts through lago-python-client (plain HTTP where the client has no method)."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    Alert,
    AlertsList,
    AlertThreshold,
    AlertThresholdList,
    BillableMetric,
    Charge,
    Customer,
    Plan,
    Subscription,
    Wallet,
)
from sqlalchemy import select

from billing.audit.models import AuditEntry
from billing.db import read_only
from billing.organizations.services import create_organization


def _error(call) -> tuple[int, dict]:
    with pytest.raises(LagoApiError) as raised:
        call()
    return raised.value.status_code, raised.value.response


def _thresholds(*values, recurring=None, code=None):
    items = [AlertThreshold(value=str(v), code=code, recurring=False) for v in values]
    if recurring is not None:
        items.append(AlertThreshold(value=str(recurring), code="every", recurring=True))
    return AlertThresholdList(__root__=items)


@pytest.fixture
def account(lago):
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC"))
    metric = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    lago.plans.create(Plan(name="Usage", code="usage", interval="monthly", amount_cents=0, amount_currency="EUR",
                           charges=[Charge(billable_metric_id=metric.lago_id, charge_model="standard",
                                           properties={"amount": "0.5"})]))
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="usage", external_id="sub"))
    lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1", granted_credits="10", currency="EUR",
                               code="main", name="Main"))
    return metric


def test_subscription_alerts_crud(lago, live_server, org, account):
    headers = {"Authorization": f"Bearer {org.api_key}"}
    created = lago.subscriptions.create_alerts("sub", AlertsList(alerts=[
        Alert(alert_type="current_usage_amount", code="spend", name="Spend", thresholds=_thresholds(1000, 5000,
                                                                                                   recurring=2500)),
        Alert(alert_type="billable_metric_current_usage_units", code="calls", billable_metric_code="calls",
              thresholds=_thresholds(100)),
    ]))["alerts"]
    assert [(a.code, a.alert_type, a.external_subscription_id, a.direction) for a in created] == [
        ("spend", "current_usage_amount", "sub", "increasing"),
        ("calls", "billable_metric_current_usage_units", "sub", "increasing")]
    assert [(t.value, t.recurring) for t in created[0].thresholds.__root__] == [
        ("1000", False), ("2500", True), ("5000", False)]
    assert created[1].billable_metric.code == "calls"
    assert created[0].previous_value == "0" and created[0].last_processed_at is None

    one = httpx.post(f"{live_server}/api/v1/subscriptions/sub/alerts", headers=headers, json={"alert": {
        "alert_type": "billable_metric_current_usage_amount", "code": "calls_amount", "billable_metric_code": "calls",
        "thresholds": [{"value": 300}]}})
    assert one.status_code == 200 and one.json()["alert"]["thresholds"] == [
        {"code": None, "value": "300", "recurring": False}]

    listed = httpx.get(f"{live_server}/api/v1/subscriptions/sub/alerts", headers=headers).json()
    assert [a["code"] for a in listed["alerts"]] == ["spend", "calls", "calls_amount"]
    assert listed["meta"]["total_count"] == 3
    got = httpx.get(f"{live_server}/api/v1/subscriptions/sub/alerts/spend", headers=headers).json()["alert"]
    assert got["name"] == "Spend" and got["lago_wallet_id"] is None and got["billable_metric"] is None

    updated = httpx.put(f"{live_server}/api/v1/subscriptions/sub/alerts/spend", headers=headers, json={"alert": {
        "name": "Monthly spend", "thresholds": [{"value": "2000", "code": "warn"}]}}).json()["alert"]
    assert updated["name"] == "Monthly spend"
    assert updated["thresholds"] == [{"code": "warn", "value": "2000", "recurring": False}]

    # Its metric changes by code (Lago's `billable_metric_code` on update).
    lago.billable_metrics.create(BillableMetric(name="Minutes", code="minutes", aggregation_type="count_agg"))
    moved = httpx.put(f"{live_server}/api/v1/subscriptions/sub/alerts/calls", headers=headers, json={"alert": {
        "billable_metric_code": "minutes"}})
    assert moved.status_code == 200 and moved.json()["alert"]["billable_metric"]["code"] == "minutes"
    assert httpx.get(f"{live_server}/api/v1/subscriptions/sub/alerts/calls",
                     headers=headers).json()["alert"]["billable_metric"]["code"] == "minutes"

    deleted = httpx.delete(f"{live_server}/api/v1/subscriptions/sub/alerts/calls", headers=headers)
    assert deleted.status_code == 200 and deleted.json()["alert"]["code"] == "calls"
    assert httpx.get(f"{live_server}/api/v1/subscriptions/sub/alerts/calls", headers=headers).status_code == 404
    lago.subscriptions.delete_alerts("sub")
    assert httpx.get(f"{live_server}/api/v1/subscriptions/sub/alerts", headers=headers).json()["alerts"] == []
    with read_only() as session:  # each change in the audit trail, under the API key that made it
        trail = session.execute(select(AuditEntry.action, AuditEntry.object_label, AuditEntry.actor_kind).where(
            AuditEntry.object_type == "alert").order_by(AuditEntry.id)).all()
    assert [(action, label) for action, label, _kind in trail] == [
        ("created", "Spend"), ("created", "calls"), ("created", "calls_amount"), ("updated", "Monthly spend"),
        ("updated", "calls"), ("deleted", "calls"), ("deleted", "Monthly spend"), ("deleted", "calls_amount")]
    assert {kind for *_, kind in trail} == {"api_key"}


def test_subscription_alert_refusals(lago, live_server, org, account):
    headers = {"Authorization": f"Bearer {org.api_key}"}

    def post(alert):
        response = httpx.post(f"{live_server}/api/v1/subscriptions/sub/alerts", headers=headers,
                              json={"alert": alert})
        return response.status_code, response.json()

    status, body = post({"alert_type": "wallet_balance_amount", "code": "life", "thresholds": [{"value": 1}]})
    assert (status, body["code"], body["error_details"]) == (422, "validation_errors",
                                                             {"alert_type": ["value_is_invalid"]})
    status, body = post({"alert_type": "billable_metric_current_usage_units", "code": "x", "thresholds": []})
    assert body["error_details"] == {"thresholds": ["thresholds_must_be_present"],
                                     "billable_metric_code": ["value_is_mandatory"]}
    status, body = post({"alert_type": "current_usage_amount", "code": "x", "thresholds": [
        {"value": 10, "recurring": True}, {"value": 20, "recurring": True}, {"value": "abc"}]})
    assert body["error_details"] == {"thresholds.2.value": ["invalid_value"]}
    status, body = post({"alert_type": "current_usage_amount", "code": "x", "thresholds": [
        {"value": 10, "recurring": True}, {"value": 20, "recurring": True}]})
    assert body["error_details"] == {"thresholds": ["only_one_recurring_threshold"]}
    status, body = post({"alert_type": "billable_metric_current_usage_units", "code": "x",
                         "billable_metric_code": "nope", "thresholds": [{"value": 1}]})
    assert (status, body["code"]) == (404, "billable_metric_not_found")
    assert post({"alert_type": "current_usage_amount", "code": "a", "thresholds": [{"value": 1}]})[0] == 200
    status, body = post({"alert_type": "current_usage_amount", "code": "a", "thresholds": [{"value": 1}]})
    assert body["error_details"] == {"code": ["value_already_exist"], "alert_type": ["value_already_exist"]}
    # A batch is all or nothing: one refused alert, none written; the reasons keyed by its index.
    status, body = _error(lambda: lago.subscriptions.create_alerts("sub", AlertsList(alerts=[
        Alert(alert_type="billable_metric_current_usage_units", code="ok", billable_metric_code="calls",
              thresholds=_thresholds(5)),
        Alert(alert_type="wallet_balance_amount", code="bad", thresholds=_thresholds(5))])))
    assert (status, body["error_details"]) == (422, {"1": {"alert_type": ["value_is_invalid"]}})
    codes = [a["code"] for a in httpx.get(f"{live_server}/api/v1/subscriptions/sub/alerts",
                                          headers=headers).json()["alerts"]]
    assert codes == ["a"]
    assert httpx.get(f"{live_server}/api/v1/subscriptions/nope/alerts", headers=headers).status_code == 404
    # Lago's subscription_status: the terminated subscription's alerts are found only when asked for.
    assert httpx.get(f"{live_server}/api/v1/subscriptions/sub/alerts?subscription_status=terminated",
                     headers=headers).status_code == 404
    status = httpx.get(f"{live_server}/api/v1/subscriptions/sub/alerts?subscription_status=odd", headers=headers)
    assert status.status_code == 422


def test_wallet_alerts_crud(lago, account):
    alerts = lago.customers.wallets.alerts
    created = alerts.create("cust", "main", Alert(alert_type="wallet_balance_amount", code="low", name="Low",
                                                  thresholds=_thresholds(500, 100)))
    assert (created.lago_wallet_id is not None, created.wallet_code, created.direction,
            created.external_subscription_id) == (True, "main", "decreasing", None)
    batch = alerts.create_batch("cust", "main", AlertsList(alerts=[
        Alert(alert_type="wallet_credits_ongoing_balance", code="credits", thresholds=_thresholds(2))]))
    assert [a.code for a in batch["alerts"]] == ["credits"]
    assert alerts.find("cust", "main", "low").name == "Low"
    assert [a.code for a in alerts.find_all("cust", "main")["alerts"]] == ["low", "credits"]
    updated = alerts.update("cust", "main", "low", Alert(name="Very low", thresholds=_thresholds(50)))
    assert (updated.name, [t.value for t in updated.thresholds.__root__]) == ("Very low", ["50"])
    assert alerts.destroy("cust", "main", "credits").code == "credits"
    status, body = _error(lambda: alerts.create("cust", "main", Alert(
        alert_type="current_usage_amount", code="x", thresholds=_thresholds(1))))
    assert body["error_details"] == {"alert_type": ["value_is_invalid"]}
    assert _error(lambda: alerts.find_all("cust", "other"))[0] == 404
    assert _error(lambda: alerts.find_all("nobody", "main"))[1]["code"] == "customer_not_found"
    alerts.destroy_all("cust", "main")
    assert alerts.find_all("cust", "main")["alerts"] == []


def test_alerts_are_walled_per_organization(lago, live_server, account):
    lago.subscriptions.create_alerts("sub", AlertsList(alerts=[
        Alert(alert_type="current_usage_amount", code="spend", thresholds=_thresholds(10))]))
    lago.customers.wallets.alerts.create("cust", "main", Alert(alert_type="wallet_balance_amount", code="low",
                                                              thresholds=_thresholds(1)))
    other = create_organization(name="Other", default_currency="EUR")
    headers = {"Authorization": f"Bearer {other.api_key}"}
    for path in ("subscriptions/sub/alerts", "subscriptions/sub/alerts/spend", "customers/cust/wallets/main/alerts",
                 "customers/cust/wallets/main/alerts/low"):
        assert httpx.get(f"{live_server}/api/v1/{path}", headers=headers).status_code == 404
        assert httpx.delete(f"{live_server}/api/v1/{path}", headers=headers).status_code == 404
    assert lago.customers.wallets.alerts.find("cust", "main", "low").code == "low"


@pytest.mark.parametrize("sent", [
    {"alert": "x"}, {"alerts": [1, "x"]}, {"alerts": {}}, {"alert": {"alert_type": 5, "code": ["x"]}},
    {"alert": {"alert_type": "current_usage_amount", "code": "c" * 256, "thresholds": "x"}},
    {"alert": {"alert_type": "current_usage_amount", "code": "c", "thresholds": [{"value": {"a": 1}}]}},
    {"alert": {"alert_type": "current_usage_amount", "code": "c", "thresholds": [{"value": "1e400"}]}},
    {"alert": {"alert_type": "current_usage_amount", "code": "c", "thresholds": [{"value": -1}]}},
    {"alert": {"alert_type": "current_usage_amount", "code": "c", "thresholds": [{"value": 1, "recurring": "yes"}]}},
    {"alert": {"alert_type": "current_usage_amount", "code": "c", "thresholds": [{"value": 1}] * 21}},
    {"alert": {"alert_type": "current_usage_amount", "code": "c", "thresholds": [{"value": 1}, {"value": "1.0"}]}},
])
def test_malformed_alerts_are_refused_whole(live_server, org, account, sent):
    headers = {"Authorization": f"Bearer {org.api_key}"}
    for path in ("subscriptions/sub/alerts", "customers/cust/wallets/main/alerts"):
        response = httpx.post(f"{live_server}/api/v1/{path}", headers=headers, json=sent)
        assert response.status_code in (400, 422), (path, response.text)
        assert response.json()["status"] == response.status_code
        assert httpx.get(f"{live_server}/api/v1/{path}", headers=headers).json()["alerts"] == []
