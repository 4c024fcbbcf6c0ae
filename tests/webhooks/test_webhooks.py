"""Outgoing webhooks end to end: endpoints through the Lago client, the outbox, signed delivery to a
real HTTP receiver, retries with back-off, the attempt log, and idempotent reruns.

Runs with RQ and real Redis when REDIS_URL is set (the `run_jobs` fixture), else in process.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from billing.clock import run_billing_clock
from billing.db import read_only, unit_of_work
from billing.invoicing.actions import finalize_invoice
from billing.invoicing.queries import list_invoices
from billing.lifecycle import terminate_subscription
from billing.organizations.models import Organization
from billing.webhooks import services as webhooks
from billing.webhooks.models import WebhookAttempt, WebhookDelivery
from tests.integration.helpers import monthly_plan, run_scheduled_now, subscribe


def _endpoint(org, url: str, **data) -> str:
    return webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": url, **data}).id


def _emit_without_dispatch(org, webhook_type: str = "invoice.created") -> str:
    """Write one delivery and commit, as if the process died before asking for it (no after-commit hook):
    the test then drives `deliver_webhook` itself, with no background job racing it."""
    from sqlalchemy.orm import Session

    from billing import db

    with Session(db.engine()) as session, session.begin():
        [delivery_id] = webhooks.emit(session, org.id, webhook_type, "invoice", {"lago_id": "inv-1"})
    return delivery_id


def _deliveries(webhook_type: str | None = None) -> list[WebhookDelivery]:
    with read_only() as session:
        query = select(WebhookDelivery).order_by(WebhookDelivery.created_at)
        if webhook_type:
            query = query.where(WebhookDelivery.webhook_type == webhook_type)
        return list(session.scalars(query))


def _attempts(delivery_id: str) -> list[WebhookAttempt]:
    with read_only() as session:
        return list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
                                    .order_by(WebhookAttempt.number)))


# ---------------------------------------------------------------- the API, through the official client


def test_webhook_endpoints_through_the_lago_client(lago, org, clock):
    from lago_python_client.exceptions import LagoApiError
    from lago_python_client.models.webhook_endpoint import WebhookEndpoint

    created = lago.webhook_endpoints.create(WebhookEndpoint(
        webhook_url="https://hooks.example.com/lago", signature_algo="hmac", name="ERP"))
    assert created.lago_organization_id == org.id and created.signature_algo == "hmac"
    assert created.webhook_url == "https://hooks.example.com/lago" and created.name == "ERP"
    assert created.created_at == "2026-11-10T12:00:00Z"

    found = lago.webhook_endpoints.find(created.lago_id)
    assert found.lago_id == created.lago_id and found.event_types is None

    updated = lago.webhook_endpoints.update(WebhookEndpoint(
        webhook_url="https://hooks.example.com/v2", event_types=["invoice.created"]), created.lago_id)
    assert updated.webhook_url == "https://hooks.example.com/v2" and updated.event_types == ["invoice.created"]
    assert updated.name == "ERP" and updated.signature_algo == "hmac"

    # Without signature_algo, Tally signs with hmac (Lago's default is jwt: docs/webhooks.md says why).
    second = lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="https://other.example.com/hooks"))
    assert second.signature_algo == "hmac"
    listed = lago.webhook_endpoints.find_all()
    assert {e.lago_id for e in listed["webhook_endpoints"]} == {created.lago_id, second.lago_id}
    assert listed["meta"]["total_count"] == 2

    deleted = lago.webhook_endpoints.destroy(second.lago_id)
    assert deleted.lago_id == second.lago_id
    with pytest.raises(LagoApiError) as missing:
        lago.webhook_endpoints.find(second.lago_id)
    assert missing.value.status_code == 404 and missing.value.response["code"] == "webhook_endpoint_not_found"

    for bad, field, reason in [
        ({"webhook_url": "ftp://hooks.example.com/x"}, "webhook_url", "url_is_invalid"),
        ({"webhook_url": "file:///etc/passwd"}, "webhook_url", "url_is_invalid"),
        ({"webhook_url": "https://hooks.example.com/v2"}, "webhook_url", "value_already_exist"),
        ({"webhook_url": "https://a.example.com", "signature_algo": "md5"}, "signature_algo", "value_is_invalid"),
    ]:
        with pytest.raises(LagoApiError) as refused:
            lago.webhook_endpoints.create(WebhookEndpoint(**bad))
        assert refused.value.status_code == 422, bad
        assert refused.value.response["code"] == "validation_errors"
        assert reason in refused.value.response["error_details"][field], (bad, refused.value.response)


def test_webhook_endpoints_answer_lagos_errors_over_http(live_server, org):
    import httpx

    headers = {"Authorization": f"Bearer {org.api_key}"}
    missing_root = httpx.post(f"{live_server}/api/v1/webhook_endpoints", json={"webhook_url": "https://x.io"},
                              headers=headers)
    assert missing_root.status_code == 400 and missing_root.json()["error"].startswith("BadRequest")
    no_auth = httpx.get(f"{live_server}/api/v1/webhook_endpoints")
    assert no_auth.status_code == 401 and no_auth.json() == {"status": 401, "error": "Unauthorized"}
    empty = httpx.get(f"{live_server}/api/v1/webhook_endpoints", headers=headers).json()
    assert empty == {"webhook_endpoints": [], "meta": {"current_page": 0, "next_page": None, "prev_page": None,
                                                       "total_pages": 0, "total_count": 0}}


def test_an_organization_sees_only_its_own_endpoints(org, app):
    from billing.organizations.services import create_organization

    other = create_organization(name="Other Corp")
    endpoint_id = _endpoint(org, "https://hooks.example.com/a")
    from billing.errors import NotFound

    with pytest.raises(NotFound):
        webhooks.get_webhook_endpoint(organization_id=other.organization_id, endpoint_id=endpoint_id)
    assert webhooks.list_webhook_endpoints(organization_id=other.organization_id).total_count == 0


# ---------------------------------------------------------------- emission and delivery


def test_a_finalized_invoice_sends_exactly_one_signed_invoice_created(org, clock, receiver, run_jobs, live_server):
    import httpx

    clock.set("2026-09-01T00:00:00Z")
    _endpoint(org, receiver.url)
    monthly_plan(org.id)
    subscribe(org.id, "sub-1", at="2026-09-01T00:00:00Z")
    clock.set("2026-10-01T00:30:00Z")
    run_billing_clock()
    for _ in range(3):  # bill (finalizes), then the PDF and the deliveries it asked for
        run_jobs()

    key = webhooks.hmac_key(organization_id=org.id)
    [created] = receiver.of_type("invoice.created")
    assert created.signed_with(key)
    assert created.headers["X-Lago-Signature-Algorithm"] == "hmac"
    assert created.headers["Content-Type"] == "application/json"
    [delivery] = _deliveries("invoice.created")
    assert created.headers["X-Lago-Unique-Key"] == delivery.id
    assert delivery.status == "succeeded" and delivery.attempts == 1 and delivery.last_status_code == 200

    body = created.json
    assert list(body)[:3] == ["webhook_type", "object_type", "organization_id"]
    assert body["webhook_type"] == "invoice.created" and body["object_type"] == "invoice"
    assert body["organization_id"] == org.id
    # The payload is the API's invoice, as it was at finalization (the PDF comes after).
    [invoice] = list_invoices(organization_id=org.id).items
    api = httpx.get(f"{live_server}/api/v1/invoices/{invoice.id}",
                    headers={"Authorization": f"Bearer {org.api_key}"}).json()["invoice"]
    sent = body["invoice"]
    assert sent["status"] == "finalized" and sent["number"] == invoice.number
    assert {k: v for k, v in sent.items() if k not in ("file_url", "updated_at")} == {
        k: v for k, v in api.items() if k not in ("file_url", "updated_at")}
    assert sent["fees_amount_cents"] == 3000

    # The subscription's start was reported too, once, and its customer's creation; nothing else was sent.
    [started] = receiver.of_type("subscription.started")
    assert started.signed_with(key)
    assert started.json["subscription"]["external_id"] == "sub-1"
    assert started.json["subscription"]["status"] == "active"
    [customer] = receiver.of_type("customer.created")
    assert customer.signed_with(key) and customer.json["customer"]["external_id"] == "cust-sub-1"
    assert len(receiver.requests) == 3

    # Another clock run (and its sweep) sends nothing again.
    run_billing_clock()
    run_jobs()
    assert len(receiver.requests) == 3


def test_a_draft_sends_invoice_drafted_then_invoice_created_when_finalized(org, clock, receiver, run_jobs):
    with unit_of_work() as uow:
        uow.session.get(Organization, org.id).invoice_grace_period = 3
    clock.set("2026-09-01T00:00:00Z")
    _endpoint(org, receiver.url, event_types=["invoice.drafted", "invoice.created"])
    monthly_plan(org.id)
    subscribe(org.id, "sub-1", at="2026-09-01T00:00:00Z")
    clock.set("2026-10-01T00:30:00Z")
    run_billing_clock()
    for _ in range(2):
        run_jobs()
    [drafted] = receiver.of_type("invoice.drafted")
    assert drafted.json["invoice"]["status"] == "draft"
    assert receiver.of_type("invoice.created") == []
    assert receiver.of_type("subscription.started") == []  # not among this endpoint's event_types

    finalize_invoice(organization_id=org.id, invoice_id=drafted.json["invoice"]["lago_id"])
    run_jobs()
    [created] = receiver.of_type("invoice.created")
    assert created.json["invoice"]["status"] == "finalized"
    assert created.json["invoice"]["lago_id"] == drafted.json["invoice"]["lago_id"]


def test_termination_sends_subscription_terminated_and_the_final_invoice(org, clock, receiver, run_jobs):
    clock.set("2026-09-01T00:00:00Z")
    _endpoint(org, receiver.url)
    monthly_plan(org.id)
    subscribe(org.id, "sub-1", at="2026-09-01T00:00:00Z")
    clock.set("2026-09-16T12:00:00Z")
    terminate_subscription(organization_id=org.id, external_id="sub-1")
    for _ in range(2):
        run_jobs()
    [terminated] = receiver.of_type("subscription.terminated")
    assert terminated.json["subscription"]["status"] == "terminated"
    assert terminated.json["subscription"]["terminated_at"] == "2026-09-16T12:00:00Z"
    [created] = receiver.of_type("invoice.created")
    assert created.json["invoice"]["billing_periods"][0]["invoicing_reason"] == "subscription_terminating"


def test_every_endpoint_gets_its_own_delivery(org, clock, receiver, run_jobs):
    _endpoint(org, receiver.url)
    _endpoint(org, receiver.url + "?second")
    monthly_plan(org.id)
    subscribe(org.id, "sub-1", at="2026-11-10T12:00:00Z")
    run_jobs()
    started = receiver.of_type("subscription.started")
    assert len(started) == 2
    assert len({r.headers["X-Lago-Unique-Key"] for r in started}) == 2
    assert started[0].raw == started[1].raw


def test_a_rolled_back_change_emits_nothing(org, clock, receiver, run_jobs):
    _endpoint(org, receiver.url)
    with pytest.raises(RuntimeError), unit_of_work() as uow:
        ids = webhooks.emit(uow.session, org.id, "invoice.created", "invoice", {"lago_id": "x"})
        assert len(ids) == 1  # written in the transaction...
        raise RuntimeError("the change fails after emitting")
    run_jobs()
    assert _deliveries() == []  # ...and gone with it, never requested, never sent
    assert receiver.requests == []

    # A real use case failing half-way: a subscription to an unknown plan (for a customer it would create)
    # reports nothing either.
    from billing.errors import NotFound
    from billing.lifecycle import create_subscription

    with pytest.raises(NotFound):
        create_subscription(organization_id=org.id, data={"external_customer_id": "cust-1", "plan_code": "startup",
                                                          "external_id": "sub-1"})
    run_jobs()
    assert _deliveries() == [] and receiver.requests == []


def test_a_failing_receiver_is_retried_with_back_off_and_every_attempt_is_logged(org, clock, receiver, run_jobs,
                                                                                   app):
    receiver.answers = [500]
    _endpoint(org, receiver.url)
    with unit_of_work() as uow:
        [delivery_id] = webhooks.emit(uow.session, org.id, "invoice.created", "invoice", {"lago_id": "inv-1"})
    run_jobs()
    [first] = _deliveries()
    assert first.status == "pending" and first.attempts == 1 and first.last_status_code == 500
    assert first.next_attempt_at == clock.now() + timedelta(seconds=30)

    # Not due yet: a sweep (or an early job) sends nothing.
    assert webhooks.deliver_due_webhooks() == 0
    assert webhooks.deliver_webhook(delivery_id=delivery_id) is None
    clock.set(clock.now() + timedelta(seconds=31))
    run_scheduled_now(app)  # RQ: the retry was scheduled 30 s ahead on Redis
    webhooks.deliver_due_webhooks()  # in process: the sweep asks for what is due
    run_jobs()

    [done] = _deliveries()
    assert done.status == "succeeded" and done.attempts == 2 and done.last_status_code == 200
    attempts = _attempts(delivery_id)
    assert [(a.number, a.status_code, a.succeeded) for a in attempts] == [(1, 500, False), (2, 200, True)]
    assert attempts[0].response_excerpt == "receiver broke: try again later" and attempts[0].duration_ms >= 0
    assert len(receiver.requests) == 2
    first_try, second_try = receiver.requests
    assert first_try.raw == second_try.raw  # the same bytes, the same signature, the same unique key
    assert first_try.headers["X-Lago-Unique-Key"] == second_try.headers["X-Lago-Unique-Key"] == delivery_id
    assert second_try.signed_with(webhooks.hmac_key(organization_id=org.id))


def test_a_delivery_fails_after_five_attempts(org, clock, receiver):
    receiver.answers = [503] * 10
    _endpoint(org, receiver.url)
    delivery_id = _emit_without_dispatch(org)
    waits = []
    for _ in range(webhooks.MAX_ATTEMPTS):
        result = webhooks.deliver_webhook(delivery_id=delivery_id)
        [delivery] = _deliveries()
        if delivery.next_attempt_at:
            waits.append(delivery.next_attempt_at - clock.now())
            clock.set(delivery.next_attempt_at)
    assert result.status == "failed" and result.attempt == 5
    assert waits == list(webhooks.BACKOFF)  # 30 s, 2 min, 15 min, 2 h
    [delivery] = _deliveries()
    assert delivery.status == "failed" and delivery.completed_at is not None
    assert [a.status_code for a in _attempts(delivery_id)] == [503] * 5
    clock.set(clock.now() + timedelta(days=1))
    assert webhooks.deliver_webhook(delivery_id=delivery_id) is None and len(receiver.requests) == 5


def test_an_unreachable_receiver_is_an_attempt_with_an_error(org, clock, allow_private_webhooks):
    _endpoint(org, "http://127.0.0.1:9/nobody-listens")
    delivery_id = _emit_without_dispatch(org)
    result = webhooks.deliver_webhook(delivery_id=delivery_id)
    assert result.status == "pending" and result.status_code is None
    [attempt] = _attempts(delivery_id)
    assert attempt.error.startswith("connection_error") and not attempt.succeeded


def test_rerunning_a_delivery_job_after_success_sends_nothing(org, clock, receiver, run_jobs, app):
    _endpoint(org, receiver.url)
    with unit_of_work() as uow:
        [delivery_id] = webhooks.emit(uow.session, org.id, "invoice.created", "invoice", {"lago_id": "inv-1"})
    run_jobs()
    assert len(receiver.requests) == 1
    # The same job again (a retry of a job killed after its work, a duplicate enqueue), and the sweeps.
    app.extensions["tally_dispatcher"].enqueue("deliver_webhook", job_id=f"webhook-{delivery_id}-1",
                                               delivery_id=delivery_id)
    run_jobs()
    assert webhooks.deliver_webhook(delivery_id=delivery_id) is None
    clock.set(clock.now() + timedelta(days=2))
    assert webhooks.deliver_due_webhooks() == 0
    run_billing_clock()
    run_jobs()
    assert len(receiver.requests) == 1
    assert len(_attempts(delivery_id)) == 1


def test_a_worker_killed_mid_request_leaves_the_delivery_to_be_taken_over_after_its_lease(org, clock, receiver,
                                                                                          run_jobs):
    _endpoint(org, receiver.url)
    delivery_id = _emit_without_dispatch(org)
    assert webhooks._claim(delivery_id) is not None  # a worker took it, then died before recording anything
    assert webhooks.deliver_webhook(delivery_id=delivery_id) is None  # in flight: nobody else sends it
    assert webhooks.deliver_due_webhooks() == 0
    clock.set(clock.now() + webhooks.LEASE)
    assert webhooks.deliver_due_webhooks() == 1  # the sweep asks a worker to take it over
    run_jobs()
    [delivery] = _deliveries()
    assert delivery.status == "succeeded" and delivery.attempts == 2
    assert [r.headers["X-Lago-Unique-Key"] for r in receiver.requests] == [delivery_id]


def test_deleting_an_endpoint_keeps_its_log_and_drops_what_was_not_sent(org, clock, receiver, run_jobs):
    receiver.answers = [500]
    endpoint_id = _endpoint(org, receiver.url)
    with unit_of_work() as uow:
        webhooks.emit(uow.session, org.id, "invoice.created", "invoice", {"lago_id": "inv-1"})
    run_jobs()
    webhooks.delete_webhook_endpoint(organization_id=org.id, endpoint_id=endpoint_id)
    [delivery] = _deliveries()
    assert delivery.status == "failed" and delivery.last_error == "endpoint_deleted"
    assert delivery.endpoint_id is None and delivery.webhook_url == receiver.url
    clock.set(clock.now() + timedelta(hours=1))
    assert webhooks.deliver_due_webhooks() == 0
    assert len(receiver.requests) == 1


def test_no_endpoint_no_delivery_and_no_payload_built(org, clock):
    built = []
    with unit_of_work() as uow:
        assert webhooks.emit(uow.session, org.id, "invoice.created", "invoice",
                             lambda: built.append(1) or {}) == []
    assert built == []
    with read_only() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_a_redirect_is_a_failed_attempt_not_followed(org, clock, receiver):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(302)
            self.send_header("Location", receiver.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _endpoint(org, f"http://127.0.0.1:{server.server_address[1]}/moved")
        delivery_id = _emit_without_dispatch(org)
        result = webhooks.deliver_webhook(delivery_id=delivery_id)
    finally:
        server.shutdown()
        server.server_close()
    assert result.status == "pending" and result.status_code == 302
    assert receiver.requests == []


def test_a_delivery_committed_but_never_requested_is_sent_by_the_clock(org, clock, receiver, run_jobs):
    """The process died between the commit and the enqueue: the outbox row is there, the clock sends it."""
    _endpoint(org, receiver.url)
    delivery_id = _emit_without_dispatch(org)
    run_jobs()
    assert receiver.requests == []
    assert run_billing_clock().webhooks_requested == 1
    run_jobs()
    [received] = receiver.requests
    assert received.headers["X-Lago-Unique-Key"] == delivery_id
    assert _deliveries()[0].status == "succeeded"
