"""Sealing the payment providers' settings: API keys and webhook secrets are never stored in clear.

The settings are one JSON document sealed with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived
from the server's SECRET_KEY, so a copy of the database alone gives none of them away. The key is
derived, never stored: rotating SECRET_KEY makes the sealed settings unreadable, and the admin says so
(the provider must be connected again). cryptography is imported here and in billing.webhooks.signing only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken

from billing.ports import runtime

# Settings whose values are secrets: shown back as "…" plus their last 4 characters, never whole.
SECRET_SETTINGS = frozenset({"secret_key", "webhook_secret", "api_key", "hmac_key", "access_token"})


class SettingsUnreadable(Exception):  # noqa: N818 (named for what happened, as billing.errors' errors are)
    """Sealed settings that this server's SECRET_KEY cannot open (it changed since they were sealed)."""


def _fernet() -> Fernet:
    if not runtime.secret_key:
        raise RuntimeError("SECRET_KEY is not configured: payment provider secrets cannot be protected")
    key = hmac.new(runtime.secret_key.encode(), b"tally:payment-provider-settings", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(settings: Mapping[str, str]) -> str:
    """Seal a provider's settings for storage."""
    return _fernet().encrypt(json.dumps(dict(settings), sort_keys=True).encode()).decode()


def unseal(sealed: str) -> dict[str, str]:
    """Open sealed settings; SettingsUnreadable when this SECRET_KEY did not seal them."""
    try:
        return json.loads(_fernet().decrypt(sealed.encode()))
    except InvalidToken as error:
        raise SettingsUnreadable("the payment provider's settings were sealed with another SECRET_KEY") from error


def visible(settings: Mapping[str, str]) -> dict[str, str]:
    """What may be shown of settings: secrets as "…" and their last 4 characters, the rest as they are."""
    return {name: (f"…{value[-4:]}" if name in SECRET_SETTINGS and value else value)
            for name, value in settings.items()}
