"""Payments through Stripe end to end: localstripe as a real HTTP server (tests/servers/stripe.py), the official
SDK, Tally served over HTTP receiving localstripe's own signed webhooks, the real SMTP sink, real RQ workers
when Redis is configured.

The same rules with the in-memory provider are in tests/integration/test_payment_core.py.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import stripe
from lago_python_client.models import AddOn, CreditNote, Customer, OneOffInvoice, WebhookEndpoint
from lago_python_client.models.credit_note import Item, Items
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import select

from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.db import read_only
from billing.invoicing.models import CreditNote as CreditNoteRow
from billing.invoicing.models import Invoice
from billing.payments import collection, customers, providers
from billing.payments.interface import RefundStatus
from billing.payments.models import Payment, PaymentReceipt, Refund
from billing.payments.stripe import StripeProvider
from billing.webhooks.models import WebhookDelivery
from tests.integration.provider_walk import applied_counts, wait_for
from tests.servers import stripe as localstripe_server
from tests.unit.test_payment_provider_contract import stripe_signed

pytestmark = pytest.mark.usefixtures("allow_private_webhooks")

WEBHOOK_SECRET = "whsec_e2e_0123456789"  # noqa: S105 (a test's signing secret)
CODE = "stripe_test"
ROOT = Path(__file__).resolve().parents[2]
_keys = itertools.count(1)


@dataclass(frozen=True)
class Stripe:
    org_id: str
    customer: CustomerRow
    secret_key: str
    base_url: str

    def card(self, number: str):
        """A card entered in the browser (Stripe.js's createPaymentMethod), then saved by Tally."""
        browser = stripe.StripeClient(self.secret_key, base_addresses={"api": self.base_url})
        method = browser.v1.payment_methods.create(params={
            "type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
        return customers.save_new_method(organization_id=self.org_id, customer_id=self.customer.id,
                                         provider_method_id=method.id)

    def intents(self, invoice_id: str) -> list[dict]:
        """The PaymentIntents localstripe holds for an invoice (Tally puts its ids in their metadata)."""
        found, params = [], {"limit": "100"}
        while True:
            page = localstripe_server.get(self.base_url, "/v1/payment_intents", params, key=self.secret_key)
            found += page["data"]
            if not page["has_more"]:
                break
            params["starting_after"] = page["data"][-1]["id"]
        return [i for i in found if (i.get("metadata") or {}).get("tally_invoice_id") == invoice_id]

    def events_of(self, payment_intent_id: str) -> list[dict]:
        page = localstripe_server.get(self.base_url, "/v1/events", {"limit": "100"}, key=self.secret_key)
        return [e for e in page["data"] if e["data"]["object"].get("id") == payment_intent_id]


def _register(base_url: str, url: str) -> None:
    localstripe_server.register_webhook(base_url, url, WEBHOOK_SECRET, webhook_id="tally-e2e")


@pytest.fixture
def connected(org, lago, live_server, localstripe, run_jobs, smtp):
    secret_key = f"sk_test_e2e_{next(_keys)}_{org.id[:8]}"
    providers.connect_provider(organization_id=org.id, kind="stripe", code=CODE,
                               settings={"secret_key": secret_key, "webhook_secret": WEBHOOK_SECRET,
                                         "api_base": localstripe, "publishable_key": "pk_test_e2e"})
    # localstripe's own signed events, posted to Tally's route as Stripe would post them.
    _register(localstripe, f"{live_server}/webhooks/stripe/{org.id}?code={CODE}")
    lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="http://127.0.0.1:9/hooks"))
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", name="Acme", email="billing@acme.test", currency="EUR",
                                   billing_configuration={"payment_provider": "stripe",
                                                          "payment_provider_code": CODE,
                                                          "sync_with_provider": True}))
    run_jobs()
    with read_only() as session:
        customer = session.scalar(select(CustomerRow).where(CustomerRow.external_id == "acme"))
    yield Stripe(org.id, customer, secret_key, localstripe)
    # localstripe cannot forget a webhook: point this one at events that never come.
    localstripe_server.register_webhook(localstripe, "http://127.0.0.1:9/", WEBHOOK_SECRET, webhook_id="tally-e2e",
                                        events=["tally.never"])


def _invoice(lago, amount_cents: int = 12_000):
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=amount_cents)])
    return lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency="EUR", fees=fees))


def _invoice_row(invoice_id: str) -> Invoice:
    with read_only() as session:
        return session.get(Invoice, invoice_id)


def _payments(invoice_id: str) -> list[Payment]:
    with read_only() as session:
        return list(session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)
                                    .order_by(Payment.created_at)))


def _webhooks(webhook_type: str) -> list[dict]:
    with read_only() as session:
        return [json.loads(d.body) for d in session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.webhook_type == webhook_type).order_by(WebhookDelivery.created_at))]


def _received(connected: Stripe, payment_intent_id: str, event_type: str) -> dict:
    """Wait until localstripe has posted its event of this type for the PaymentIntent and Tally recorded it."""
    def arrived():
        events = [e for e in connected.events_of(payment_intent_id) if e["type"] == event_type]
        return events[0] if events and applied_counts([events[0]["id"]]) else None

    return wait_for(arrived)


def _mails(smtp, start: str) -> list:
    return [m for m in smtp.parsed() if " ".join(m["Subject"].split()).startswith(start)]


def test_a_synced_customer_is_created_at_stripe_and_reported(connected):
    customer_id = connected.customer.payment_provider_customer_id
    assert customer_id.startswith("cus_")
    stored = localstripe_server.get(connected.base_url, f"/v1/customers/{customer_id}", key=connected.secret_key)
    assert stored["metadata"]["tally_customer_id"] == connected.customer.id
    assert (stored["name"], stored["email"]) == ("Acme", "billing@acme.test")
    [created] = _webhooks("customer.payment_provider_created")
    assert created["customer"]["billing_configuration"]["provider_customer_id"] == customer_id


def test_a_finalized_invoice_is_charged_through_stripe_and_receipted(connected, lago, run_jobs, smtp, live_server):
    card = connected.card("4242424242424242")
    assert (card.brand, card.last4, card.is_default) == ("visa", "4242", True)
    invoice = _invoice(lago)
    run_jobs()
    row = _invoice_row(invoice.lago_id)
    assert (row.payment_status, row.total_paid_amount_cents, row.total_due_amount_cents) == ("succeeded", 12_000, 0)
    [payment] = _payments(invoice.lago_id)
    [intent] = connected.intents(invoice.lago_id)
    assert (payment.status, payment.provider_payment_id) == ("succeeded", intent["id"])
    assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", 12_000, "eur")
    assert intent["metadata"]["tally_payment_id"] == payment.id

    run_jobs()  # the email jobs
    [receipt_mail] = _mails(smtp, "Receipt ")
    with read_only() as session:
        receipt = session.scalar(select(PaymentReceipt).where(PaymentReceipt.payment_id == payment.id))
    body = receipt_mail.get_body(("plain",)).get_content()
    assert receipt.number in body and invoice.number in body and "Visa •••• 4242" in body

    # localstripe's payment_intent.succeeded reaches Tally's route, verified; it changes nothing more (the
    # job applied the answer first), and sent again (Stripe retries) it is a duplicate.
    event = _received(connected, intent["id"], "payment_intent.succeeded")
    body = json.dumps(event).encode()
    again = httpx.post(f"{live_server}/webhooks/stripe/{connected.org_id}?code={CODE}", content=body,
                       headers=stripe_signed(body, WEBHOOK_SECRET))
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert applied_counts([event["id"]]) == {event["id"]: 1}
    assert [p.status for p in _payments(invoice.lago_id)] == ["succeeded"]
    assert len(_mails(smtp, "Receipt ")) == 1


def test_a_declined_charge_fails_mails_a_pay_link_and_a_forged_event_changes_nothing(connected, lago, run_jobs,
                                                                                     smtp, live_server):
    connected.card("4000000000000341")  # attached, declined at each charge
    invoice = _invoice(lago)
    run_jobs()
    [payment] = _payments(invoice.lago_id)
    [intent] = connected.intents(invoice.lago_id)
    assert (payment.status, payment.provider_payment_id, payment.error_code) == ("failed", intent["id"],
                                                                                 "card_declined")
    assert _invoice_row(invoice.lago_id).payment_status == "failed"
    [failure] = _webhooks("invoice.payment_failure")
    error = failure["payment_provider_invoice_payment_error"]
    assert (error["lago_invoice_id"], error["payment_provider"], error["provider_error"]["error_code"]) == (
        invoice.lago_id, "stripe", "card_declined")
    run_jobs()
    [mail] = _mails(smtp, "Your payment of €120.00")
    [link] = [line for line in mail.get_body(("plain",)).get_content().splitlines() if "/pay/" in line]
    assert links.verify(link.rsplit("/pay/", 1)[1], purpose="pay_invoice").subject == invoice.lago_id

    # Stripe's own payment_failed event arrives and is applied once; a forged "succeeded" is refused.
    failed_event = _received(connected, intent["id"], "payment_intent.payment_failed")
    forged = json.dumps({**failed_event, "id": "evt_forged", "type": "payment_intent.succeeded",
                         "data": {"object": {**failed_event["data"]["object"], "status": "succeeded"}}}).encode()
    refused = httpx.post(f"{live_server}/webhooks/stripe/{connected.org_id}?code={CODE}", content=forged,
                         headers=stripe_signed(forged, "whsec_someone_else"))
    assert refused.status_code == 400
    assert applied_counts(["evt_forged"]) == {}
    assert [p.status for p in _payments(invoice.lago_id)] == ["failed"]
    row = _invoice_row(invoice.lago_id)
    assert (row.payment_status, row.total_paid_amount_cents) == ("failed", 0)


def test_an_off_session_charge_needing_authentication_is_finished_by_the_customer(connected, lago, run_jobs, smtp,
                                                                                  live_server):
    # Stripe's 4000002760003184 always asks for 3-D Secure: off-session, Stripe declines it
    # (authentication_required); Tally asks the customer to confirm on its pay page.
    card = connected.card("4000002760003184")
    invoice = _invoice(lago)
    run_jobs()
    [waiting] = _payments(invoice.lago_id)
    [intent] = connected.intents(invoice.lago_id)
    assert (waiting.status, waiting.error_code, intent["status"]) == ("requires_action", "authentication_required",
                                                                      "requires_payment_method")
    assert waiting.next_action_url.startswith(f"{live_server}/pay/")
    assert links.verify(waiting.next_action_url.rsplit("/pay/", 1)[1], purpose="pay_invoice").subject == \
        invoice.lago_id
    [action] = _webhooks("payment.requires_action")
    assert (action["payment"]["lago_payable_id"], action["payment"]["provider_payment_id"]) == (invoice.lago_id,
                                                                                               intent["id"])
    run_jobs()
    [mail] = _mails(smtp, "Please confirm your payment")
    assert waiting.next_action_url.split("/pay/")[0] in mail.get_body(("plain",)).get_content()
    # Stripe's payment_failed event for it arrives too: it is the same answer, nothing moves.
    _received(connected, intent["id"], "payment_intent.payment_failed")
    assert [p.status for p in _payments(invoice.lago_id)] == ["requires_action"]
    # The job again (a retry): the customer must act, nothing is charged off-session.
    assert collection.collect_invoice(organization_id=connected.org_id,
                                      invoice_id=invoice.lago_id).reason == "payment_in_progress"

    # On the pay page, on-session: Stripe asks for 3-D Secure, the customer completes it on the bank's page.
    attempt = collection.pay_invoice(organization_id=connected.org_id, invoice_id=invoice.lago_id,
                                     customer_id=connected.customer.id, method_id=card.id,
                                     return_url=f"{live_server}/pay/back")
    assert attempt.status == "requires_action" and attempt.next_action_url.startswith(connected.base_url)
    secret = urllib.parse.parse_qs(urllib.parse.urlsplit(attempt.next_action_url).query)["client_secret"][0]
    completed = httpx.post(attempt.next_action_url, data={"client_secret": secret, "success": "true"})
    assert completed.status_code == 303
    # Only Stripe's webhook tells Tally: localstripe posts it to the route, which applies it.
    on_session = _payments(invoice.lago_id)[-1]
    _received(connected, on_session.provider_payment_id, "payment_intent.succeeded")
    assert [p.status for p in _payments(invoice.lago_id)] == ["failed", "succeeded"]
    assert _invoice_row(invoice.lago_id).payment_status == "succeeded"
    run_jobs()
    assert len(_mails(smtp, "Receipt ")) == 1 and len(_mails(smtp, "Please confirm")) == 1


def test_a_credit_note_is_refunded_through_stripe(connected, lago, run_jobs):
    connected.card("4242424242424242")
    invoice = _invoice(lago)
    run_jobs()
    [intent] = connected.intents(invoice.lago_id)
    fee_id = lago.invoices.find(invoice.lago_id).fees.__root__[0].lago_id
    note = lago.credit_notes.create(CreditNote(invoice_id=invoice.lago_id, reason="other", refund_amount_cents=3_000,
                                               credit_amount_cents=0,
                                               items=Items(__root__=[Item(fee_id=fee_id, amount_cents=3_000)])))
    run_jobs()
    with read_only() as session:
        assert session.get(CreditNoteRow, note.lago_id).refund_status == "succeeded"
    refunds = localstripe_server.get(connected.base_url, "/v1/refunds", {"limit": "100"}, key=connected.secret_key)
    mine = [r for r in refunds["data"] if r.get("payment_intent") == intent["id"]
            or r.get("charge") == intent.get("latest_charge")]
    assert [r["amount"] for r in mine] == [3_000]
    assert lago.credit_notes.find(note.lago_id).refund_status == "succeeded"


def test_a_refund_event_that_overtakes_the_jobs_write_still_settles_it(connected, lago, run_jobs, live_server,
                                                                       monkeypatch):
    """Stripe answers a refund `pending` (bank debits, some cards) and tells its end by refund.updated, which can be
    applied before the job has written the refund's id: it is found by the metadata Tally sent (tally_refund_id)
    and settles the refund once; the job's later "pending" changes nothing."""
    connected.card("4242424242424242")
    invoice = _invoice(lago)
    run_jobs()
    asked = StripeProvider.refund
    delivered = []

    def pending_after_the_event(self, request):
        result = asked(self, request)
        refund = localstripe_server.get(connected.base_url, f"/v1/refunds/{result.refund_id}", {},
                                        key=connected.secret_key)
        event = {"id": f"evt_refund_{result.refund_id}", "object": "event", "type": "refund.updated",
                 "created": int(datetime.now(UTC).timestamp()), "data": {"object": {**refund, "status": "succeeded"}}}
        body = json.dumps(event).encode()
        answer = httpx.post(f"{live_server}/webhooks/stripe/{connected.org_id}?code={CODE}", content=body,
                            headers=stripe_signed(body, WEBHOOK_SECRET))
        delivered.append(answer.json())
        return dataclasses.replace(result, status=RefundStatus.PENDING)

    monkeypatch.setattr(StripeProvider, "refund", pending_after_the_event)
    fee_id = lago.invoices.find(invoice.lago_id).fees.__root__[0].lago_id
    note = lago.credit_notes.create(CreditNote(invoice_id=invoice.lago_id, reason="other", refund_amount_cents=3_000,
                                               credit_amount_cents=0,
                                               items=Items(__root__=[Item(fee_id=fee_id, amount_cents=3_000)])))
    run_jobs()
    assert [answer["outcome"] for answer in delivered] == ["applied"]
    with read_only() as session:
        [refund] = session.scalars(select(Refund).where(Refund.credit_note_id == note.lago_id)).all()
        assert refund.status == "succeeded" and refund.provider_refund_id.startswith("re_")
        assert session.get(CreditNoteRow, note.lago_id).refund_status == "succeeded"


def test_a_job_dying_after_stripe_answered_never_charges_twice(connected, lago, run_jobs, monkeypatch, clock):
    invoice = _invoice(lago)
    run_jobs()  # no saved card yet: nothing charged
    connected.card("4242424242424242")
    with monkeypatch.context() as patched:
        def killed(*_args, **_kwargs):
            raise SystemExit("worker killed between Stripe's answer and Tally's write")
        patched.setattr(collection, "_finish", killed)
        with pytest.raises(SystemExit):
            collection.collect_invoice(organization_id=connected.org_id, invoice_id=invoice.lago_id)
    [pending] = _payments(invoice.lago_id)
    assert (pending.status, pending.provider_payment_id) == ("pending", None)
    assert len(connected.intents(invoice.lago_id)) == 1  # Stripe took the money once
    # Ten minutes later the stalled-payment sweep asks for the job again: the same key, Stripe's first answer.
    clock.set(clock.now() + timedelta(minutes=11))
    assert collection.ask_stalled_collections() == 1
    run_jobs()
    [intent] = connected.intents(invoice.lago_id)
    [payment] = _payments(invoice.lago_id)
    assert (payment.id, payment.status, payment.provider_payment_id) == (pending.id, "succeeded", intent["id"])
    assert _invoice_row(invoice.lago_id).total_paid_amount_cents == 12_000


class _Holding(BaseHTTPRequestHandler):
    """A proxy in front of localstripe that, while `hold` is set, lets a PaymentIntent's creation reach Stripe
    and keeps its answer from the caller: what a worker killed at that moment would have missed."""

    target = ""
    hold = threading.Event()
    answered = threading.Event()
    release = threading.Event()

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(f"{self.target}{self.path}", data=body, headers=headers,
                                         method=self.command)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (localstripe)
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
        if self.command == "POST" and self.path.startswith("/v1/payment_intents") and self.hold.is_set():
            self.answered.set()
            self.release.wait(60)  # the caller is killed meanwhile; its connection goes with it
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_DELETE = _forward  # noqa: N815 (http.server's names)

    def log_message(self, *args):
        pass


def _worker_env(settings) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
            "SECRET_KEY": settings.secret_key, "TALLY_FILES_PATH": str(settings.files_path),
            "TALLY_INSTANCE_PATH": str(settings.instance_path), "TALLY_INVOICE_PDFS": "0",
            "TALLY_BASE_URL": settings.base_url}


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: a real RQ worker process to kill")
def test_a_worker_killed_between_stripes_answer_and_tallys_write_never_charges_twice(connected, lago, run_jobs,
                                                                                    settings, clock):
    handler = type("Holding", (_Holding,), {"target": connected.base_url, "hold": threading.Event(),
                                            "answered": threading.Event(), "release": threading.Event()})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    worker = None
    try:
        providers.connect_provider(organization_id=connected.org_id, kind="stripe", code=CODE,
                                   settings={"api_base": f"http://127.0.0.1:{proxy.server_port}"})
        connected.card("4242424242424242")
        handler.hold.set()
        invoice = _invoice(lago)  # its collection job waits in Redis for a worker
        command = [str(Path(sys.executable).with_name("rq")), "worker", "-w", "jobs.worker.TallyWorker",
                   "--url", settings.redis_url, "--burst", "default"]
        worker = subprocess.Popen(command, env=_worker_env(settings), cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        assert handler.answered.wait(120), "the worker never reached Stripe"
        os.kill(worker.pid, signal.SIGKILL)  # Stripe has charged; Tally has not written it
        worker.wait(timeout=10)
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        handler.hold.clear()
        handler.release.set()
    try:
        [pending] = _payments(invoice.lago_id)
        assert (pending.status, pending.provider_payment_id) == ("pending", None)
        assert len(connected.intents(invoice.lago_id)) == 1
        # Ten minutes later the stalled-payment sweep asks again: the same idempotency key, Stripe's first answer.
        clock.set(datetime.now(UTC) + timedelta(minutes=11))  # the worker wrote the row at real time
        assert collection.ask_stalled_collections() == 1
        run_jobs()
        [intent] = connected.intents(invoice.lago_id)
        [payment] = _payments(invoice.lago_id)
        assert (payment.id, payment.status, payment.provider_payment_id) == (pending.id, "succeeded", intent["id"])
        assert _invoice_row(invoice.lago_id).payment_status == "succeeded"
    finally:
        proxy.shutdown()
        proxy.server_close()
