"""Each API resource through lago-python-client: create, read, update, delete and list, with Lago's rules."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription


def _error(call) -> tuple[int, dict]:
    with pytest.raises(LagoApiError) as raised:
        call()
    return raised.value.status_code, raised.value.response


def test_customers_upsert_get_list_delete(lago):
    created = lago.customers.create(Customer(external_id="c1", name="First", email="a@example.com",
                                             currency="EUR", country="FR", timezone="Europe/Paris"))
    assert created.lago_id and created.applicable_timezone == "Europe/Paris"
    updated = lago.customers.create(Customer(external_id="c1", name="First, renamed"))
    assert updated.lago_id == created.lago_id and updated.name == "First, renamed"
    assert updated.email == "a@example.com"  # fields not sent are kept
    for i in range(2, 26):
        lago.customers.create(Customer(external_id=f"c{i}"))
    page = lago.customers.find_all({"per_page": 10, "page": 3})
    assert len(page["customers"]) == 5
    assert page["meta"] == {"current_page": 3, "next_page": None, "prev_page": 2, "total_pages": 3,
                            "total_count": 25}
    assert lago.customers.find("c1").name == "First, renamed"
    assert lago.customers.destroy("c1").external_id == "c1"
    assert _error(lambda: lago.customers.find("c1"))[0] == 404
    # A deleted customer's external_id can be used again, for a new customer.
    again = lago.customers.create(Customer(external_id="c1"))
    assert again.lago_id != created.lago_id


def test_customer_validation(lago):
    status, body = _error(lambda: lago.customers.create(Customer(external_id="bad", currency="EURO",
                                                                 timezone="Mars/Olympus")))
    assert status == 422
    assert body["error_details"] == {"currency": ["value_is_invalid"], "timezone": ["invalid_timezone"]}
    assert _error(lambda: lago.customers.find("bad"))[0] == 404  # nothing half-written


def test_billable_metrics_crud_and_rules(lago):
    metric = lago.billable_metrics.create(BillableMetric(name="Storage", code="storage", aggregation_type="sum_agg",
                                                         field_name="gb", description="GB stored"))
    assert metric.filters.__root__ == [] and metric.field_name == "gb"
    status, body = _error(lambda: lago.billable_metrics.create(
        BillableMetric(name="Again", code="storage", aggregation_type="count_agg")))
    assert (status, body["error_details"]) == (422, {"code": ["value_already_exist"]})
    status, body = _error(lambda: lago.billable_metrics.create(
        BillableMetric(name="X", code="x", aggregation_type="median_agg")))
    assert body["error_details"] == {"aggregation_type": ["value_is_invalid"]}

    renamed = lago.billable_metrics.update(BillableMetric(name="Disk"), "storage")
    assert renamed.name == "Disk" and renamed.aggregation_type == "sum_agg"
    lago.plans.create(Plan(name="P", code="p", interval="monthly", amount_cents=0, amount_currency="USD",
                           charges=[Charge(billable_metric_id=metric.lago_id, charge_model="standard",
                                           properties={"amount": "1"})]))
    # A metric used by a plan keeps how it aggregates (Lago's rule); its name may change.
    status, body = _error(lambda: lago.billable_metrics.update(BillableMetric(field_name="bytes"), "storage"))
    assert body["error_details"] == {"field_name": ["billable_metric_in_use"]}

    listed = lago.billable_metrics.find_all()
    assert [m.code for m in listed["billable_metrics"]] == ["storage"]
    assert lago.billable_metrics.destroy("storage").code == "storage"
    assert lago.plans.find("p").charges.__root__ == []  # its charges went with it


def test_plans_crud_and_validation(lago):
    metric = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    plan = lago.plans.create(Plan(name="Basic", code="basic", interval="monthly", amount_cents=1000,
                                  amount_currency="USD", charges=[Charge(
                                      billable_metric_id=metric.lago_id, charge_model="standard",
                                      properties={"amount": "0.002"})]))
    charge_id = plan.charges.__root__[0].lago_id
    updated = lago.plans.update(Plan(name="Basic v2", amount_cents=1200, charges=[Charge(
        id=charge_id, billable_metric_id=metric.lago_id, charge_model="standard", properties={"amount": "0.003"})]),
        "basic")
    assert (updated.name, updated.amount_cents) == ("Basic v2", 1200)
    assert [(c.lago_id, c.properties) for c in updated.charges.__root__] == [(charge_id, {"amount": "0.003"})]

    status, body = _error(lambda: lago.plans.create(Plan(
        name="Bad", code="bad", interval="daily", amount_cents=-1, amount_currency="usd",
        charges=[Charge(billable_metric_id="00000000-0000-0000-0000-000000000000", charge_model="standard",
                        properties={"amount": "x"})])))
    assert status == 422
    assert body["error_details"]["interval"] == ["value_is_invalid"]
    assert body["error_details"]["amount_cents"] == ["value_is_out_of_range"]
    assert body["error_details"]["amount_currency"] == ["value_is_invalid"]
    assert body["error_details"]["charges.0"] == {"billable_metric_id": ["billable_metric_not_found"],
                                                  "properties.amount": ["invalid_amount"]}
    assert _error(lambda: lago.plans.find("bad"))[0] == 404

    lago.subscriptions.create(Subscription(external_customer_id="c", plan_code="basic", external_id="s"))
    status, body = _error(lambda: lago.plans.destroy("basic"))
    assert body["error_details"] == {"plan": ["plan_has_live_subscriptions"]}
    lago.subscriptions.destroy("s")
    assert lago.plans.destroy("basic").code == "basic"
    assert lago.plans.find_all()["plans"] == []


def test_subscriptions_pending_update_list_and_clock_activation(lago, clock):
    from billing.clock import run_billing_clock

    clock.set("2026-11-10T00:00:00Z")
    lago.plans.create(Plan(name="Flat", code="flat", interval="monthly", amount_cents=500, amount_currency="USD"))
    pending = lago.subscriptions.create(Subscription(external_customer_id="c", plan_code="flat", external_id="s1",
                                                     subscription_at="2026-12-01T00:00:00Z", name="Later"))
    assert pending.status == "pending" and pending.started_at is None
    # The subscription created its customer, with the plan's currency.
    assert lago.customers.find("c").currency == "USD"
    renamed = lago.subscriptions.update(Subscription(name="Renamed", ending_at="2027-06-01T00:00:00Z"), "s1")
    assert renamed.name == "Renamed" and renamed.ending_at == "2027-06-01T00:00:00Z"
    assert lago.subscriptions.find_all({"external_customer_id": "c"})["subscriptions"] == []  # active only
    listed = lago.subscriptions.find_all({"external_customer_id": "c", "status[]": "pending"})
    assert [s.external_id for s in listed["subscriptions"]] == ["s1"]

    clock.set("2026-12-01T00:10:00Z")
    assert run_billing_clock(fan_out=False).activated == 1
    active = lago.subscriptions.find("s1")
    assert active.status == "active" and active.started_at == "2026-12-01T00:00:00Z"
    assert active.current_billing_period_started_at == "2026-12-01T00:00:00Z"

    status, body = _error(lambda: lago.subscriptions.create(Subscription(
        external_customer_id="c", plan_code="nope", external_id="s2")))
    assert (status, body["code"]) == (404, "plan_not_found")


def test_events_get_and_list(lago, clock):
    clock.set("2026-11-10T00:00:00Z")
    for i in range(3):
        lago.events.create(Event(transaction_id=f"t{i}", external_subscription_id="sub", code="calls",
                                 properties={"i": i}))
    event = lago.events.find("t1")
    assert event.properties == {"i": 1} and event.timestamp == "2026-11-10T00:00:00Z"
    with pytest.raises(LagoApiError):
        lago.events.find("missing")


def test_tenants_are_walls(lago, live_server):
    from billing.organizations.services import create_organization

    lago.customers.create(Customer(external_id="secret-customer", name="Theirs"))
    other = Client(api_key=create_organization(name="Other").api_key, api_url=live_server)
    assert _error(lambda: other.customers.find("secret-customer"))[0] == 404
    assert other.customers.find_all()["customers"] == []
    assert _error(lambda: other.customers.portal_url("secret-customer"))[0] == 404


def test_bad_json_is_a_400_not_a_500(live_server, org):
    response = httpx.post(f"{live_server}/api/v1/plans", content=b"{not json",
                          headers={"Authorization": f"Bearer {org.api_key}", "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["status"] == 400
    response = httpx.post(f"{live_server}/api/v1/events", json={"event": {"transaction_id": ["x"]}},
                          headers={"Authorization": f"Bearer {org.api_key}"})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"transaction_id": ["invalid_type"],
                                                "external_subscription_id": ["value_is_mandatory"],
                                                "code": ["value_is_mandatory"]}


@pytest.mark.both_stores
def test_event_properties_beyond_64_bits_are_stored_as_sent(live_server, org):
    # orjson (which writes the answers) would read such an integer as a float: the standard library reads requests.
    headers = {"Authorization": f"Bearer {org.api_key}", "Content-Type": "application/json"}
    body = b'{"event": {"transaction_id": "big-1", "external_subscription_id": "s", "code": "c", ' \
           b'"properties": {"serial": 123456789012345678901234567890, "ratio": 0.1}}}'
    response = httpx.post(f"{live_server}/api/v1/events", content=body, headers=headers)
    assert response.status_code == 200, response.text
    stored = httpx.get(f"{live_server}/api/v1/events/big-1", headers=headers).json()["event"]
    assert stored["properties"] == {"serial": 123456789012345678901234567890, "ratio": 0.1}
    assert b'"serial":123456789012345678901234567890' in httpx.get(
        f"{live_server}/api/v1/events/big-1", headers=headers).content.replace(b" ", b"")
