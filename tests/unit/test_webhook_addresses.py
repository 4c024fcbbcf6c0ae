"""The webhook address rule (billing.webhooks.addresses): public addresses only, whatever form the URL gives them."""

from __future__ import annotations

import ipaddress

import pytest

from billing.webhooks import addresses

REFUSED = [
    "127.0.0.1", "127.1.2.3", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254",  # cloud metadata services
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.0.1", "198.18.0.1",
    "192.0.2.1",  # documentation
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4007:80f::200e"]


@pytest.mark.parametrize("text", REFUSED)
def test_non_public_addresses_are_refused(text):
    assert not addresses.is_public(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_are_allowed(text):
    assert addresses.is_public(ipaddress.ip_address(text))


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8125/internal",
    "http://localhost:8125/internal",  # a name resolving to loopback (/etc/hosts)
    "http://2130706433/",  # 127.0.0.1 written as one number: resolved, not parsed
    "http://0x7f.1/",  # and in hexadecimal
    "http://127.1/",
    "http://[::1]:8080/",
    "http://[::ffff:127.0.0.1]:8125/",
    "https://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hooks",
    "http://[fd00::5]/hooks",
])
def test_urls_reaching_private_networks_are_refused_unless_allowed(url):
    assert addresses.check_url(url, allow_private=False) == "address_not_allowed"
    assert addresses.check_url(url, allow_private=True) is None


def test_other_urls():
    assert addresses.check_url("ftp://example.com/x", allow_private=True) == "url_is_invalid"
    assert addresses.check_url("http://8.8.8.8/hooks", allow_private=False) is None
    # A name that does not resolve now is accepted: every attempt resolves and checks it again.
    assert addresses.check_url("https://hooks.tally.invalid/x", allow_private=False) is None


def test_every_address_of_a_name_is_checked(monkeypatch):
    monkeypatch.setattr(addresses, "resolve", lambda host, port: ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(addresses.AddressRefused) as refused:
        addresses.target("https://hooks.tally.test/x", allow_private=False)
    assert refused.value.reason == "address_not_allowed: hooks.tally.test (10.0.0.7) is not a public address"
    monkeypatch.setattr(addresses, "resolve", lambda host, port: ["93.184.216.34", "2606:4700:4700::1111"])
    target = addresses.target("https://hooks.tally.test/x?a=1", allow_private=False)
    assert (target.host, target.port, target.path) == ("hooks.tally.test", 443, "/x?a=1")
    assert target.addresses == ("93.184.216.34", "2606:4700:4700::1111")
