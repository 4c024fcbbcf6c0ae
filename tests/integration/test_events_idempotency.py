"""Events are idempotent on (organization, transaction_id), also under concurrent requests."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.metering.test_event_store import _stored_rows

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


def test_concurrent_duplicates_are_stored_once(live_server, org, events_store):
    headers = {"Authorization": f"Bearer {org.api_key}"}
    events = [{"transaction_id": f"tx-{i}", "external_subscription_id": "sub", "code": "calls"} for i in range(50)]
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def send() -> None:
        barrier.wait()
        with httpx.Client(timeout=30) as client:
            statuses.append(client.post(f"{live_server}/api/v1/events/batch", json={"events": events},
                                        headers=headers).status_code)
            statuses.append(client.post(f"{live_server}/api/v1/events", json={"event": events[0]},
                                        headers=headers).status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 12
    assert _stored_rows(events_store) == 50


def test_transaction_ids_are_per_organization(live_server, org, events_store):
    from billing.organizations.services import create_organization

    other = create_organization(name="Other Co")
    for key in (org.api_key, other.api_key):
        response = httpx.post(f"{live_server}/api/v1/events", headers={"Authorization": f"Bearer {key}"},
                              json={"event": {"transaction_id": "same", "external_subscription_id": "s",
                                              "code": "c", "properties": {"n": 1}}})
        assert response.status_code == 200
    assert _stored_rows(events_store) == 2
    # And one organization's key never reads the other's event.
    mine = httpx.get(f"{live_server}/api/v1/events/same", headers={"Authorization": f"Bearer {org.api_key}"})
    assert mine.json()["event"]["properties"] == {"n": 1}
