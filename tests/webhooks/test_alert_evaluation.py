"""Alerts evaluated by the jobs (a real RQ worker with Redis, else the in-process runner): `alert.triggered`
once per crossing and period, recurring thresholds, wallet balances, tenant walls."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

import httpx
from lago_python_client.client import Client
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
    WalletTransaction,
)

from billing.alerts.evaluation import evaluate_usage_alerts, request_check
from billing.alerts.models import AlertCrossing, TriggeredAlert
from billing.db import read_only, unit_of_work
from billing.organizations.services import create_organization
from billing.wallets.rules import check_wallet_thresholds
from billing.webhooks import services as webhooks

_ids = count()


def _thresholds(*values, recurring=None):
    items = [AlertThreshold(value=str(v), code=f"t{v}", recurring=False) for v in values]
    if recurring is not None:
        items.append(AlertThreshold(value=str(recurring), code="every", recurring=True))
    return AlertThresholdList(__root__=items)


def _setup(lago: Client) -> None:
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC"))
    metric = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    lago.plans.create(Plan(name="Usage", code="usage", interval="monthly", amount_cents=0, amount_currency="EUR",
                           charges=[Charge(billable_metric_id=metric.lago_id, charge_model="standard",
                                           properties={"amount": "0.5"})]))
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="usage", external_id="sub"))


def _calls(live_server: str, api_key: str, how_many: int, at: datetime) -> None:
    events = [{"transaction_id": f"t{next(_ids)}", "external_subscription_id": "sub", "code": "calls",
               "timestamp": int(at.timestamp())} for _ in range(how_many)]
    response = httpx.post(f"{live_server}/api/v1/events/batch", json={"events": events},
                          headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 200, response.text


def _crossed(received) -> list[tuple[str, bool]]:
    return [(t["value"], t["recurring"]) for t in received.json["triggered_alert"]["crossed_thresholds"]]


def test_usage_alert_fires_once_per_crossing_and_period(lago, org, clock, receiver, run_jobs, live_server):
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": receiver.url})
    _setup(lago)
    lago.subscriptions.create_alerts("sub", AlertsList(alerts=[
        Alert(alert_type="current_usage_amount", code="spend", name="Spend",
              thresholds=_thresholds(1000, recurring=500)),
        Alert(alert_type="billable_metric_current_usage_units", code="units", billable_metric_code="calls",
              thresholds=_thresholds(3)),
    ]))
    run_jobs()
    assert receiver.of_type("alert.triggered") == []  # evaluated on creation: nothing used yet

    _calls(live_server, org.api_key, 2, clock.now())  # 2 calls, 100 cents
    run_jobs()
    assert receiver.of_type("alert.triggered") == []
    _calls(live_server, org.api_key, 18, clock.now())  # 20 calls, 1000 cents: both alerts reached
    run_jobs()
    fired = {r.json["triggered_alert"]["alert_code"]: r for r in receiver.of_type("alert.triggered")}
    assert sorted(fired) == ["spend", "units"]
    body = fired["spend"].json["triggered_alert"]
    assert (body["external_subscription_id"], body["external_customer_id"], body["alert_type"],
            body["alert_name"], body["current_value"], body["previous_value"], body["billable_metric_code"]) == (
        "sub", "cust", "current_usage_amount", "Spend", "1000", "100", None)
    assert body["crossed_thresholds"] == [{"code": "t1000", "value": "1000", "recurring": False}]
    assert fired["units"].json["triggered_alert"]["billable_metric_code"] == "calls"
    assert _crossed(fired["units"]) == [("3", False)]

    # Rerunning finds nothing new, even when a run killed before taking its request left it behind.
    with unit_of_work() as uow:
        request_check(uow.session, organization_id=org.id, subscription_external_id="sub")
    assert evaluate_usage_alerts().triggered == []
    run_jobs()
    assert len(receiver.of_type("alert.triggered")) == 2

    # Past the last fixed threshold, the recurring one fires every 500 cents: 1500 and 2000 in one evaluation.
    _calls(live_server, org.api_key, 20, clock.now())  # 40 calls, 2000 cents
    run_jobs()
    spend = [r for r in receiver.of_type("alert.triggered") if r.json["triggered_alert"]["alert_code"] == "spend"]
    assert _crossed(spend[-1]) == [("1500", True), ("2000", True)]
    assert spend[-1].json["triggered_alert"]["previous_value"] == "1000"

    # A new billing period: each threshold may fire once more.
    clock.set(datetime(2026, 12, 10, 12, 0, tzinfo=UTC))
    _calls(live_server, org.api_key, 20, clock.now())
    run_jobs()
    spend = [r for r in receiver.of_type("alert.triggered") if r.json["triggered_alert"]["alert_code"] == "spend"]
    assert len(spend) == 3 and _crossed(spend[-1]) == [("1000", False)]
    assert spend[-1].json["triggered_alert"]["previous_value"] == "0"
    with read_only() as session:
        assert session.query(TriggeredAlert).count() == 5
        assert session.query(AlertCrossing).count() == 6


def test_lifetime_usage_alert_fires_once_as_the_total_grows(lago, org, clock, receiver, run_jobs, live_server):
    """lifetime_usage_amount measures progressive billing's lifetime usage (historical + invoiced + this period's):
    a threshold fires once when the total passes it, and a new period (the usage invoiced) does not fire it again."""
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": receiver.url})
    _setup(lago)
    lago.subscriptions.create_alerts("sub", AlertsList(alerts=[
        Alert(alert_type="lifetime_usage_amount", code="lifetime", thresholds=_thresholds(1500))]))
    _calls(live_server, org.api_key, 20, clock.now())  # 1000 cents
    run_jobs()
    assert receiver.of_type("alert.triggered") == []
    _calls(live_server, org.api_key, 12, clock.now())  # 1600 cents
    run_jobs()
    (fired,) = receiver.of_type("alert.triggered")
    body = fired.json["triggered_alert"]
    assert (body["alert_type"], body["current_value"], _crossed(fired)) == (
        "lifetime_usage_amount", "1600", [("1500", False)])

    clock.set(datetime(2026, 12, 10, 12, 0, tzinfo=UTC))  # the period ends: its usage is invoiced
    run_jobs()
    _calls(live_server, org.api_key, 2, clock.now())
    run_jobs()
    assert len(receiver.of_type("alert.triggered")) == 1


def test_usage_alerts_are_walled_per_organization(lago, org, clock, receiver, run_jobs, live_server):
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": receiver.url})
    _setup(lago)
    lago.subscriptions.create_alerts("sub", AlertsList(alerts=[
        Alert(alert_type="current_usage_amount", code="spend", thresholds=_thresholds(100))]))
    other = create_organization(name="Other", default_currency="EUR")
    _setup(Client(api_key=other.api_key, api_url=live_server))  # the same external ids, another tenant
    _calls(live_server, other.api_key, 10, clock.now())
    run_jobs()
    assert receiver.of_type("alert.triggered") == []
    _calls(live_server, org.api_key, 2, clock.now())
    run_jobs()
    [fired] = receiver.of_type("alert.triggered")
    assert fired.json["organization_id"] == org.id and fired.json["triggered_alert"]["current_value"] == "100"


def test_wallet_alert_fires_once_per_crossing(lago, org, clock, receiver, run_jobs):
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": receiver.url})
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC"))
    wallet = lago.wallets.create(Wallet(external_customer_id="cust", rate_amount="1", granted_credits="10",
                                        currency="EUR", code="main"))
    lago.customers.wallets.alerts.create("cust", "main", Alert(alert_type="wallet_balance_amount", code="low",
                                                               thresholds=_thresholds(500, 200)))
    check_wallet_thresholds()
    run_jobs()
    assert receiver.of_type("alert.triggered") == []
    lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, voided_credits="6"))
    check_wallet_thresholds()
    check_wallet_thresholds()
    run_jobs()
    [low] = receiver.of_type("alert.triggered")
    body = low.json["triggered_alert"]
    assert (body["lago_wallet_id"], body["wallet_code"], body["external_customer_id"], body["current_value"],
            body["previous_value"], body["lago_subscription_id"]) == (wallet.lago_id, "main", "cust", "400", "1000",
                                                                      None)
    assert _crossed(low) == [("500", False)]
    # Back above the threshold, then below again: a new crossing, announced again.
    lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, granted_credits="2"))
    check_wallet_thresholds()
    lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, voided_credits="4.5"))
    check_wallet_thresholds()
    run_jobs()
    again = receiver.of_type("alert.triggered")[1:]
    assert [_crossed(r) for r in again] == [[("500", False), ("200", False)]]
    assert again[0].json["triggered_alert"]["current_value"] == "150"

