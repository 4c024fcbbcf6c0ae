"""A crossed alert on the screens: the portal's overview and the usage widget tell it; the admin lists a
subscription's and a wallet's alerts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing.alerts import services as alerts
from billing.alerts.evaluation import evaluate_usage_alerts
from billing.alerts.models import TriggeredAlert
from billing.db import read_only
from billing.embedding.services import issue_embed_token
from billing.wallets.services import create_wallet
from tests.web.conftest import create_catalog, send_events

NOTICE = "Usage passed 5 API calls (alert: Heavy use)"


@pytest.fixture
def alice(org, billed_customer):
    create_catalog(org.id)
    customer = billed_customer(org.id, "alice", name="Alice Corp", events=3)
    alerts.create_subscription_alerts(organization_id=org.id, external_id="sub-alice", batch=True, items=[
        {"alert_type": "billable_metric_current_usage_units", "code": "heavy", "name": "Heavy use",
         "billable_metric_code": "api_calls", "thresholds": [{"value": 5}, {"value": 50}]},
        {"alert_type": "current_usage_amount", "code": "spend", "thresholds": [{"value": "1000"}]}])
    return customer


def test_the_portal_and_the_usage_widget_tell_a_crossed_threshold(client, org, alice, run_jobs):
    run_jobs()
    assert NOTICE not in client.get(alice.portal_path()).get_data(as_text=True)  # 3 calls so far
    send_events(org.id, "sub-alice", 3, prefix="more")
    run_jobs()  # the rollup, then the alerts' evaluation
    evaluate_usage_alerts()  # nothing left to do, nothing fired twice
    with read_only() as session:  # 6 calls: 5 reached, not 50; 0.30 EUR, not 10.00
        assert [t.alert.code for t in session.scalars(select(TriggeredAlert))] == ["heavy"]
    html = client.get(alice.portal_path()).get_data(as_text=True)
    assert html.count(NOTICE) == 1
    token = issue_embed_token(organization_id=org.id, external_customer_id="alice", data={}).token
    widget = client.get(f"/embed/{token}/usage").get_data(as_text=True)
    assert NOTICE in widget


def test_the_admin_lists_subscription_and_wallet_alerts(signed_in, org, alice, run_jobs):
    create_wallet(organization_id=org.id, data={"external_customer_id": "alice", "rate_amount": "1",
                                                         "currency": "EUR", "code": "main", "granted_credits": "10"})
    alerts.create_wallet_alerts(organization_id=org.id, external_customer_id="alice", wallet_code="main",
                                batch=False, items=[{"alert_type": "wallet_balance_amount", "code": "low",
                                                     "name": "Running low", "thresholds": [{"value": 500}]}])
    send_events(org.id, "sub-alice", 3, prefix="more")
    run_jobs()
    html = signed_in.get(f"/admin/customers/{alice.id}").get_data(as_text=True)
    assert NOTICE in html
    assert 'data-alert="heavy"' in html and "Units of a metric · API calls" in html and "5, 50" in html
    assert 'data-alert="spend"' in html and "€10.00" in html and "never" in html
    assert 'data-alert="low"' in html and "Running low" in html and "€5.00" in html
