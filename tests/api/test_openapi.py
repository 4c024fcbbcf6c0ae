"""GET /api/v1/openapi.json describes the API as it is: every route and method, the root keys, the ranges."""

from __future__ import annotations

import re

import httpx
import pytest

from billing import validation

METHODS = {"get", "post", "put", "delete", "patch"}


def _document(live_server: str) -> dict:
    response = httpx.get(f"{live_server}/api/v1/openapi.json")  # public: no API key
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    return response.json()


def _routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "{}", rule.rule.removeprefix("/api/v1"))
            routes |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def _operations(document: dict) -> set[tuple[str, str]]:
    return {(method, re.sub(r"\{[a-z_]+\}", "{}", path))
            for path, item in document["paths"].items() for method in item if method in METHODS}


def test_the_document_lists_every_route_and_method_and_no_other(app, live_server):
    document = _document(live_server)
    assert document["openapi"] == "3.1.0" and document["servers"] == [{"url": "/api/v1"}]
    routes, operations = _routes(app), _operations(document)
    assert routes - operations == set(), "routes missing from the document"
    assert operations - routes == set(), "operations the app does not serve"
    assert len(operations) >= 78


def test_path_parameters_are_declared_and_every_operation_says_its_errors(live_server):
    document = _document(live_server)
    for path, item in document["paths"].items():
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"\{([a-z_]+)\}", path)), path
        for method, operation in item.items():
            if method not in METHODS:
                continue
            assert {"200", "400", "404", "422"} <= operation["responses"].keys(), (method, path)
            assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"}
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "The organization's API key"}
    assert document["paths"]["/openapi.json"]["get"]["security"] == []


def test_each_request_body_names_the_root_key_the_route_reads(live_server, org):
    # Sent without its root key, each body is refused by name: the document's root keys are the ones read.
    document = _document(live_server)
    headers = {"Authorization": f"Bearer {org.api_key}"}
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS or not operation.get("requestBody", {}).get("required"):
                continue  # no body, or an optional one (retry_payment's payment_method)
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            # A body of one of several shapes (an alert, or a batch of alerts): the first one's root is named.
            [root] = schema["required"] if "required" in schema else schema["oneOf"][0]["required"]
            url = live_server + "/api/v1" + re.sub(r"\{[a-z_]+\}", "some-id", path)
            response = httpx.request(method.upper(), url, json={"other": {}}, headers=headers)
            assert response.status_code in (400, 404), (method, path, response.text)
            if response.status_code == 400:
                assert response.json()["error"] == f"BadRequest: param is missing or the value is empty: {root}"
                checked += 1
    assert checked >= 15


def test_the_ranges_are_billing_validations_own(live_server):
    schemas = _document(live_server)["components"]["schemas"]
    assert schemas["PlanInput"]["properties"]["amount_cents"]["maximum"] == validation.MAX_AMOUNT_CENTS
    assert schemas["AddOnInput"]["properties"]["amount_cents"]["maximum"] == validation.MAX_AMOUNT_CENTS
    assert schemas["CustomerInput"]["properties"]["invoice_grace_period"]["maximum"] == validation.MAX_DAYS
    assert schemas["PlanInput"]["properties"]["trial_period"]["maximum"] == validation.MAX_DAYS
    assert schemas["CustomerInput"]["properties"]["name"]["maxLength"] == validation.MAX_STRING
    assert schemas["AddOnInput"]["properties"]["description"]["maxLength"] == validation.MAX_TEXT
    rate = schemas["WalletInput"]["properties"]["rate_amount"]["pattern"]
    assert re.fullmatch(rate, "9" * 15 + "." + "9" * 15) and not re.fullmatch(rate, "1" + "0" * 15)
    assert not re.fullmatch(rate, "1." + "0" * 16) and not re.fullmatch(rate, "1e400")
    parameters = {p["name"]: p["schema"] for p in
                  _document(live_server)["paths"]["/customers"]["get"]["parameters"]}
    assert parameters["page"]["maximum"] == validation.MAX_PAGE
    assert parameters["per_page"]["maximum"] == validation.MAX_PER_PAGE


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_document_itself_is_read_only(live_server, method):
    response = httpx.request(method.upper(), f"{live_server}/api/v1/openapi.json")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
