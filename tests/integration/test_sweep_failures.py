"""The clock's webhook sweep asks for every due delivery: one whose attempt fails does not keep the others waiting.

The failing one is real: a receiver answering with a NUL byte, whose excerpt PostgreSQL refuses to store
(SQLite stores it: there, nothing fails and every delivery simply goes out). Jobs run in process,
synchronously, so that a job's failure reaches the sweep as it would with a failing enqueue.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from billing.db import read_only, unit_of_work
from billing.ports import runtime
from billing.webhooks.models import WebhookDelivery, WebhookEndpoint
from billing.webhooks.services import deliver_due_webhooks
from jobs.dispatch import InProcessDispatcher


@pytest.fixture
def answering() -> Iterator[str]:
    """A receiver: `/nul` answers 200 with a NUL byte in its body, any other path a plain 200."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"ok\x00" if self.path == "/nul" else b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_one_failing_delivery_does_not_stop_the_sweep(org, clock, answering, monkeypatch, allow_private_webhooks):
    monkeypatch.setattr(runtime, "dispatcher", InProcessDispatcher(synchronous=True))
    now = clock.now()
    ids = []
    with unit_of_work() as uow:  # three due deliveries, the one to the NUL-answering URL due first
        for n, path in enumerate(("/nul", "/a", "/b")):
            endpoint = WebhookEndpoint(organization_id=org.id, webhook_url=answering + path)
            uow.session.add(endpoint)
            uow.session.flush()
            delivery = WebhookDelivery(
                organization_id=org.id, endpoint_id=endpoint.id, webhook_url=endpoint.webhook_url,
                webhook_type="customer.created", object_type="customer", body=f'{{"n": {n}}}',
                next_attempt_at=now - timedelta(minutes=10 - n))
            uow.session.add(delivery)
            uow.session.flush()
            ids.append(delivery.id)

    asked = deliver_due_webhooks()

    with read_only() as session:
        deliveries = {d.id: d for d in session.scalars(select(WebhookDelivery))}
    assert deliveries[ids[1]].attempts == deliveries[ids[2]].attempts == 1  # sent after the failing one
    failed = [d for d in deliveries.values() if d.status == "sending"]  # its attempt raised: left to the lease
    assert [d.id for d in failed] == ([ids[0]] if _is_postgresql() else [])
    assert asked == 3 - len(failed)


def _is_postgresql() -> bool:
    from billing import db

    return db.engine().dialect.name == "postgresql"
