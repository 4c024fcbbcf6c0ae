"""Outbound HTTP for webhooks, standard library only: one POST, a timeout, no redirects, never raises.

The connection is made to the address that was checked (billing.webhooks.addresses), not to the
name again: a resolver re-pointed between the check and the connect cannot send it elsewhere. The
request still names the host (`Host` header, TLS server name and certificate check).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from billing.webhooks import addresses

TIMEOUT_SECONDS = 10.0
EXCERPT_CHARS = 1000


def sign(body: bytes, key: str) -> str:
    """Lago's `hmac` signature: base64 of the HMAC-SHA256 of the raw body, keyed by the organization's HMAC key."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a host: the only kind a webhook is sent to."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@dataclass(frozen=True)
class Response:
    status_code: int | None
    excerpt: str | None
    error: str | None
    duration_ms: int
    # Not sent: the address is not allowed (no retry can succeed).
    refused: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _excerpt(raw: bytes) -> str:
    return raw[:EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to one checked address, speaking to the URL's host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """The same over TLS: the certificate is checked against the host name, which is also sent as SNI."""

    default_port = http.client.HTTPS_PORT

    def connect(self) -> None:
        super().connect()
        self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)


def _connection(target: addresses.Target, address: str, timeout: float) -> _PinnedHTTPConnection:
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    return kind(target.host, target.port, address, timeout)


def _open(target: addresses.Target, timeout: float) -> _PinnedHTTPConnection:
    """A connection to the first of the target's checked addresses that accepts one."""
    failure: OSError | None = None
    for address in target.addresses:
        connection = _connection(target, address, timeout)
        try:
            connection.connect()
            return connection
        except OSError as error:
            connection.close()
            failure = error
            if isinstance(error, ssl.SSLError | TimeoutError):
                raise  # the host answered (a bad certificate) or stays silent: another address will not help
    raise failure or OSError("no address to connect to")


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = TIMEOUT_SECONDS,
         allow_private: bool = False) -> Response:
    """POST `body` to `url`; whatever happens (refused, timeout, 500) comes back as a Response.

    The host is resolved once and every address it gives must be public unless `allow_private`;
    otherwise nothing is sent and the Response is `refused` (a retry would meet the same rule).
    A redirect (3xx) is not followed and its body is not kept: it is a failed attempt.
    """
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = addresses.target(url, allow_private=allow_private)
    except addresses.AddressRefused as refused:
        return Response(None, None, refused.reason[:255], elapsed(), refused=True)
    except (OSError, UnicodeError) as error:
        return Response(None, None, f"dns_error: {error}"[:255], elapsed())
    connection = None
    try:
        connection = _open(target, timeout)
        connection.request("POST", target.path, body=body, headers=headers)
        answer = connection.getresponse()
        if 300 <= answer.status < 400:
            return Response(answer.status, None, "redirect_not_followed", elapsed())
        return Response(answer.status, _excerpt(answer.read(EXCERPT_CHARS * 4)), None, elapsed())
    except TimeoutError:
        return Response(None, None, "timeout", elapsed())
    except OSError as error:
        return Response(None, None, f"connection_error: {error}"[:255], elapsed())
    except Exception as error:  # a broken peer (bad status line...) is a failed attempt, not a crash
        return Response(None, None, f"{type(error).__name__}: {error}"[:255], elapsed())
    finally:
        if connection is not None:
            connection.close()
