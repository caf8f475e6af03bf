"""The hardened outbound HTTP client: ports/outbound_http.py on httpx, with the checks a URL from a stranger needs.

In order, for every request (`HardenedHttpClient.request`):

1. the URL (`check_url`): absolute, `https` (plain `http` only to loopback when `allow_loopback` is set,
   for development and tests), no user name or password in it, a host, a port in range;
2. the addresses: the host's addresses are resolved once (an IP literal is its own address), and every one
   must be allowed (`address_refusal`): not unspecified, loopback, link-local, multicast, private, reserved
   or otherwise not globally routable, IPv4-mapped and 6to4 IPv6 addresses judged by the IPv4 address they
   carry, unless inside a network of `allowed_networks` (or loopback with `allow_loopback`);
3. the connection goes to the checked address itself (the URL's host replaced by it; `Host`, TLS SNI and
   certificate verification keep the name), so a second DNS answer (rebinding) is never used;
4. no redirect is followed (a 3xx is returned as it is), no proxy or certificate setting is taken from the
   environment (`trust_env=False`), the response body is read up to `max_response_bytes` and refused beyond,
   connect and read each have a bound and the whole exchange one more (`total_timeout`).

Error messages name the rule that refused, never the URL's query or credentials.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from lukhas_id.ports.outbound_http import OutboundFailed, OutboundRefused, OutboundResponse

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses the name resolves to (injectable: the tests' resolver answers what they need).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_DEFAULT_PORTS: Final = {"https": 443, "http": 80}
USER_AGENT: Final = "lukhas-id"


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    allow_loopback: bool = False  # development and tests: loopback addresses, and plain http to them
    allowed_networks: tuple[IPNetwork, ...] = field(default=())
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    max_response_bytes: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # a name or an IP literal, without brackets
    port: int
    path: str  # path and query, as sent


def check_url(url: str) -> Target:
    """The parts of an absolute http(s) URL; OutboundRefused for anything else (the scheme rule that needs
    the addresses is checked by `request`)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundRefused("the URL cannot be parsed") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise OutboundRefused("the URL must use https")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("the URL must not hold a user name or password")
    host = parts.hostname
    if not host:
        raise OutboundRefused("the URL has no host")
    if any(c.isspace() for c in url):
        raise OutboundRefused("the URL holds white space")
    path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return Target(scheme, host, port if port is not None else _DEFAULT_PORTS[scheme], path)


def _carried_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped or 6to4 IPv6 address carries, else the address itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def address_refusal(ip: IPAddress, policy: OutboundPolicy) -> str | None:
    """Why ΛiD may not connect to `ip` (a short reason), or None when it may."""
    ip = _carried_ipv4(ip)
    if any(ip in net for net in policy.allowed_networks):
        return None
    if ip.is_loopback:
        return None if policy.allow_loopback else "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "an address that is not globally routable"
    return None


async def system_resolver(host: str, port: int) -> Sequence[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise OutboundFailed("the host name does not resolve") from None
    return [str(info[4][0]) for info in infos]


class HardenedHttpClient:
    """ports/outbound_http.py `OutboundHttp` (see the module docstring). One per process; `aclose` at exit."""

    def __init__(self, policy: OutboundPolicy, resolver: Resolver = system_resolver) -> None:
        self._policy = policy
        self._resolve = resolver
        timeout = httpx.Timeout(
            connect=policy.connect_timeout, read=policy.read_timeout, write=policy.read_timeout, pool=None
        )
        self._client = httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=timeout,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10, keepalive_expiry=30),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResponse:
        return await self.request("POST", url, body, headers)

    async def get(self, url: str, headers: Mapping[str, str]) -> OutboundResponse:
        return await self.request("GET", url, None, headers)

    async def check(self, url: str) -> None:
        target = check_url(url)
        try:
            async with asyncio.timeout(self._policy.total_timeout):
                await self.address(target)
        except TimeoutError:
            raise OutboundFailed("the host name lookup timed out") from None

    async def address(self, target: Target) -> IPAddress:
        """The checked address to connect to (steps 1-2 of the module docstring)."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(target.host)
        except ValueError:
            literal = None
        found = [literal] if literal is not None else [_parse(a) for a in await self._resolve(target.host, target.port)]
        if not found:
            raise OutboundFailed("the host name does not resolve")
        for ip in found:
            reason = address_refusal(ip, self._policy)
            if reason is not None:
                raise OutboundRefused(f"the host resolves to {reason}")
        chosen = found[0]
        if target.scheme == "http" and not (self._policy.allow_loopback and _carried_ipv4(chosen).is_loopback):
            raise OutboundRefused("the URL must use https")
        return chosen

    async def request(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> OutboundResponse:
        target = check_url(url)
        try:
            async with asyncio.timeout(self._policy.total_timeout):
                ip = await self.address(target)
                return await self._send(method, target, ip, body, headers)
        except TimeoutError:
            raise OutboundFailed("the request timed out") from None

    async def _send(
        self, method: str, target: Target, ip: IPAddress, body: bytes | None, headers: Mapping[str, str]
    ) -> OutboundResponse:
        default_port = _DEFAULT_PORTS[target.scheme]
        netloc_host = f"[{target.host}]" if ":" in target.host else target.host
        host_header = netloc_host if target.port == default_port else f"{netloc_host}:{target.port}"
        ip_host = f"[{ip}]" if ip.version == 6 else str(ip)
        direct = f"{target.scheme}://{ip_host}:{target.port}{target.path}"
        sent = {**headers, "host": host_header, "accept-encoding": "identity", "user-agent": USER_AGENT}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            request = self._client.build_request(method, direct, content=body, headers=sent, extensions=extensions)
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise OutboundFailed("the request timed out") from None
        except (httpx.HTTPError, OSError) as exc:
            raise OutboundFailed(f"the request failed: {type(exc).__name__}") from None
        try:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > self._policy.max_response_bytes:
                    raise OutboundRefused(f"the response is larger than {self._policy.max_response_bytes} bytes")
                chunks.append(chunk)
        except httpx.TimeoutException:
            raise OutboundFailed("the response timed out") from None
        except httpx.HTTPError as exc:
            raise OutboundFailed(f"the response failed: {type(exc).__name__}") from None
        finally:
            await response.aclose()
        names = {k.lower(): v for k, v in response.headers.items()}
        return OutboundResponse(response.status_code, names, b"".join(chunks))


def _parse(address: str) -> IPAddress:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise OutboundFailed("the host name resolves to something that is not an address") from None


def parse_networks(items: Sequence[str]) -> tuple[IPNetwork, ...]:
    """CIDR blocks (or single addresses) of the `outbound_allowed_networks` setting."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items)
