"""A plan's charges and filters, and a subscription's charge overrides, as sub-resources (Lago's
/plans/{code}/charges... and /subscriptions/{external_id}/charges...), through lago-python-client where it has the
call (its list of a plan's or a subscription's charges sends no key, as Lago's client does: plain HTTP there).

An edit through these paths is an edit of the plan: the same result, audit entry and cascade as PUT /plans.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, Charge, Customer, Plan, Subscription
from lago_python_client.models.charge import ChargeFilter, ChargeOverrides

from billing.audit.services import AuditFilters, list_entries


def _http(live_server, org, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{live_server}/api/v1{path}", headers={"Authorization": f"Bearer {org.api_key}"},
                         **kwargs)


def _metrics(lago):
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    storage = lago.billable_metrics.create(BillableMetric(
        name="Storage", code="storage", aggregation_type="sum_agg", field_name="gb",
        filters=[{"key": "region", "values": ["eu", "us", "asia"]}]))
    return calls, storage


def _plan(lago, code: str, calls) -> None:
    lago.plans.create(Plan(name=code.title(), code=code, amount_cents=3000, amount_currency="EUR", interval="monthly",
                           charges=[Charge(billable_metric_id=calls.lago_id, charge_model="standard",
                                           properties={"amount": "0.10"})]))


def _error(call) -> tuple[int, dict]:
    with pytest.raises(LagoApiError) as raised:
        call()
    return raised.value.status_code, raised.value.response


def _comparable(charges: list[dict]) -> list[dict]:
    """Charges as the API shows them, less what differs between two plans by construction (ids, times)."""
    drop = {"lago_id", "created_at", "lago_parent_id"}
    return [{**{k: v for k, v in c.items() if k not in drop},
             "filters": [{k: v for k, v in f.items() if k not in drop} for f in c["filters"]]} for c in charges]


@pytest.fixture
def catalog(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    calls, storage = _metrics(lago)
    _plan(lago, "basic", calls)
    return calls, storage


def _later(clock) -> None:
    """A minute on: charges are listed in the order they were created."""
    clock.current += timedelta(minutes=1)


def test_a_plan_charge_is_created_read_changed_and_deleted_through_the_client(lago, catalog, live_server, org,
                                                                              clock):
    calls, storage = catalog
    _later(clock)
    # Lago's default code: the metric's, then <code>_2 for a second charge of the same metric.
    assert lago.plans.find("basic").charges.__root__[0].code == "calls"
    second = lago.plan_charges.create("basic", Charge(billable_metric_id=calls.lago_id, charge_model="package",
                                                      properties={"amount": "5", "package_size": 100,
                                                                  "free_units": 0}))
    assert (second.code, second.charge_model, second.billable_metric_code) == ("calls_2", "package", "calls")
    _later(clock)
    named = lago.plan_charges.create("basic", Charge(
        billable_metric_id=storage.lago_id, code="gb", charge_model="standard", properties={"amount": "0.5"},
        invoice_display_name="Storage (GB)", filters=[ChargeFilter(values={"region": ["eu"]},
                                                                   properties={"amount": "0.9"})]))
    assert named.code == "gb" and named.filters.__root__[0].properties == {"amount": "0.9"}

    found = lago.plan_charges.find("basic", "gb")
    assert (found.lago_id, found.invoice_display_name) == (named.lago_id, "Storage (GB)")
    changed = lago.plan_charges.update("basic", "gb", Charge(properties={"amount": "0.6"}, min_amount_cents=100))
    assert (changed.lago_id, changed.properties, changed.min_amount_cents) == (named.lago_id, {"amount": "0.6"}, 100)
    assert changed.filters.__root__[0].values == {"region": ["eu"]}  # what was not sent stays
    renamed = lago.plan_charges.update("basic", "gb", Charge(code="storage_gb"))
    assert renamed.code == "storage_gb"
    assert _error(lambda: lago.plan_charges.find("basic", "gb"))[0] == 404

    listed = _http(live_server, org, "GET", "/plans/basic/charges", params={"per_page": 2})
    assert listed.status_code == 200
    assert [c["code"] for c in listed.json()["charges"]] == ["calls", "calls_2"]
    assert listed.json()["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None, "total_pages": 2,
                                     "total_count": 3}

    deleted = lago.plan_charges.destroy("basic", "calls_2")
    assert deleted.lago_id == second.lago_id
    assert [c.code for c in lago.plans.find("basic").charges.__root__] == ["calls", "storage_gb"]
    # A code freed by a deleted charge is the default again.
    again = lago.plan_charges.create("basic", Charge(billable_metric_id=calls.lago_id, charge_model="standard",
                                                     properties={"amount": "1"}))
    assert again.code == "calls_2"
    # An `id` in the body names nothing here: the path does.
    response = _http(live_server, org, "POST", "/plans/basic/charges", json={"charge": {
        "id": again.lago_id, "billable_metric_id": calls.lago_id, "charge_model": "standard",
        "properties": {"amount": "2"}}})
    assert response.status_code == 200 and response.json()["charge"]["lago_id"] != again.lago_id
    assert len(lago.plans.find("basic").charges.__root__) == 4


def test_an_edit_through_the_charge_path_equals_the_same_edit_through_the_plan(lago, catalog, live_server, org,
                                                                              clock):
    calls, storage = catalog
    _plan(lago, "twin", calls)
    _later(clock)
    new_charge = {"billable_metric_id": storage.lago_id, "charge_model": "graduated", "properties": {
        "graduated_ranges": [{"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
                             {"from_value": 11, "to_value": None, "per_unit_amount": "0.2", "flat_amount": "1"}]},
        "filters": [{"values": {"region": ["us"]}, "properties": {"graduated_ranges": [
            {"from_value": 0, "to_value": None, "per_unit_amount": "0.3", "flat_amount": "0"}]}}],
        "min_amount_cents": 50, "invoice_display_name": "GB"}
    assert _http(live_server, org, "POST", "/plans/basic/charges", json={"charge": new_charge}).status_code == 200
    twin_calls = lago.plans.find("twin").charges.__root__[0].lago_id
    assert _http(live_server, org, "PUT", "/plans/twin", json={"plan": {"charges": [
        {"id": twin_calls}, new_charge]}}).status_code == 200
    assert _http(live_server, org, "PUT", "/plans/basic/charges/calls",
                 json={"charge": {"properties": {"amount": "0.25"}, "invoiceable": True}}).status_code == 200
    twin = _http(live_server, org, "GET", "/plans/twin").json()["plan"]["charges"]
    assert _http(live_server, org, "PUT", "/plans/twin", json={"plan": {"charges": [
        {"id": twin[0]["lago_id"], "properties": {"amount": "0.25"}, "invoiceable": True},
        {"id": twin[1]["lago_id"]}]}}).status_code == 200

    basic = _http(live_server, org, "GET", "/plans/basic").json()["plan"]
    twin = _http(live_server, org, "GET", "/plans/twin").json()["plan"]
    assert _comparable(basic["charges"]) == _comparable(twin["charges"])
    assert [c["code"] for c in basic["charges"]] == ["calls", "storage"]
    entries = list_entries(organization_id=org.id, filters=AuditFilters(), per_page=100).items
    changes = {name: [e.changes for e in reversed(entries) if e.object_label == name and e.action == "plan.updated"]
               for name in ("Basic", "Twin")}
    assert changes["Basic"] == changes["Twin"] and len(changes["Basic"]) == 2


def test_bad_charges_are_refused_with_nothing_written(lago, catalog, live_server, org):
    calls, storage = catalog
    lago.plan_charges.create("basic", Charge(billable_metric_id=storage.lago_id, charge_model="standard",
                                             properties={"amount": "0.10"}))
    before = _http(live_server, org, "GET", "/plans/basic").json()
    cases = [
        ("POST", "/plans/basic/charges", {"charge": {"billable_metric_id": calls.lago_id}},
         422, {"charge_model": ["value_is_mandatory"]}),
        ("POST", "/plans/basic/charges", {"charge": {"billable_metric_id": calls.lago_id, "charge_model": "standard",
                                                     "properties": {"amount": "0.1"}, "code": "calls"}},
         422, {"code": ["value_already_exist"]}),
        ("POST", "/plans/basic/charges", {"charge": {"billable_metric_id": "nope", "charge_model": "standard",
                                                     "properties": {"amount": "1"}}},
         422, {"billable_metric_id": ["billable_metric_not_found"]}),
        ("POST", "/plans/basic/charges", {"charge": {"billable_metric_id": calls.lago_id, "charge_model": "standard",
                                                     "properties": {"amount": "1"},
                                                     "applied_pricing_unit": {"code": "credits"}}},
         422, {"applied_pricing_unit": ["not_supported_yet"], "applied_pricing_unit.code": ["not_supported_yet"]}),
        ("PUT", "/plans/basic/charges/calls", {"charge": {"properties": {"amount": "-1"}}},
         422, {"properties.amount": ["invalid_amount"]}),
        ("PUT", "/plans/basic/charges/calls", {"charge": {"pay_in_advance": True, "min_amount_cents": 10}},
         422, {"min_amount_cents": ["not_compatible_with_pay_in_advance"]}),
        ("PUT", "/plans/basic/charges/calls", {"charge": {"cascade_updates": "yes"}},
         422, {"cascade_updates": ["invalid_type"]}),
        ("POST", "/plans/basic/charges/calls/filters", {"filter": {"values": {"region": ["eu"]},
                                                                   "properties": {"amount": "1"}}},
         422, {"values": ["invalid_filter_values"]}),  # calls has no region
        ("PUT", "/plans/basic/charges/calls", {"charge": {"filters": "x", "code": 7}},
         422, {"filters": ["invalid_type"], "code": ["invalid_type"]}),
        ("POST", "/plans/basic/charges/storage/filters", {"filter": {"values": "eu", "properties": {}}},
         422, {"values": ["invalid_type"]}),
        ("POST", "/plans/basic/charges/storage/filters", {"filter": {"values": {"region": "eu"}, "properties": {}}},
         422, {"values": ["invalid_format"]}),
        ("POST", "/plans/basic/charges/storage/filters", {"filter": {"values": {"region": ["eu"]}}},
         422, {"properties": ["value_is_mandatory"]}),
        ("POST", "/plans/basic/charges/storage/filters", {"filter": {"values": {"region": ["eu"]},
                                                                     "properties": {"amount": [1]}}},
         422, {"properties.amount": ["invalid_amount"]}),
        ("PUT", "/plans/basic/charges/calls", {"charge": {"tax_codes": "x"}}, 422, {"tax_codes": ["invalid_type"]}),
        ("GET", "/subscriptions/s1/charges", None, 404, None),
        ("PUT", "/plans/basic/charges/nope", {"charge": {}}, 404, None),
        ("GET", "/plans/nope/charges", None, 404, None),
        ("DELETE", "/plans/basic/charges/calls/filters/nope", None, 404, None),
    ]
    for method, path, payload, status, details in cases:
        response = _http(live_server, org, method, path, json=payload)
        assert response.status_code == status, (path, payload, response.text)
        if details is not None:
            assert response.json() == {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
                                       "error_details": details}, (path, payload)
    assert _http(live_server, org, "PUT", "/plans/basic/charges/nope", json={"charge": {}}).json() == {
        "status": 404, "error": "Not Found", "code": "charge_not_found"}
    assert _http(live_server, org, "GET", "/plans/nope/charges").json()["code"] == "plan_not_found"
    assert _http(live_server, org, "POST", "/plans/basic/charges", json={}).status_code == 400
    lago.customers.create(Customer(external_id="c1", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="c1", plan_code="basic", external_id="s1"))
    override = {"charge": {"filters": [{"values": {"region": ["eu"]}, "properties": "x"}], "min_amount_cents": -1}}
    for params, details in (({"subscription_status": "sleeping"}, {"subscription_status": ["value_is_invalid"]}),
                            ({}, {"min_amount_cents": ["value_is_out_of_range"],
                                  "filters.0.properties": ["invalid_type"]})):
        response = _http(live_server, org, "PUT", "/subscriptions/s1/charges/storage", params=params, json=override)
        assert (response.status_code, response.json()["error_details"]) == (422, details)
    for fields, details in (({"tax_codes": 5}, {"tax_codes": ["invalid_type"]}),
                            ({"invoice_display_name": 5}, {"invoice_display_name": ["invalid_type"]})):
        response = _http(live_server, org, "PUT", "/subscriptions/s1/charges/storage", json={"charge": fields})
        assert (response.status_code, response.json()["error_details"]) == (422, details)
    assert lago.subscriptions.find("s1").plan_code == "basic"
    effective = _http(live_server, org, "GET", "/subscriptions/s1/charges/storage").json()["charge"]
    assert effective["lago_parent_id"] is None  # still the plan's own charge: no override was made
    assert _http(live_server, org, "GET", "/plans/basic").json() == before


def test_plan_charge_filters_through_the_client(lago, catalog, live_server, org):
    _calls, storage = catalog
    lago.plan_charges.create("basic", Charge(billable_metric_id=storage.lago_id, charge_model="standard",
                                             properties={"amount": "0.10"}))
    eu = lago.plans.create_charge_filter("basic", "storage", ChargeFilter(
        values={"region": ["eu"]}, properties={"amount": "0.50"}, invoice_display_name="Europe"))
    us = lago.plans.create_charge_filter("basic", "storage", ChargeFilter(values={"region": ["us", "asia"]},
                                                                          properties={"amount": "0.20"}))
    assert (eu.values, eu.properties, eu.invoice_display_name) == ({"region": ["eu"]}, {"amount": "0.50"}, "Europe")
    raw = _http(live_server, org, "GET", f"/plans/basic/charges/storage/filters/{eu.lago_id}").json()["filter"]
    assert raw["charge_code"] == "storage" and raw["lago_id"] == eu.lago_id

    changed = lago.plans.update_charge_filter("basic", "storage", us.lago_id,
                                              ChargeFilter(values={"region": ["us"]}, properties={"amount": "0.25"}))
    assert (changed.lago_id, changed.values, changed.properties) == (us.lago_id, {"region": ["us"]},
                                                                     {"amount": "0.25"})
    assert lago.plans.find_charge_filter("basic", "storage", eu.lago_id).invoice_display_name == "Europe"
    listed = lago.plans.find_all_charge_filters("basic", "storage")
    assert sorted(f.lago_id for f in listed["filters"]) == sorted([eu.lago_id, us.lago_id])
    assert listed["meta"]["total_count"] == 2
    status, body = _error(lambda: lago.plans.create_charge_filter(
        "basic", "storage", ChargeFilter(values={"region": ["eu"]}, properties={"amount": "1"})))
    assert (status, body["error_details"]) == (422, {"values": ["value_already_exist"]})

    lago.plans.destroy_charge_filter("basic", "storage", eu.lago_id)
    plan_filters = lago.plan_charges.find("basic", "storage").filters.__root__
    assert [(f.values, f.properties) for f in plan_filters] == [({"region": ["us"]}, {"amount": "0.25"})]
    entries = list_entries(organization_id=org.id, filters=AuditFilters(), per_page=100).items
    assert [e.action for e in entries if e.object_label == "Basic"].count("plan.updated") == 5  # charge + 4 filters

    # With cascade_updates, a filter reaches the overridden plans of live subscriptions; without, it does not.
    lago.customers.create(Customer(external_id="c1", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="c1", plan_code="basic", external_id="s1",
                                           plan_overrides={"amount_cents": 100}))
    lago.plans.create_charge_filter("basic", "storage", ChargeFilter(values={"region": ["asia"]},
                                                                     properties={"amount": "0.7"},
                                                                     cascade_updates=True))
    lago.plans.create_charge_filter("basic", "storage", ChargeFilter(values={"region": ["eu"]},
                                                                     properties={"amount": "0.9"}))
    own = lago.subscriptions.find_all_charge_filters("s1", "storage")["filters"]
    assert sorted((f.values["region"][0], f.properties["amount"]) for f in own) == [("asia", "0.7"), ("us", "0.25")]


def test_another_organization_sees_none_of_it(lago, catalog, live_server, app):
    from billing.organizations.services import create_organization

    other = create_organization(name="Other", default_currency="EUR")
    lago.customers.create(Customer(external_id="c1", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="c1", plan_code="basic", external_id="s1"))
    headers = {"Authorization": f"Bearer {other.api_key}"}
    for method, path in (("GET", "/plans/basic/charges"), ("GET", "/plans/basic/charges/calls"),
                         ("DELETE", "/plans/basic/charges/calls"), ("GET", "/plans/basic/charges/calls/filters"),
                         ("GET", "/subscriptions/s1/charges"), ("GET", "/subscriptions/s1/charges/calls"),
                         ("PUT", "/subscriptions/s1/charges/calls")):
        response = httpx.request(method, f"{live_server}/api/v1{path}", headers=headers,
                                 json={"charge": {"properties": {"amount": "0"}}} if method == "PUT" else None)
        assert response.status_code == 404, (method, path)
    assert lago.plan_charges.find("basic", "calls").properties == {"amount": "0.10"}


def test_a_charge_added_with_cascade_updates_reaches_overridden_subscriptions(lago, catalog, live_server, org):
    _calls, storage = catalog
    lago.customers.create(Customer(external_id="c1", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="c1", plan_code="basic", external_id="s1",
                                           plan_overrides={"amount_cents": 1000}))
    lago.customers.create(Customer(external_id="c2", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="c2", plan_code="basic", external_id="s2",
                                           plan_overrides={"amount_cents": 2000}))
    lago.plan_charges.create("basic", Charge(billable_metric_id=storage.lago_id, charge_model="standard",
                                             properties={"amount": "0.5"}, cascade_updates=True))
    codes = [c["code"] for c in _http(live_server, org, "GET", "/subscriptions/s1/charges").json()["charges"]]
    assert sorted(codes) == ["calls", "storage"]
    # Deleted without cascading: the overridden plans keep it.
    assert _http(live_server, org, "DELETE", "/plans/basic/charges/storage").status_code == 200
    assert [c.code for c in lago.plans.find("basic").charges.__root__] == ["calls"]
    assert len(_http(live_server, org, "GET", "/subscriptions/s2/charges").json()["charges"]) == 2
    response = _http(live_server, org, "DELETE", "/plans/basic/charges/calls",
                     json={"charge": {"cascade_updates": True}})
    assert response.status_code == 200
    assert [c["code"] for c in _http(live_server, org, "GET", "/subscriptions/s2/charges").json()["charges"]] == [
        "storage"]


def test_a_subscription_charge_is_overridden_through_the_client(lago, catalog, live_server, org):
    lago.customers.create(Customer(external_id="c1", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="c1", plan_code="basic", external_id="s1"))
    plan_charge = lago.plan_charges.find("basic", "calls")
    assert lago.subscription_charges.find("s1", "calls").lago_id == plan_charge.lago_id  # no overrides yet

    overridden = lago.subscription_charges.update("s1", "calls", ChargeOverrides(
        properties={"amount": "0.02"}, invoice_display_name="API calls"))
    assert (overridden.code, overridden.properties, overridden.invoice_display_name) == (
        "calls", {"amount": "0.02"}, "API calls")
    assert overridden.lago_id != plan_charge.lago_id
    raw = _http(live_server, org, "GET", "/subscriptions/s1/charges/calls").json()["charge"]
    assert raw["lago_parent_id"] == plan_charge.lago_id and raw["properties"] == {"amount": "0.02"}
    assert lago.plan_charges.find("basic", "calls").properties == {"amount": "0.10"}  # the plan's own stays
    # A second override keeps the first one's other terms.
    again = lago.subscription_charges.update("s1", "calls", ChargeOverrides(min_amount_cents=500))
    assert (again.properties, again.min_amount_cents, again.invoice_display_name) == ({"amount": "0.02"}, 500,
                                                                                      "API calls")
    assert int(lago.subscriptions.find("s1").plan_amount_cents) == 3000

    status, body = _error(lambda: lago.subscription_charges.update("s1", "calls", ChargeOverrides(
        properties={"amount": "x"})))
    assert (status, body["error_details"]) == (422, {"properties.amount": ["invalid_amount"]})
    response = _http(live_server, org, "PUT", "/subscriptions/s1/charges/calls",
                     json={"charge": {"applied_pricing_unit": {"code": "c", "conversion_rate": "2"}}})
    assert response.json()["error_details"] == {  # api/refusals.py: the object and each field sent in it
        "applied_pricing_unit": ["not_supported_yet"], "applied_pricing_unit.code": ["not_supported_yet"],
        "applied_pricing_unit.conversion_rate": ["not_supported_yet"]}
    assert _http(live_server, org, "PUT", "/subscriptions/s1/charges/nope",
                 json={"charge": {}}).json()["code"] == "charge_not_found"
    assert _http(live_server, org, "GET", "/subscriptions/nope/charges").json()["code"] == "subscription_not_found"
    assert _http(live_server, org, "GET", "/subscriptions/s1/charges",
                 params={"subscription_status": "terminated"}).status_code == 404
    entries = list_entries(organization_id=org.id, filters=AuditFilters(), per_page=100).items
    assert [e.changes for e in entries if e.action == "subscription.overrides_changed"][-1] == {
        "charges.calls.properties.amount": ["0.10", "0.02"]}


def test_subscription_charge_filters_through_the_client(lago, catalog, live_server, org):
    _calls, storage = catalog
    lago.plan_charges.create("basic", Charge(billable_metric_id=storage.lago_id, charge_model="standard",
                                             properties={"amount": "0.10"},
                                             filters=[ChargeFilter(values={"region": ["eu"]},
                                                                   properties={"amount": "0.50"})]))
    lago.customers.create(Customer(external_id="c1", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="c1", plan_code="basic", external_id="s1"))
    us = lago.subscriptions.create_charge_filter("s1", "storage", ChargeFilter(values={"region": ["us"]},
                                                                               properties={"amount": "0.30"}))
    listed = lago.subscriptions.find_all_charge_filters("s1", "storage")["filters"]
    assert sorted((f.values["region"][0], f.properties["amount"]) for f in listed) == [("eu", "0.50"),
                                                                                      ("us", "0.30")]
    assert lago.subscriptions.find_charge_filter("s1", "storage", us.lago_id).properties == {"amount": "0.30"}
    eu = next(f for f in listed if f.values == {"region": ["eu"]})
    changed = lago.subscriptions.update_charge_filter("s1", "storage", eu.lago_id,
                                                      ChargeFilter(properties={"amount": "0.40"}))
    assert (changed.values, changed.properties) == ({"region": ["eu"]}, {"amount": "0.40"})
    us_now = next(f for f in lago.subscriptions.find_all_charge_filters("s1", "storage")["filters"]
                  if f.values == {"region": ["us"]})
    lago.subscriptions.destroy_charge_filter("s1", "storage", us_now.lago_id)
    filters = lago.subscription_charges.find("s1", "storage").filters.__root__
    assert [(f.values, f.properties) for f in filters] == [({"region": ["eu"]}, {"amount": "0.40"})]
    # The plan's own filters never moved.
    assert [(f.values, f.properties) for f in lago.plan_charges.find("basic", "storage").filters.__root__] == [
        ({"region": ["eu"]}, {"amount": "0.50"})]
    status, body = _error(lambda: lago.subscriptions.create_charge_filter(
        "s1", "storage", ChargeFilter(values={"region": ["mars"]}, properties={"amount": "1"})))
    assert (status, body["error_details"]) == (422, {"values": ["invalid_filter_values"]})


def test_charge_and_filter_edits_cascade_only_when_asked(lago, catalog, live_server, org):
    """PUT of a charge, PUT and DELETE of a filter: with `cascade_updates`, the overridden plans of live
    subscriptions follow (while they still hold what the plan held); without, they keep their own."""
    _calls, storage = catalog
    lago.plan_charges.create("basic", Charge(billable_metric_id=storage.lago_id, charge_model="standard",
                                             properties={"amount": "0.10"}))
    eu = lago.plans.create_charge_filter("basic", "storage", ChargeFilter(values={"region": ["eu"]},
                                                                          properties={"amount": "0.50"}))
    us = lago.plans.create_charge_filter("basic", "storage", ChargeFilter(values={"region": ["us"]},
                                                                          properties={"amount": "0.40"}))
    lago.customers.create(Customer(external_id="c1", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="c1", plan_code="basic", external_id="s1",
                                           plan_overrides={"amount_cents": 100}))

    def own(path: str) -> dict:
        return _http(live_server, org, "GET", f"/subscriptions/s1/charges/{path}").json()

    def own_filters() -> dict:
        return {f["values"]["region"][0]: f["properties"] for f in own("storage/filters")["filters"]}

    def edit(method: str, path: str, root: str, sent: dict) -> None:
        response = _http(live_server, org, method, f"/plans/basic/charges/{path}", json={root: sent})
        assert response.status_code == 200, response.text

    edit("PUT", "calls", "charge", {"properties": {"amount": "0.30"}, "cascade_updates": True})
    assert own("calls")["charge"]["properties"] == {"amount": "0.30"}
    edit("PUT", "calls", "charge", {"properties": {"amount": "0.20"}})
    assert own("calls")["charge"]["properties"] == {"amount": "0.30"}

    edit("PUT", f"storage/filters/{eu.lago_id}", "filter", {"properties": {"amount": "0.70"}, "cascade_updates": True})
    assert own_filters() == {"eu": {"amount": "0.70"}, "us": {"amount": "0.40"}}
    edit("PUT", f"storage/filters/{eu.lago_id}", "filter", {"properties": {"amount": "0.60"}})
    assert own_filters() == {"eu": {"amount": "0.70"}, "us": {"amount": "0.40"}}

    edit("DELETE", f"storage/filters/{us.lago_id}", "filter", {"cascade_updates": True})
    assert own_filters() == {"eu": {"amount": "0.70"}}
    edit("DELETE", f"storage/filters/{eu.lago_id}", "filter", {})
    assert own_filters() == {"eu": {"amount": "0.70"}}
    assert lago.plans.find_all_charge_filters("basic", "storage")["filters"] == []
