"""Outbound HTTP: the one port through which ΛiD calls a URL that someone else registered.

Relying parties register URLs that ΛiD later calls: an SSF push endpoint (RFC 8935), a client's
`jwks_uri` (private_key_jwt). Each such call is a request ΛiD makes on a stranger's behalf, so it goes
through this port and its one hardened adapter (adapters/http/outbound.py), never a library called
directly: https only (plain http to loopback in development only), no redirects followed, no address
that is private, loopback, link-local, multicast, reserved or unspecified (the resolved address is
checked and then connected to, so a DNS answer cannot change between the check and the connection),
unless the operator allows it, bounded connect and read times and response size, no proxies from the
environment. docs/ssf.md lists the rules and the settings that relax them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes


class OutboundRefused(Exception):
    """The request was not made: the URL or the address it resolves to is not allowed, or the response broke
    a bound (too large). The message is safe to log: it never holds the URL's credentials or query."""


class OutboundFailed(Exception):
    """The request was made but failed: the name did not resolve, the connection or TLS failed, or a time
    bound passed. Safe to log, as for OutboundRefused."""


class OutboundHttp(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResponse:
        """POST `body` to `url`; OutboundRefused before anything is sent, OutboundFailed on the way."""
        ...

    async def get(self, url: str, headers: Mapping[str, str]) -> OutboundResponse:
        """GET `url`; errors as for `post`."""
        ...

    async def check(self, url: str) -> None:
        """Whether a request to `url` would be allowed now (the URL, the addresses its host resolves to),
        without sending anything: OutboundRefused or OutboundFailed when not (a URL being registered)."""
        ...
