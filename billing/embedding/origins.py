"""Host origins allowed to frame Tally's widgets and portal, as a Content-Security-Policy names them.

Pure: no database, no clock. An origin is `scheme://host[:port]`, lower case, without path, query, user or
default port; the host may start with `*.` (any subdomain, as CSP's host-source allows: not the domain itself).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

MAX_ORIGINS = 20
MAX_ORIGIN_LENGTH = 255
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class InvalidOrigin(ValueError):
    """Not an origin a frame-ancestors directive can name."""


def parse_origin(text: str) -> str:
    """The normalized origin of `text` (`https://App.Example.com:443/` → `https://app.example.com`).

    Refused (InvalidOrigin): another scheme than http(s), a path, query, fragment or user, a host that is not a
    DNS name or an IP address, a wildcard anywhere but as the first label, a CSP keyword.
    """
    raw = (text or "").strip()
    if not raw or len(raw) > MAX_ORIGIN_LENGTH or any(c.isspace() or c in "'\";,\\" for c in raw):
        raise InvalidOrigin(text)
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise InvalidOrigin(text) from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or parts.username or parts.password or parts.query or parts.fragment \
            or parts.path not in ("", "/") or not parts.hostname:
        raise InvalidOrigin(text)
    host = parts.hostname.lower()
    if not _valid_host(host):
        raise InvalidOrigin(text)
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if len(labels) < 2:  # "*.com" would let every site of a top-level domain in
            return False
    return bool(labels) and all(_LABEL.match(label) for label in labels)


def parse_origins(values: Iterable[str]) -> tuple[list[str], list[str]]:
    """(the valid origins normalized, in order, without repeats; the values refused as typed)."""
    valid: list[str] = []
    refused: list[str] = []
    for value in values:
        if not (value or "").strip():
            continue
        try:
            origin = parse_origin(value)
        except InvalidOrigin:
            refused.append(value)
            continue
        if origin not in valid:
            valid.append(origin)
    return valid, refused


def split_origins(text: str) -> list[str]:
    """Origins typed one per line, or separated by spaces or commas (a textarea, TALLY_FRAME_ANCESTORS)."""
    return [part for part in re.split(r"[\s,]+", text or "") if part]


def frame_ancestors(origins: Sequence[str]) -> str:
    """The value of the `frame-ancestors` directive: exactly these origins, or `'none'` when there are none."""
    return " ".join(origins) if origins else "'none'"


def allows(origins: Sequence[str], origin: str | None) -> bool:
    """Whether a page at `origin` (as a browser names it: no wildcard) is one of `origins`, as CSP matches them."""
    if not origin:
        return False
    try:
        candidate = parse_origin(origin)
    except InvalidOrigin:
        return False
    if "*" in candidate:
        return False
    for allowed in origins:
        if allowed == candidate:
            return True
        if "://*." in allowed:
            scheme, rest = allowed.split("://*.", 1)
            their_scheme, their_rest = candidate.split("://", 1)
            if scheme == their_scheme and their_rest.endswith("." + rest):
                return True
    return False
