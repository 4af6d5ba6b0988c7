"""Which IP addresses newswatch may dial: public ones, and private ones the settings allow."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Allowlist = bool | tuple[IPNetwork, ...]  # as FetchSettings.private_allowlist() returns it

# IPv6 forms that carry an IPv4 address a gateway or the kernel may end up dialling.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def dialable(address: str, allow: Allowlist) -> bool:
    """True if the IP literal `address` is public, or private but covered by `allow`."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # not an IP literal: nothing we could vouch for
    if allow is True:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:a.b.c.d is dialled as a.b.c.d
    networks = allow if isinstance(allow, tuple) else ()
    return all(_permitted(candidate, networks) for candidate in (ip, *_embedded_ipv4(ip)))


def _permitted(ip: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    # Python 3.11 counts multicast as global (224.0.0.0/4, ff0e::/16): refuse it explicitly.
    if ip.is_global and not ip.is_multicast:
        return True
    return any(ip in network for network in networks)


def _embedded_ipv4(ip: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """IPv4 inside NAT64, 6to4 and IPv4-compatible IPv6 addresses (Python calls them global)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return ()
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    return ()
