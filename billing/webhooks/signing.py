"""Webhook signatures, Lago's two: `hmac` and `jwt` (RS256 with the organization's RSA key pair).

`jwt`: `X-Lago-Signature` is a JWT signed RS256 whose claims are `{"data": <the raw body, as a
string>, "iss": <TALLY_BASE_URL>}` (lago-api `Webhook#jwt_signature`); a receiver verifies it with
the organization's public key (`GET /api/v1/webhooks/json_public_key`) and compares `data` with the
body it received.

Each organization has its own key pair, made on first need. The private key is stored as PKCS#8
PEM encrypted with a password derived from the server's SECRET_KEY (and the organization's id), so a
copy of the database alone does not give it away; a loaded key is kept in memory by the process
(decrypting takes tens of milliseconds). PyJWT and cryptography are imported here only.
"""

from __future__ import annotations

import hashlib
import hmac
import threading

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from billing.ports import runtime
from billing.webhooks import transport

ALGORITHM = "RS256"
KEY_BITS = 2048
_PUBLIC_EXPONENT = 65537

# organization id -> (stored PEM, the password it was opened with, the key)
_keys: dict[str, tuple[str, bytes, rsa.RSAPrivateKey]] = {}
_keys_lock = threading.Lock()


def _password(organization_id: str) -> bytes:
    """The private key's encryption password: HMAC-SHA256(SECRET_KEY, organization id), never stored."""
    if not runtime.secret_key:
        raise RuntimeError("SECRET_KEY is not configured: webhook signing keys cannot be protected")
    message = f"tally:webhook-jwt-key:{organization_id}".encode()
    return hmac.new(runtime.secret_key.encode(), message, hashlib.sha256).hexdigest().encode()


def new_key_pair(organization_id: str) -> tuple[str, str]:
    """A fresh RSA key pair: (public key PEM, private key PEM encrypted for this organization)."""
    key = rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=KEY_BITS)
    password = _password(organization_id)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(password)).decode()
    with _keys_lock:
        _keys[organization_id] = (private, password, key)
    return public, private


def private_key(organization_id: str, stored_pem: str) -> rsa.RSAPrivateKey | None:
    """The stored private key, decrypted; None when it cannot be (SECRET_KEY changed since it was made)."""
    password = _password(organization_id)
    with _keys_lock:
        cached = _keys.get(organization_id)
    if cached is not None and cached[:2] == (stored_pem, password):
        return cached[2]
    try:
        key = serialization.load_pem_private_key(stored_pem.encode(), password=password)
    except (ValueError, TypeError):
        return None
    if not isinstance(key, rsa.RSAPrivateKey):
        return None
    with _keys_lock:
        _keys[organization_id] = (stored_pem, password, key)
    return key


def jwt_signature(body: bytes, key: rsa.RSAPrivateKey) -> str:
    """Lago's `jwt` signature of a webhook body: RS256 over `{"data": body, "iss": TALLY_BASE_URL}`."""
    return jwt.encode({"data": body.decode(), "iss": runtime.base_url}, key, algorithm=ALGORITHM)


def hmac_signature(body: bytes, key: str) -> str:
    """Lago's `hmac` signature: base64 of the HMAC-SHA256 of the raw body."""
    return transport.sign(body, key)
