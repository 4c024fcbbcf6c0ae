"""`jwt` webhooks end to end: a receiver on 127.0.0.1 verifies each request's `X-Lago-Signature` JWT with
the public key it fetched from the API (the official client's `webhooks.public_key()`), as Lago's docs
tell integrators to, and refuses a tampered body or token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from lago_python_client.models import AddOn, Customer, OneOffInvoice, WebhookEndpoint
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import select

from billing import ports
from billing.db import read_only
from billing.organizations.models import Organization
from billing.organizations.services import create_organization
from billing.webhooks import services as webhooks
from billing.webhooks.models import WebhookDelivery


@dataclass
class Verified:
    headers: dict[str, str]
    raw: bytes
    ok: bool
    reason: str


@dataclass
class JwtReceiver:
    """An integrator's endpoint: 200 for a webhook whose JWT verifies and carries this very body, else 401."""

    url: str
    issuer: str
    public_key: bytes | None = None
    hmac_key: str | None = None
    received: list[Verified] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def invoice_webhooks(self) -> list[Verified]:
        """What was received about invoices (creating their customers sends customer.created too)."""
        with self.lock:
            return [r for r in self.received if json.loads(r.raw)["object_type"] == "invoice"]

    def verify(self, headers: dict[str, str], raw: bytes) -> tuple[bool, str]:
        signature = headers.get("X-Lago-Signature", "")
        if headers.get("X-Lago-Signature-Algorithm") == "hmac":
            expected = base64.b64encode(hmac.new((self.hmac_key or "").encode(), raw, hashlib.sha256).digest())
            return hmac.compare_digest(expected.decode(), signature), "hmac"
        try:
            claims = jwt.decode(signature, self.public_key, algorithms=["RS256"], issuer=self.issuer)
        except jwt.InvalidTokenError as error:
            return False, type(error).__name__
        if not hmac.compare_digest(claims["data"].encode(), raw):
            return False, "body_does_not_match"
        return True, "verified"


@pytest.fixture
def jwt_receiver(live_server, allow_private_webhooks) -> Iterator[JwtReceiver]:
    state: dict[str, JwtReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            target = state["receiver"]
            headers = dict(self.headers.items())
            ok, reason = target.verify(headers, raw)
            with target.lock:
                target.received.append(Verified(headers, raw, ok, reason))
            answer = reason.encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = JwtReceiver(url=f"http://127.0.0.1:{server.server_address[1]}/lago", issuer=live_server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


def _one_off_invoice(lago, customer: str) -> str:
    lago.customers.create(Customer(external_id=customer, currency="EUR"))
    invoice = lago.invoices.create(OneOffInvoice(external_customer_id=customer, fees=InvoiceFeesList(
        __root__=[InvoiceFee(add_on_code="setup", units=2)])))
    return invoice.lago_id


def _deliveries(webhook_type: str) -> list[WebhookDelivery]:
    with read_only() as session:
        return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_type == webhook_type)
                                    .order_by(WebhookDelivery.created_at)))


def test_a_jwt_webhook_verifies_with_the_public_key_from_the_api(lago, org, clock, run_jobs, jwt_receiver):
    endpoint = lago.webhook_endpoints.create(WebhookEndpoint(webhook_url=jwt_receiver.url, signature_algo="jwt"))
    assert endpoint.signature_algo == "jwt"
    # The integrator fetches the public key once, with the official client (Lago's docs).
    jwt_receiver.public_key = lago.webhooks.public_key()
    assert jwt_receiver.public_key.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert lago.webhooks.public_key() == jwt_receiver.public_key  # made once, then the same
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=5000, amount_currency="EUR"))
    invoice_id = _one_off_invoice(lago, "acme")
    run_jobs()

    (received,) = jwt_receiver.invoice_webhooks
    assert (received.ok, received.reason) == (True, "verified")
    assert received.headers["X-Lago-Signature-Algorithm"] == "jwt"
    assert json.loads(received.raw)["invoice"]["lago_id"] == invoice_id
    (delivery,) = _deliveries("invoice.one_off_created")
    assert (delivery.status, delivery.last_status_code) == ("succeeded", 200)
    assert received.headers["X-Lago-Unique-Key"] == delivery.id
    claims = jwt.decode(received.headers["X-Lago-Signature"], jwt_receiver.public_key, algorithms=["RS256"],
                        issuer=jwt_receiver.issuer)
    assert set(claims) == {"data", "iss"} and claims["iss"] == jwt_receiver.issuer

    # The receiver refuses a tampered body (the signature does not carry it), a tampered token and a token
    # signed for another body; the untouched request still verifies.
    headers = {k: v for k, v in received.headers.items() if k in (
        "Content-Type", "X-Lago-Signature", "X-Lago-Signature-Algorithm", "X-Lago-Unique-Key")}
    tampered = received.raw.replace(b'"total_amount_cents":10000', b'"total_amount_cents":1')
    assert tampered != received.raw
    refused = httpx.post(jwt_receiver.url, content=tampered, headers=headers)
    assert (refused.status_code, refused.text) == (401, "body_does_not_match")
    token = headers["X-Lago-Signature"]
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    refused = httpx.post(jwt_receiver.url, content=received.raw, headers={**headers, "X-Lago-Signature": forged})
    assert (refused.status_code, refused.text) == (401, "InvalidSignatureError")
    replayed = httpx.post(jwt_receiver.url, content=received.raw, headers=headers)
    assert (replayed.status_code, replayed.text) == (200, "verified")


def test_each_organization_has_its_own_key_stored_encrypted(live_server, lago, org, clock):
    pem = lago.webhooks.public_key()
    other = create_organization(name="Globex", default_currency="EUR")
    auth = {"Authorization": f"Bearer {other.api_key}"}
    other_json = httpx.get(f"{live_server}/api/v1/webhooks/json_public_key", headers=auth)
    assert other_json.status_code == 200
    other_pem = base64.b64decode(other_json.json()["webhook"]["public_key"])
    assert other_pem.startswith(b"-----BEGIN PUBLIC KEY-----") and other_pem != pem
    # Lago's deprecated form: the base64 text alone.
    plain = httpx.get(f"{live_server}/api/v1/webhooks/public_key", headers=auth)
    assert base64.b64decode(plain.text) == other_pem
    assert httpx.get(f"{live_server}/api/v1/webhooks/json_public_key").status_code == 401

    with read_only() as session:
        stored = session.get(Organization, org.id)
        assert stored.webhook_jwt_public_key.encode() == pem
        assert stored.webhook_jwt_private_key.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    # A JWT made with one organization's key does not verify with another's.
    body = b'{"webhook_type":"invoice.created"}'
    with read_only() as session:
        private = webhooks._jwt_key(session, org.id)
    from billing.webhooks.signing import jwt_signature

    token = jwt_signature(body, private)
    assert jwt.decode(token, pem, algorithms=["RS256"], issuer=live_server)["data"] == body.decode()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other_pem, algorithms=["RS256"], issuer=live_server)


def test_switching_algorithms_and_a_new_secret_key(lago, org, clock, run_jobs, jwt_receiver):
    endpoint = lago.webhook_endpoints.create(WebhookEndpoint(webhook_url=jwt_receiver.url))
    assert endpoint.signature_algo == "hmac"  # Tally's default (docs/webhooks.md)
    jwt_receiver.hmac_key = webhooks.hmac_key(organization_id=org.id)
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=5000, amount_currency="EUR"))
    _one_off_invoice(lago, "first")
    run_jobs()
    assert [(r.headers["X-Lago-Signature-Algorithm"], r.ok) for r in jwt_receiver.invoice_webhooks] == [("hmac", True)]

    switched = lago.webhook_endpoints.update(WebhookEndpoint(signature_algo="jwt"), endpoint.lago_id)
    assert switched.signature_algo == "jwt"
    jwt_receiver.public_key = lago.webhooks.public_key()
    _one_off_invoice(lago, "second")
    run_jobs()
    signed = [(r.headers["X-Lago-Signature-Algorithm"], r.ok) for r in jwt_receiver.invoice_webhooks]
    assert signed[1:] == [("jwt", True)]

    # The server's SECRET_KEY changes: the stored private key no longer opens, a new pair is made; webhooks
    # signed with it verify with the new public key only.
    old_key = jwt_receiver.public_key
    previous = ports.runtime.secret_key
    ports.configure(secret_key="another-secret-key-for-this-test")
    try:
        _one_off_invoice(lago, "third")
        run_jobs()
        assert jwt_receiver.invoice_webhooks[-1].ok is False
        assert jwt_receiver.invoice_webhooks[-1].reason == "InvalidSignatureError"
        new_key = lago.webhooks.public_key()
        assert new_key != old_key
        jwt_receiver.public_key = new_key
        last = jwt_receiver.invoice_webhooks[-1]
        assert jwt_receiver.verify(last.headers, last.raw) == (True, "verified")
    finally:
        ports.configure(secret_key=previous)
