"""Faults: a database that drops its connections or cannot be reached answers 503 with Retry-After (a GET
is tried once more first), never a 500; /health answers JSON naming what is down; with Redis down the
API keeps accepting events. Every app here is served over real HTTP."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg
import pytest
from werkzeug.serving import make_server

from billing import db, links

ON_POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith("postgresql")


def _closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released: connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _served(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def serve_with(app_with):
    """Serve another app whose settings differ (a database or Redis that is down), with its own job
    dispatcher; conftest's app_with binds the test's database, dispatcher and limiter again afterwards."""

    @contextmanager
    def serve(**changes) -> Iterator[str]:
        with _served(app_with(own_dispatcher=True, **changes)) as url:
            yield url

    return serve


def _auth(org) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}"}


# ---------------------------------------------------------------- a database that cannot be reached


def test_a_database_that_refuses_connections_answers_503_with_retry_after(serve_with, org):
    down = f"postgresql://postgres@127.0.0.1:{_closed_port()}/tally"
    portal = links.portal_url(customer_id="3f1e1c2e-0000-4000-8000-000000000000", organization_id=org.id)
    with serve_with(database_url=down, redis_url=None) as url:
        api = httpx.get(f"{url}/api/v1/customers", headers=_auth(org))
        created = httpx.post(f"{url}/api/v1/customers", headers=_auth(org),
                             json={"customer": {"external_id": "c1", "name": "C"}})
        page = httpx.get(url + "/portal/" + portal.rsplit("/portal/", 1)[1])
        health = httpx.get(f"{url}/health")

    for response in (api, created):
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert response.json() == {"status": 503, "error": "Service Unavailable", "code": "database_unavailable"}
    assert page.status_code == 503 and page.headers["Retry-After"] == "1"
    assert page.headers["Content-Type"].startswith("text/html") and "briefly unavailable" in page.text
    assert health.status_code == 503 and health.json() == {"status": "unavailable", "down": ["database"]}


# ---------------------------------------------------------------- PostgreSQL ends the pooled connections


def _terminate_other_backends() -> int:
    """What a server restart or an administrator does to every connection of the app's pool."""
    url = db.engine().url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        return len(admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall())


@pytest.fixture
def pooled(app, monkeypatch):
    """Connections in the pool that were in use a moment ago (so not pinged before their next use)."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    yield
    db.engine().dispose()  # no dropped connection left for the next test


@pytest.mark.skipif(not ON_POSTGRESQL, reason="SQLite has no server to end a connection")
def test_after_the_server_ended_the_pooled_connections_a_get_is_retried_and_a_post_answers_503(
        live_server, org, pooled):
    headers = _auth(org)
    created = httpx.post(f"{live_server}/api/v1/customers", headers=headers,
                         json={"customer": {"external_id": "c1", "name": "First"}})
    assert created.status_code == 200
    assert db.engine().pool.checkedin() >= 1
    assert _terminate_other_backends() >= 1

    listed = httpx.get(f"{live_server}/api/v1/customers", headers=headers)
    assert listed.status_code == 200  # the first try met a dead connection; the second a new one
    assert [c["external_id"] for c in listed.json()["customers"]] == ["c1"]

    assert _terminate_other_backends() >= 1
    refused = httpx.post(f"{live_server}/api/v1/customers", headers=headers,
                         json={"customer": {"external_id": "c2", "name": "Second"}})
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert refused.json() == {"status": 503, "error": "Service Unavailable", "code": "database_unavailable"}
    # Nothing was written; sent again, it is.
    listed = httpx.get(f"{live_server}/api/v1/customers", headers=headers).json()["customers"]
    assert [c["external_id"] for c in listed] == ["c1"]
    again = httpx.post(f"{live_server}/api/v1/customers", headers=headers,
                       json={"customer": {"external_id": "c2", "name": "Second"}})
    assert again.status_code == 200


@pytest.mark.skipif(not ON_POSTGRESQL, reason="SQLite has no server to end a connection")
def test_event_ingestion_on_an_ended_connection_answers_503_then_accepts_the_event(live_server, org, pooled):
    headers = _auth(org)
    event = {"event": {"transaction_id": "tx-1", "external_subscription_id": "sub-1", "code": "calls"}}
    assert httpx.post(f"{live_server}/api/v1/events", headers=headers, json=event).status_code == 200
    assert _terminate_other_backends() >= 1

    answers = [httpx.post(f"{live_server}/api/v1/events", headers=headers,
                          json={"event": {**event["event"], "transaction_id": f"tx-{i}"}}) for i in (2, 3, 4)]
    statuses = [a.status_code for a in answers]
    assert statuses[0] == 503 and set(statuses) <= {200, 503}, statuses  # never a 500
    assert statuses[-1] == 200  # the dead connections are replaced, not kept
    for answer in answers:
        if answer.status_code == 503:
            assert answer.headers["Retry-After"] == "1" and answer.json()["code"] == "database_unavailable"
    # Not retried by the server (a POST): the client sends the refused event again, and it is kept once.
    assert httpx.post(f"{live_server}/api/v1/events", headers=headers,
                      json={"event": {**event["event"], "transaction_id": "tx-2"}}).status_code == 200
    assert httpx.get(f"{live_server}/api/v1/events/tx-2", headers=headers).status_code == 200


# ---------------------------------------------------------------- Redis down


def test_with_redis_down_health_names_it_and_events_are_still_accepted(serve_with, org):
    down = f"redis://127.0.0.1:{_closed_port()}/4"
    with serve_with(redis_url=down) as url:
        started = time.monotonic()
        health = httpx.get(f"{url}/health")
        took = time.monotonic() - started
        event = {"event": {"transaction_id": "tx-redis-down", "external_subscription_id": "sub-1", "code": "calls"}}
        accepted = httpx.post(f"{url}/api/v1/events", headers=_auth(org), json=event)
        found = httpx.get(f"{url}/api/v1/events/tx-redis-down", headers=_auth(org))

    assert health.status_code == 503 and health.headers["Content-Type"] == "application/json"
    assert health.json() == {"status": "unavailable", "down": ["redis"]}
    assert took < 3
    assert accepted.status_code == 200, accepted.text
    assert found.status_code == 200 and found.json()["event"]["transaction_id"] == "tx-redis-down"


def test_health_answers_ok_when_everything_is_up(live_server):
    response = httpx.get(f"{live_server}/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
