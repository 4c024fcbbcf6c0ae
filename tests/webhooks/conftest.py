"""A real webhook receiver on 127.0.0.1: it records every request and checks its HMAC signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.raw)

    def signed_with(self, key: str) -> bool:
        """The receiver's side of Lago's `hmac` signature: base64 HMAC-SHA256 of the raw body."""
        expected = base64.b64encode(hmac.new(key.encode(), self.raw, hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, self.headers.get("X-Lago-Signature", ""))


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # status codes to answer, in order; then 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of_type(self, webhook_type: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.json["webhook_type"] == webhook_type]


@pytest.fixture
def receiver(allow_private_webhooks) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1, which webhooks may reach only because the fixture allows private networks."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            target = state["receiver"]
            with target.lock:
                target.requests.append(Received(dict(self.headers.items()), raw))
                status = target.answers.pop(0) if target.answers else 200
            answer = b'{"ok": true}' if status < 300 else b"receiver broke: try again later"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/tally")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


from tests.web.conftest import account_manager, client, other_org, signed_in  # noqa: E402,F401 (admin fixtures)
