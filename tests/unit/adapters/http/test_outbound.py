"""The hardened outbound HTTP client (adapters/http/outbound.py): every refusal, and what it does allow."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from lukhas_id.adapters.http.outbound import (
    HardenedHttpClient,
    OutboundPolicy,
    address_refusal,
    check_url,
    parse_networks,
)
from lukhas_id.ports.outbound_http import OutboundFailed, OutboundRefused
from tests.support.receiver import Answer, receiving

LOOPBACK = OutboundPolicy(allow_loopback=True, total_timeout=5)
STRICT = OutboundPolicy()


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "must use https"),
        ("file:///etc/passwd", "must use https"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https:///nohost", "no host"),
        ("https://example.com:99999/", "cannot be parsed"),
        ("https://exa mple.com/", "white space"),
        ("/relative", "must use https"),
    ],
)
def test_urls_refused_before_any_lookup(url: str, reason: str) -> None:
    with pytest.raises(OutboundRefused, match=reason):
        check_url(url)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - the address refused, not bound
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("100.64.0.1", "not globally routable"),
        ("240.0.0.1", "private"),
    ],
)
def test_addresses_refused(address: str, reason: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address), STRICT)
    assert refusal is not None and reason in refusal


def test_public_addresses_allowed() -> None:
    for address in ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"):
        assert address_refusal(ipaddress.ip_address(address), STRICT) is None


def test_allowed_networks_and_loopback_flag() -> None:
    policy = OutboundPolicy(allowed_networks=parse_networks(["10.0.0.0/8", "fd00::/8"]))
    assert address_refusal(ipaddress.ip_address("10.9.9.9"), policy) is None
    assert address_refusal(ipaddress.ip_address("fd00::5"), policy) is None
    assert address_refusal(ipaddress.ip_address("192.168.0.1"), policy) == "a private address"
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), policy) == "a loopback address"
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), LOOPBACK) is None
    assert address_refusal(ipaddress.ip_address("10.0.0.1"), LOOPBACK) == "a private address"


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    client = HardenedHttpClient(STRICT, resolver=resolving_to("10.0.0.7"))
    try:
        with pytest.raises(OutboundRefused, match="private"):
            await client.post("https://receiver.example/events", b"x", {})
    finally:
        await client.aclose()


async def test_one_bad_address_among_good_ones_refuses() -> None:
    client = HardenedHttpClient(STRICT, resolver=resolving_to("93.184.215.14", "169.254.169.254"))
    try:
        with pytest.raises(OutboundRefused, match="link-local"):
            await client.get("https://receiver.example/", {})
    finally:
        await client.aclose()


async def test_unresolvable_name_fails() -> None:
    client = HardenedHttpClient(STRICT, resolver=resolving_to())
    try:
        with pytest.raises(OutboundFailed, match="does not resolve"):
            await client.get("https://receiver.example/", {})
    finally:
        await client.aclose()


async def test_loopback_literal_refused_without_the_flag() -> None:
    async with receiving() as rx:
        client = HardenedHttpClient(OutboundPolicy())
        try:
            with pytest.raises(OutboundRefused, match="loopback"):
                await client.post(rx.url, b"x", {})
        finally:
            await client.aclose()
        assert rx.requests == []


async def test_plain_http_only_to_loopback_in_development_mode() -> None:
    client = HardenedHttpClient(LOOPBACK, resolver=resolving_to("93.184.215.14"))
    try:
        with pytest.raises(OutboundRefused, match="must use https"):
            await client.get("http://receiver.example/", {})
    finally:
        await client.aclose()
    allowed = HardenedHttpClient(OutboundPolicy(allowed_networks=parse_networks(["127.0.0.0/8"])))
    try:
        with pytest.raises(OutboundRefused, match="must use https"):  # an allowed network is still https only
            await allowed.get("http://127.0.0.1:1/", {})
    finally:
        await allowed.aclose()


async def test_connects_to_the_checked_address_with_the_name_as_host() -> None:
    """DNS rebinding: the name is resolved once, checked, and that address is the one connected to."""
    async with receiving(Answer(202, b"ok")) as rx:
        calls: list[str] = []

        async def resolve(host: str, port: int) -> Sequence[str]:
            calls.append(host)
            return ["127.0.0.1"] if len(calls) == 1 else ["10.0.0.1"]

        client = HardenedHttpClient(LOOPBACK, resolver=resolve)
        try:
            answer = await client.post(f"http://receiver.test:{rx.port}/events?a=1", b"set", {"x-test": "1"})
        finally:
            await client.aclose()
        assert calls == ["receiver.test"]
        assert answer.status == 202 and answer.body == b"ok"
        (request,) = rx.requests
        assert request.headers["host"] == f"receiver.test:{rx.port}"
        assert request.target == "/events?a=1" and request.body == b"set" and request.headers["x-test"] == "1"


async def test_redirects_are_not_followed() -> None:
    async with receiving(Answer(302, b"", headers={"location": "http://127.0.0.1:1/elsewhere"})) as rx:
        client = HardenedHttpClient(LOOPBACK)
        try:
            answer = await client.get(rx.url, {})
        finally:
            await client.aclose()
        assert answer.status == 302 and len(rx.requests) == 1


async def test_large_response_refused() -> None:
    async with receiving(Answer(200, b"x" * 5000), Answer(200, b"y" * 100)) as rx:
        client = HardenedHttpClient(OutboundPolicy(allow_loopback=True, max_response_bytes=4096))
        try:
            with pytest.raises(OutboundRefused, match="larger than 4096"):
                await client.get(rx.url, {})
            small = await client.get(rx.url.replace("events", "again"), {})
        finally:
            await client.aclose()
        assert small.status == 200  # the same bound, a body under it: the client is still usable


async def test_slow_answer_times_out() -> None:
    async with receiving(Answer(202, b"", delay=2.0)) as rx:
        client = HardenedHttpClient(OutboundPolicy(allow_loopback=True, read_timeout=0.3))
        try:
            with pytest.raises(OutboundFailed, match="timed out"):
                await client.post(rx.url, b"x", {})
        finally:
            await client.aclose()


async def test_total_time_is_bounded_even_for_a_slow_resolver() -> None:
    import asyncio

    async def slow(host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(5)
        return ["93.184.215.14"]

    client = HardenedHttpClient(OutboundPolicy(total_timeout=0.2), resolver=slow)
    try:
        with pytest.raises(OutboundFailed, match="timed out"):
            await client.get("https://receiver.example/", {})
    finally:
        await client.aclose()


async def test_connection_refused_is_a_failure() -> None:
    client = HardenedHttpClient(LOOPBACK)
    try:
        with pytest.raises(OutboundFailed, match="request failed"):
            await client.get("http://127.0.0.1:1/", {})
    finally:
        await client.aclose()


async def test_environment_proxies_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    async with receiving(Answer(202)) as rx:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
        monkeypatch.delenv("NO_PROXY", raising=False)
        client = HardenedHttpClient(LOOPBACK)
        try:
            answer = await client.post(rx.url, b"x", {})
        finally:
            await client.aclose()
        assert answer.status == 202 and len(rx.requests) == 1
