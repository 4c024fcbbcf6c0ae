"""Outbound HTTP for webhooks, standard library only: one POST, a timeout, no redirects, never raises."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

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

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect is an answer, not a success: the POST is not replayed elsewhere.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _excerpt(raw: bytes) -> str:
    return raw[:EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = TIMEOUT_SECONDS) -> Response:
    """POST `body` to `url`; whatever happens (refused, timeout, 500) comes back as a Response."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    if not is_web_url(url):
        return Response(None, None, "url_not_http", 0)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (http(s) checked above)
    try:
        with _opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, _excerpt(answer.read(EXCERPT_CHARS * 4)), None, elapsed())
    except urllib.error.HTTPError as error:
        try:
            excerpt = _excerpt(error.read(EXCERPT_CHARS * 4))
        except Exception:
            excerpt = None
        return Response(error.code, excerpt, None, elapsed())
    except TimeoutError:
        return Response(None, None, "timeout", elapsed())
    except urllib.error.URLError as error:
        reason = error.reason
        text = "timeout" if isinstance(reason, TimeoutError) else f"connection_error: {reason}"
        return Response(None, None, text[:255], elapsed())
    except Exception as error:  # a broken peer (reset, bad status line...) is a failed attempt, not a crash
        return Response(None, None, f"{type(error).__name__}: {error}"[:255], elapsed())
