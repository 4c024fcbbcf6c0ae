"""Which network addresses a webhook may be sent to: public ones only, unless the operator allows private networks.

A webhook URL is chosen by an API client; without this rule it is a way into the server's own
network (an internal admin port, a cloud metadata service at 169.254.169.254), and the delivery log
would show that service's answer. The rule is checked when an endpoint is saved, and again at every
attempt on the very addresses the connection is made to (a name may resolve elsewhere later).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not all of these are caught by `is_global` on every Python version (3.11 calls 100.64/10 and the
# IPv4-mapped ::ffff:0:0/96 forms by their own rules): named here so the rule does not depend on it.
_ALWAYS_REFUSED = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8"))


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address a webhook must not be sent to."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (::ffff:a.b.c.d, 6to4, Teredo), if any."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return None


def is_public(address: Address) -> bool:
    """Whether `address` is on the public internet: not loopback, private, link-local, unique-local,
    carrier-grade NAT, multicast, reserved or unspecified (nor an IPv6 form of one of those)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and not is_public(embedded):
        return False
    if any(address in network for network in _ALWAYS_REFUSED if network.version == address.version):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified
                                      or address.is_loopback or address.is_link_local)


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (a literal address resolves to itself), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """Where one attempt connects: the URL's parts and the checked addresses to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def _parts(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused("url_not_http") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("url_not_http")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _refuse_private(host: str, addresses: list[str]) -> None:
    for text in addresses:
        address = _literal(text)
        if address is None or not is_public(address):
            shown = host if host == text else f"{host} ({text})"
            raise AddressRefused(f"address_not_allowed: {shown} is not a public address")


def target(url: str, *, allow_private: bool) -> Target:
    """Resolve the URL's host once and check every address it gives; raise AddressRefused when one is not
    public (unless `allow_private`). OSError when the name does not resolve."""
    scheme, host, port, path = _parts(url)
    addresses = resolve(host, port)
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    if not allow_private:
        _refuse_private(host, addresses)
    return Target(scheme, host, port, path, tuple(addresses))


def check_url(url: str, *, allow_private: bool) -> str | None:
    """Why a webhook endpoint may not be saved with `url` (a reason code), or None.

    A host that does not resolve now is accepted: it is checked again at every attempt.
    """
    try:
        target(url, allow_private=allow_private)
    except AddressRefused as refused:
        return "url_is_invalid" if refused.reason == "url_not_http" else "address_not_allowed"
    except (OSError, UnicodeError):
        return None
    return None
