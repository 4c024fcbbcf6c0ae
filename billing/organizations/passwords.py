"""Password hashing for account managers: scrypt from the standard library, salted, constant-time checked.

Each hash carries its own parameters (`scrypt$N$r$p$salt$digest`), so the cost can be raised
without invalidating stored hashes: a hash with weaker parameters is replaced at its owner's next
successful sign-in (`needs_rehash`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import threading

# NOTE: OWASP Password Storage Cheat Sheet, scrypt: "a minimum CPU/memory cost parameter of (2^17),
# a minimum block size of 8 (1024 bytes), and a parallelization parameter of 1". 128 MiB of memory
# and ≈ 0.3 s of one core per hash on the reference machine.
OWASP_N, OWASP_R, OWASP_P = 2**17, 8, 1
# A stored hash asking for more than this is refused rather than run (it would take gigabytes).
_MAX_N = 2**20
# At most this many hashes at once per process: each one holds 128 MiB and a core, so a burst of
# sign-ins (from many addresses, past the throttle) queues here instead of exhausting the server.
CONCURRENT_HASHES = 2
_slots = threading.BoundedSemaphore(CONCURRENT_HASHES)

_cost = {"n": OWASP_N}

# NOTE: the one strength rule of account managers' passwords (create-admin, set-password, a member's own change in
# My account): a length, no composition rules, as NIST SP 800-63B (5.1.1.2) asks of a secret its owner chooses.
MIN_LENGTH = 8


def strength_problem(password: str | None) -> str | None:
    """The reason code a password is refused for (`too_short`), or None when it is long enough."""
    return "too_short" if len(password or "") < MIN_LENGTH else None


def configure(*, n: int = OWASP_N) -> None:
    """Set the CPU/memory cost of new hashes (a power of two; lower than OWASP's only for tests)."""
    if n < 2 or n & (n - 1) or n > _MAX_N:
        raise ValueError(f"scrypt N must be a power of two up to {_MAX_N}, not {n}")
    _cost["n"] = n
    _dummy_hash.cache_clear()


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL needs 128·r·(N + 2) bytes for V plus 128·r·p for B; hashlib's default ceiling is 32 MiB.
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    with _slots:
        return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=maxmem)


def hash_password(password: str, *, n: int | None = None) -> str:
    n = n or _cost["n"]
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, n, OWASP_R, OWASP_P)
    return f"scrypt${n}${OWASP_R}${OWASP_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return None
        n, r, p = int(n), int(r), int(p)
        if not (2 <= n <= _MAX_N and 1 <= r <= 32 and 1 <= p <= 16):
            return None
        return n, r, p, base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return None


def check_password(stored: str, password: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, expected = parsed
    return hmac.compare_digest(_derive(password, salt, n, r, p), expected)


def needs_rehash(stored: str) -> bool:
    """Whether this hash was made with weaker parameters than new hashes get."""
    parsed = _parse(stored)
    return parsed is None or parsed[0] < _cost["n"] or parsed[1] < OWASP_R


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def check_no_password(password: str) -> bool:
    """Do the work of one `check_password` at today's cost, for an email no account has: always False.

    Checked against a hash made once per process (not hashed then checked: that was twice the work
    of a known email's check, and told an attacker which emails have accounts).
    """
    check_password(_dummy_hash(), password)
    return False
