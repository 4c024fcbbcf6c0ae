"""Password hashing for account managers: scrypt from the standard library, salted, constant-time checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# NOTE: n=2**14, r=8, p=1 are the interactive-login parameters recommended by the scrypt paper
# and OWASP; ~50 ms here.
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=int(n), r=int(r), p=int(p),
                            dklen=32)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))
