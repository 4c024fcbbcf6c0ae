"""Signed, expiring links (portal access, invoice files, embed tokens): HMAC-SHA256 over a small JSON claim."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from billing.ports import runtime

# NOTE: Lago's portal links expire after 12 hours (API.md, "The portal link").
PORTAL_TTL = timedelta(hours=12)
FILE_TTL = timedelta(hours=24)
# A pay link travels in emails (a failed charge, a reminder): it lasts a week; the page it opens reads the
# invoice again, so a link to an invoice paid meanwhile says so instead of charging.
PAY_TTL = timedelta(days=7)
# Lago's checkout_url: where a customer adds a payment method, for a day.
SETUP_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Claim:
    purpose: str
    subject: str
    organization_id: str
    expires_at: datetime
    extra: Mapping[str, Any] = field(default_factory=dict)  # what a purpose adds (an embed token's widgets)

    @property
    def expired(self) -> bool:
        return self.expires_at <= runtime.clock.now()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(payload: str) -> str:
    if not runtime.secret_key:
        raise RuntimeError("no secret key configured for signed links")
    return _b64(hmac.new(runtime.secret_key.encode(), payload.encode(), hashlib.sha256).digest())


def sign(*, purpose: str, subject: str, organization_id: str, ttl: timedelta,
         extra: Mapping[str, Any] | None = None) -> str:
    expires = int((runtime.clock.now() + ttl).timestamp())
    claim: dict[str, Any] = {"p": purpose, "s": subject, "o": organization_id, "e": expires}
    if extra:
        claim["x"] = dict(extra)
    payload = _b64(json.dumps(claim, separators=(",", ":")).encode())
    return f"{payload}.{_mac(payload)}"


def verify(token: str, *, purpose: str) -> Claim | None:
    """The claim of a valid, unexpired token for `purpose`; None if tampered, expired or for something else."""
    claim = signed_claim(token, purpose=purpose)
    return None if claim is None or claim.expired else claim


def signed_claim(token: str, *, purpose: str) -> Claim | None:
    """The claim of a token Tally signed for `purpose`, expired or not (its `expired` says); None if tampered.

    For a page that must still say "this link has expired" in its owner's terms (an embedded widget tells
    its host page); it grants nothing by itself.
    """
    try:
        payload, mac = token.split(".")
        if not hmac.compare_digest(mac, _mac(payload)):
            return None
        data = json.loads(_unb64(payload))
        expires_at = datetime.fromtimestamp(int(data["e"]), runtime.clock.now().tzinfo)
        extra = data.get("x") or {}
        if not isinstance(extra, dict):
            return None
    except (ValueError, KeyError, TypeError, OverflowError, OSError):
        return None
    if data.get("p") != purpose:
        return None
    return Claim(purpose=purpose, subject=str(data["s"]), organization_id=str(data["o"]), expires_at=expires_at,
                 extra=extra)


def derived_token(token: str, *, purpose: str) -> str:
    """A second secret bound to `token` for `purpose` (e.g. the form token of an embedded widget): only Tally,
    holding the secret key, can make it from the token."""
    return _mac(f"{purpose}:{token}")


def derived_token_matches(token: str, value: str | None, *, purpose: str) -> bool:
    return bool(value) and hmac.compare_digest(str(value), derived_token(token, purpose=purpose))


def portal_url(*, customer_id: str, organization_id: str) -> str:
    token = sign(purpose="portal", subject=customer_id, organization_id=organization_id, ttl=PORTAL_TTL)
    return f"{runtime.base_url}/portal/{token}"


def invoice_file_url(*, invoice_id: str, organization_id: str) -> str:
    token = sign(purpose="invoice_file", subject=invoice_id, organization_id=organization_id, ttl=FILE_TTL)
    return f"{runtime.base_url}/files/invoices/{token}.pdf"


def credit_note_file_url(*, credit_note_id: str, organization_id: str) -> str:
    token = sign(purpose="credit_note_file", subject=credit_note_id, organization_id=organization_id, ttl=FILE_TTL)
    return f"{runtime.base_url}/files/credit_notes/{token}.pdf"


def pay_url(*, invoice_id: str, organization_id: str) -> str:
    """The Tally-hosted page where a customer pays one invoice (saved method or a new one)."""
    token = sign(purpose="pay_invoice", subject=invoice_id, organization_id=organization_id, ttl=PAY_TTL)
    return f"{runtime.base_url}/pay/{token}"


def setup_url(*, customer_id: str, organization_id: str) -> str:
    """The Tally-hosted page where a customer adds a payment method (Lago's checkout_url)."""
    token = sign(purpose="add_payment_method", subject=customer_id, organization_id=organization_id, ttl=SETUP_TTL)
    return f"{runtime.base_url}/pay/setup/{token}"


def payment_request_url(*, payment_request_id: str, organization_id: str) -> str:
    """The Tally-hosted page where a customer pays every invoice of a payment request at once."""
    token = sign(purpose="pay_request", subject=payment_request_id, organization_id=organization_id, ttl=PAY_TTL)
    return f"{runtime.base_url}/pay/request/{token}"
