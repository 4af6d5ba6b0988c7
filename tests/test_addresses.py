"""The address policy on its own: which IP literals may be dialled under which allowlist."""

from __future__ import annotations

import ipaddress

import pytest

from flows.web.addresses import dialable

LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",  # private
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",  # loopback
        "169.254.169.254",  # link-local (cloud metadata)
        "100.64.0.1",  # CGNAT
        "224.0.0.1",  # multicast (Python calls it global)
        "240.0.0.1",  # reserved
        "0.0.0.0",  # unspecified
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "ff0e::1",  # global-scope multicast
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::ffff:127.0.0.2",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "::7f00:2",  # IPv4-compatible 127.0.0.2
        "not-an-ip",
        "public.example",
    ],
)
def test_non_public_addresses_are_refused_by_default(address: str) -> None:
    assert dialable(address, False) is False


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_dialable(address: str) -> None:
    assert dialable(address, False) is True


def test_allowlist_admits_exactly_its_networks() -> None:
    assert dialable("127.0.0.1", LOOPBACK_ONLY)
    assert dialable("::ffff:127.0.0.1", LOOPBACK_ONLY)  # the same address, IPv6 spelling
    assert not dialable("127.0.0.2", LOOPBACK_ONLY)
    assert not dialable("::ffff:127.0.0.2", LOOPBACK_ONLY)
    assert not dialable("::1", LOOPBACK_ONLY)  # IPv4 networks never cover IPv6 addresses
    assert dialable("10.9.9.9", (ipaddress.ip_network("10.0.0.0/8"),))
    assert not dialable("10.9.9.9", (ipaddress.ip_network("10.0.0.0/16"),))


def test_allow_all_admits_private_but_still_needs_an_ip_literal() -> None:
    assert dialable("127.0.0.2", True)
    assert dialable("::1", True)
    assert not dialable("localhost", True)
