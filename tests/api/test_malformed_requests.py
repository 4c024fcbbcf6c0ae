"""Malformed requests answer Lago's JSON 4xx, never a 500, and write nothing (issue 12)."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import httpx
import pytest
from flask import Blueprint, Flask

from api.errors import register_error_handlers
from billing import db
from billing.catalog.models import AddOn


def _headers(org) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}", "Content-Type": "application/json"}


def _is_lago_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and isinstance(body["error"], str)
    return body


def _customers(live_server: str, org) -> list[str]:
    listed = httpx.get(f"{live_server}/api/v1/customers", headers=_headers(org)).json()["customers"]
    return [c["external_id"] for c in listed]


@pytest.mark.parametrize(("levels", "reason"), [(101, "nested deeper than 100 levels"),
                                                (6000, "nested deeper than 100 levels")])
def test_json_nested_too_deep_is_a_400(live_server, org, levels, reason):
    nested = b"[" * (levels - 2) + b"]" * (levels - 2)  # inside {"customer": {"metadata": ...}}
    body = b'{"customer": {"external_id": "deep", "metadata": ' + nested + b"}}"
    response = httpx.post(f"{live_server}/api/v1/customers", content=body, headers=_headers(org))
    assert reason in _is_lago_error(response, 400)["error"]
    assert _customers(live_server, org) == []


@pytest.mark.parametrize(("text", "reason"), [
    (b'"a\\u0000b"', "NUL characters"),
    (b'"a\\ud800b"', "lone surrogate"),
    (b'"\\udc00"', "lone surrogate"),
])
def test_strings_no_database_stores_are_a_400(live_server, org, text, reason):
    # PostgreSQL refuses NUL in text, SQLite keeps it: refused before either sees it, the same on both.
    body = b'{"customer": {"external_id": ' + text + b', "name": "x"}}'
    response = httpx.post(f"{live_server}/api/v1/customers", content=body, headers=_headers(org))
    assert reason in _is_lago_error(response, 400)["error"]
    name_only = b'{"customer": {"external_id": "named", "name": ' + text + b"}}"
    assert reason in _is_lago_error(httpx.post(f"{live_server}/api/v1/customers", content=name_only,
                                               headers=_headers(org)), 400)["error"]
    batch = b'{"events": [{"transaction_id": "t", "external_subscription_id": "s", "code": "c", ' \
            b'"properties": {"k": ' + text + b"}}]}"
    _is_lago_error(httpx.post(f"{live_server}/api/v1/events/batch", content=batch, headers=_headers(org)), 400)
    assert _customers(live_server, org) == []


def test_nul_in_paths_and_query_strings_is_a_400(live_server, org):
    httpx.post(f"{live_server}/api/v1/customers", json={"customer": {"external_id": "a"}}, headers=_headers(org))
    for url in ("/api/v1/customers/a%00b", "/api/v1/customers?search_term=a%00",
                "/api/v1/subscriptions?external_customer_id=%00", "/api/v1/events/x%00/y",
                "/api/v1/no%00where"):
        assert "NUL" in _is_lago_error(httpx.get(live_server + url, headers=_headers(org)), 400)["error"]
    deleted = httpx.delete(f"{live_server}/api/v1/customers/a%00", headers=_headers(org))
    _is_lago_error(deleted, 400)
    assert _customers(live_server, org) == ["a"]


def test_nul_in_other_pages_is_a_plain_400(live_server):
    assert httpx.get(f"{live_server}/admin/login?next=%00").status_code == 400
    assert httpx.get(f"{live_server}/portal/abc%00").status_code == 400


def _raw_request(live_server: str, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    """Send `path` as typed: http.client keeps `..` segments, which httpx and browsers resolve first."""
    address = urlsplit(live_server)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.request(method, path, headers=headers)
        answer = connection.getresponse()
        return httpx.Response(answer.status, headers=dict(answer.getheaders()), content=answer.read())
    finally:
        connection.close()


@pytest.mark.parametrize("authenticated", [True, False])
@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v1/taxes/a/b", "/api/v1/../admin/customers",
                                  "/api/v1/../../etc/passwd", "/api/v1/taxes/../../v2", "/api/v2/customers",
                                  "/api/v1", "/api"])
def test_unknown_routes_under_the_api_answer_a_json_404(live_server, org, path, authenticated):
    headers = _headers(org) if authenticated else {}
    body = _is_lago_error(_raw_request(live_server, "GET", path, headers), 404)
    assert body == {"status": 404, "error": "Not Found", "code": "route_not_found"}


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PATCH", "/api/v1/customers", "GET, HEAD, OPTIONS, POST"),
    ("PUT", "/api/v1/events", "GET, HEAD, OPTIONS, POST"),
    ("POST", "/api/v1/invoices/some-id", "GET, HEAD, OPTIONS, PUT"),
    ("DELETE", "/api/v1/webhooks/json_public_key", "GET, HEAD, OPTIONS"),
])
def test_wrong_methods_under_the_api_answer_a_json_405(live_server, org, method, path, allowed):
    response = _raw_request(live_server, method, path, _headers(org))
    assert _is_lago_error(response, 405) == {"status": 405, "error": "Method Not Allowed", "code": "method_not_allowed"}
    assert response.headers["Allow"] == allowed


def test_other_pages_keep_their_own_404(live_server):
    response = httpx.get(f"{live_server}/nothing-here")
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(("resource", "payload"), [
    ("add_ons", {"add_on": {"name": "Setup", "code": "setup", "amount_cents": 2**63, "amount_currency": "EUR"}}),
    ("add_ons", {"add_on": {"name": "Setup", "code": "setup", "amount_cents": 10**30, "amount_currency": "EUR"}}),
    ("plans", {"plan": {"name": "P", "code": "p", "interval": "monthly", "amount_cents": 2**63,
                        "amount_currency": "EUR"}}),
])
def test_integers_beyond_their_column_are_a_422_and_write_nothing(live_server, org, resource, payload):
    response = httpx.post(f"{live_server}/api/v1/{resource}", json=payload, headers=_headers(org))
    body = _is_lago_error(response, 422)
    assert body["code"] == "validation_errors" and body["error_details"]
    listed = httpx.get(f"{live_server}/api/v1/{resource}", headers=_headers(org)).json()[resource]
    assert listed == []


def test_a_page_or_periods_count_beyond_any_integer_is_not_a_server_error(live_server, org):
    api = f"{live_server}/api/v1"
    httpx.post(f"{api}/plans", headers=_headers(org), json={"plan": {
        "name": "P", "code": "p", "interval": "monthly", "amount_cents": 100, "amount_currency": "EUR"}})
    assert httpx.post(f"{api}/subscriptions", headers=_headers(org), json={"subscription": {
        "external_customer_id": "cu", "plan_code": "p", "external_id": "s"}}).status_code == 200
    past = "/customers/cu/past_usage?external_subscription_id=s&"
    for query in ("/customers?page=99999999999999999999", "/customers?per_page=99999999999999999999",
                  "/customers?page=-99999999999999999999", f"{past}periods_count={2**63}",
                  f"{past}periods_count=99999999999999999999999", f"{past}page={2**63}"):
        response = httpx.get(api + query, headers=_headers(org))
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            _is_lago_error(response, response.status_code)


def test_the_last_resort_turns_a_value_the_database_refuses_into_a_422_with_nothing_written(app, org):
    # What billing.validation should have refused but did not: the database (PostgreSQL: DataError) or
    # SQLite's driver (OverflowError) refuses it inside the unit of work, which rolls back.
    probe = Flask(__name__)
    blueprint = Blueprint("probe", __name__)
    register_error_handlers(blueprint)

    @blueprint.post("/add_on")
    def save_two_add_ons():
        with db.unit_of_work() as uow:
            uow.session.add(AddOn(organization_id=org.id, name="Fits", code="fits", amount_cents=100,
                                  amount_currency="EUR"))
            uow.session.flush()
            uow.session.add(AddOn(organization_id=org.id, name="Too big", code="big", amount_cents=2**64,
                                  amount_currency="EUR"))
            uow.session.flush()
        return "saved"

    probe.register_blueprint(blueprint)
    response = probe.test_client().post("/add_on")
    assert response.status_code == 422
    assert response.get_json() == {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
                                   "error_details": {"base": ["value_is_out_of_range"]}}
    with db.unit_of_work() as uow:
        assert uow.session.query(AddOn).filter_by(organization_id=org.id).count() == 0


def test_a_body_beyond_5_mb_is_a_json_413(live_server, org):
    body = b'{"customer": {"external_id": "big", "name": "' + b"x" * (5 * 1024 * 1024) + b'"}}'
    response = httpx.post(f"{live_server}/api/v1/customers", content=body, headers=_headers(org))
    _is_lago_error(response, 413)
    assert _customers(live_server, org) == []
