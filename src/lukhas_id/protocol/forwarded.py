"""The client's network address behind trusted proxies: RFC 7239 `Forwarded`, and `X-Forwarded-For`.

A request's peer is the address that opened the connection. When that peer is one of the configured
trusted proxies (setting `trusted_proxies`, LUKHAS_ID_TRUSTED_PROXIES), the client's address is taken
from the forwarding headers: `Forwarded` (RFC 7239 §4, its `for=` parameters) when the request has
one, else `X-Forwarded-For`. The list is read from the right (the nearest hop first), skipping
addresses that are themselves trusted proxies; the first address that is not is the client's. So a
client can put anything at the left of the list and never choose its own address: only what the
trusted proxies appended is believed. From any other peer the headers are ignored.

When a hop the proxies wrote cannot be read as an address (`unknown`, an obfuscated `_name`, garbage),
the nearest trusted proxy's address is used: the client is not known, and its own words are not taken.
Ports are dropped; IPv6 addresses are answered without brackets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Final

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_HOPS: Final = 32


def _address(text: str) -> IpAddress | None:
    """An IP address from a forwarded node (RFC 7239 §6: IPv4, "[IPv6]", either with a port); None else."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        text = text[1:end]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_for(values: Iterable[str]) -> list[str]:
    """The `for=` nodes of `Forwarded` header values, in order (RFC 7239 §4); a hop without one is ""."""
    nodes: list[str] = []
    for value in values:
        for element in value.split(","):
            node = ""
            for pair in element.split(";"):
                name, sep, raw = pair.partition("=")
                if sep and name.strip().lower() == "for":
                    node = raw.strip()
            nodes.append(node)
    return nodes


def x_forwarded_for(values: Iterable[str]) -> list[str]:
    """The nodes of `X-Forwarded-For` header values, in order."""
    return [node.strip() for value in values for node in value.split(",")]


def _trusted(address: IpAddress, proxies: Sequence[IpNetwork]) -> bool:
    return any(address in network for network in proxies)


def is_trusted_proxy(peer: str | None, proxies: Sequence[IpNetwork]) -> bool:
    """Whether the peer that opened the connection is one of the trusted proxies."""
    address = _address(peer) if peer is not None else None
    return address is not None and _trusted(address, proxies)


def client_address(
    peer: str | None,
    proxies: Sequence[IpNetwork],
    *,
    forwarded: Sequence[str] = (),
    x_forwarded: Sequence[str] = (),
) -> str | None:
    """The client's address: `peer`, or, when `peer` is a trusted proxy, the nearest untrusted hop of the
    forwarding headers (`forwarded`: Forwarded values; `x_forwarded`: X-Forwarded-For values)."""
    if peer is None or not proxies:
        return peer
    nearest = _address(peer)
    if nearest is None or not _trusted(nearest, proxies):
        return peer
    hops = forwarded_for(forwarded) if forwarded else x_forwarded_for(x_forwarded)
    for node in reversed(hops[-MAX_HOPS:]):
        address = _address(node)
        if address is None:
            return str(nearest)
        if not _trusted(address, proxies):
            return str(address)
        nearest = address
    return str(nearest)


def parse_networks(values: Iterable[str]) -> tuple[IpNetwork, ...]:
    """Networks from addresses or CIDR blocks ("10.0.0.0/8", "::1"); ValueError on anything else."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)
