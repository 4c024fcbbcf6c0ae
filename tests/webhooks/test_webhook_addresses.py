"""Webhooks never reach the server's own networks by default: refused when the endpoint is saved (422,
nothing saved) and again at every attempt, on the addresses actually connected to; redirects not followed.

Every connection stays on 127.0.0.1: names are mapped to it by the test's resolver (`addresses.resolve`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.webhook_endpoint import WebhookEndpoint

from billing.ports import runtime
from billing.webhooks import addresses
from billing.webhooks import services as webhooks
from tests.webhooks.test_webhooks import _attempts, _deliveries, _emit_without_dispatch

PUBLIC = "93.184.216.34"  # never connected to: the tests re-point names before any attempt


@pytest.fixture
def resolver(monkeypatch) -> dict[str, list[str]]:
    """Names the test decides the addresses of (each lookup is counted under "<name>:lookups")."""
    names: dict[str, list[str]] = {}
    real = addresses.resolve

    def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            return real(host, port)
        names.setdefault(f"{host}:lookups", []).append("x")
        return list(names[host])

    monkeypatch.setattr(addresses, "resolve", resolve)
    return names


def _refused_at_the_api(lago, url: str) -> dict:
    with pytest.raises(LagoApiError) as refused:
        lago.webhook_endpoints.create(WebhookEndpoint(webhook_url=url))
    assert refused.value.status_code == 422
    return refused.value.response


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8125/internal",
    "http://localhost:8125/internal",
    "http://[::1]:8125/internal",
    "http://[::ffff:127.0.0.1]:8125/internal",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hooks",
    "http://192.168.1.10/hooks",
    "http://2130706433:8125/internal",
])
def test_the_api_refuses_an_endpoint_on_a_private_network_and_saves_nothing(lago, org, clock, url):
    answer = _refused_at_the_api(lago, url)
    assert answer["code"] == "validation_errors"
    assert answer["error_details"] == {"webhook_url": ["address_not_allowed"]}
    assert lago.webhook_endpoints.find_all()["meta"]["total_count"] == 0


def test_a_name_resolving_to_a_private_address_is_refused_and_an_update_too(lago, org, clock, resolver):
    resolver["hooks.tally.test"] = [PUBLIC]
    resolver["inside.tally.test"] = [PUBLIC, "10.0.0.7"]  # one of its addresses is private: refused
    created = lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="https://hooks.tally.test/lago"))
    assert _refused_at_the_api(lago, "https://inside.tally.test/lago")["error_details"] == {
        "webhook_url": ["address_not_allowed"]}

    with pytest.raises(LagoApiError) as refused:
        lago.webhook_endpoints.update(WebhookEndpoint(webhook_url="http://127.0.0.1:8125/internal"), created.lago_id)
    assert refused.value.status_code == 422
    assert lago.webhook_endpoints.find(created.lago_id).webhook_url == "https://hooks.tally.test/lago"


def test_an_operator_may_allow_private_networks(lago, org, clock, allow_private_webhooks):
    created = lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="http://127.0.0.1:8125/internal"))
    assert created.webhook_url == "http://127.0.0.1:8125/internal"


def test_a_name_re_pointed_to_loopback_after_it_was_saved_is_refused_at_send_time(org, clock, receiver, resolver,
                                                                                   monkeypatch):
    port = receiver.url.split(":")[2].split("/")[0]
    resolver["hooks.tally.test"] = [PUBLIC]
    monkeypatch.setattr(runtime, "webhook_allow_private_networks", False)  # the default, whatever the receiver
    webhooks.create_webhook_endpoint(organization_id=org.id,
                                     data={"webhook_url": f"http://hooks.tally.test:{port}/hooks/tally"})
    resolver["hooks.tally.test"] = ["127.0.0.1"]  # the receiver's address, now
    delivery_id = _emit_without_dispatch(org)

    result = webhooks.deliver_webhook(delivery_id=delivery_id)

    assert receiver.requests == []
    assert result.status == "failed" and result.status_code is None  # refused for good: not retried
    [attempt] = _attempts(delivery_id)
    assert attempt.error == "address_not_allowed: hooks.tally.test (127.0.0.1) is not a public address"
    assert not attempt.succeeded and attempt.response_excerpt is None
    [delivery] = _deliveries()
    assert delivery.status == "failed" and delivery.next_attempt_at is None


def test_an_endpoint_saved_while_allowed_is_refused_once_the_flag_is_off(org, clock, receiver, monkeypatch):
    localhost_url = receiver.url.replace("127.0.0.1", "localhost")  # the system's resolver, not the test's
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": localhost_url})
    monkeypatch.setattr(runtime, "webhook_allow_private_networks", False)
    delivery_id = _emit_without_dispatch(org)

    assert webhooks.deliver_webhook(delivery_id=delivery_id).status == "failed"
    assert receiver.requests == []
    assert _attempts(delivery_id)[0].error.startswith("address_not_allowed: localhost (127.0.0.1)")


def test_the_connection_goes_to_the_checked_address_with_one_lookup_and_names_the_host(org, clock, receiver,
                                                                                      resolver):
    port = receiver.url.split(":")[2].split("/")[0]
    resolver["hooks.tally.test"] = ["127.0.0.1"]  # allowed here (the receiver fixture allows private networks)
    webhooks.create_webhook_endpoint(organization_id=org.id,
                                     data={"webhook_url": f"http://hooks.tally.test:{port}/hooks/tally"})
    lookups_before = len(resolver.get("hooks.tally.test:lookups", []))
    delivery_id = _emit_without_dispatch(org)

    assert webhooks.deliver_webhook(delivery_id=delivery_id).status == "succeeded"
    # The system's resolver does not know the name: the connection was made to the address checked.
    assert len(resolver["hooks.tally.test:lookups"]) == lookups_before + 1
    [request] = receiver.requests
    assert request.headers["Host"] == f"hooks.tally.test:{port}"


@pytest.fixture
def redirecting() -> Iterator[str]:
    """A server answering every POST with a 302 to an internal address, and a body that must not be shown."""

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"internal secret: db password"
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/moved"
    server.shutdown()
    server.server_close()


def test_a_redirect_is_a_failed_attempt_whose_body_is_not_kept(org, clock, allow_private_webhooks, redirecting):
    webhooks.create_webhook_endpoint(organization_id=org.id, data={"webhook_url": redirecting})
    delivery_id = _emit_without_dispatch(org)

    result = webhooks.deliver_webhook(delivery_id=delivery_id)

    assert result.status == "pending" and result.status_code == 302  # retried later, like any failure
    [attempt] = _attempts(delivery_id)
    assert attempt.error == "redirect_not_followed" and attempt.response_excerpt is None


# ---------------------------------------------------------------- TLS: pinned address, checked name


def _self_signed(tmp_path, name: str):
    """A certificate for `name` (its own issuer) and its key, as PEM files."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch) -> Iterator[dict]:
    """An HTTPS receiver on 127.0.0.1 serving a certificate for hooks.tally.test, trusted by this process."""
    import ssl

    cert, key = _self_signed(tmp_path, "hooks.tally.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the default context's trust store, for this test
    seen: dict = {"server_names": [], "hosts": []}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, server_name, ctx: seen["server_names"].append(server_name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen["hosts"].append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen["port"] = server.server_address[1]
    yield seen
    server.shutdown()
    server.server_close()


def test_https_connects_to_the_checked_address_and_verifies_the_certificate_for_the_name(
        org, clock, allow_private_webhooks, resolver, tls_receiver):
    port = tls_receiver["port"]
    resolver["hooks.tally.test"] = ["127.0.0.1"]
    resolver["other.tally.test"] = ["127.0.0.1"]  # the same server, whose certificate does not name it
    webhooks.create_webhook_endpoint(organization_id=org.id,
                                     data={"webhook_url": f"https://hooks.tally.test:{port}/lago"})
    delivery_id = _emit_without_dispatch(org)
    assert webhooks.deliver_webhook(delivery_id=delivery_id).status == "succeeded"
    assert tls_receiver["server_names"] == ["hooks.tally.test"]  # SNI: the name, not the address
    assert tls_receiver["hosts"] == [f"hooks.tally.test:{port}"]

    webhooks.delete_webhook_endpoint(organization_id=org.id, endpoint_id=webhooks.list_webhook_endpoints(
        organization_id=org.id).items[0].id)
    webhooks.create_webhook_endpoint(organization_id=org.id,
                                     data={"webhook_url": f"https://other.tally.test:{port}/lago"})
    refused = _emit_without_dispatch(org)
    assert webhooks.deliver_webhook(delivery_id=refused).status == "pending"
    assert "CERTIFICATE_VERIFY_FAILED" in _attempts(refused)[0].error
    assert tls_receiver["hosts"] == [f"hooks.tally.test:{port}"]  # nothing sent to the wrong name
