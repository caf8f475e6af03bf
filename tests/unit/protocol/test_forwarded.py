"""The client's address behind trusted proxies (protocol/forwarded.py): RFC 7239 Forwarded, X-Forwarded-For."""

from __future__ import annotations

import pytest

from lukhas_id.protocol.forwarded import client_address, forwarded_for, is_trusted_proxy, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "2001:db8:1::/48"])


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("203.0.113.5", (), x_forwarded=["198.51.100.1"]) == "203.0.113.5"
    assert client_address(None, PROXIES) is None


def test_an_untrusted_peer_cannot_choose_its_address() -> None:
    assert client_address("203.0.113.5", PROXIES, x_forwarded=["198.51.100.1"]) == "203.0.113.5"
    assert client_address("203.0.113.5", PROXIES, forwarded=["for=198.51.100.1"]) == "203.0.113.5"


def test_the_nearest_untrusted_hop_is_the_client() -> None:
    # The client wrote "1.2.3.4" itself; the trusted proxies appended what they saw.
    hops = ["1.2.3.4, 198.51.100.7, 10.1.1.1"]
    assert client_address("10.0.0.2", PROXIES, x_forwarded=hops) == "198.51.100.7"
    assert client_address("10.0.0.2", PROXIES, x_forwarded=["1.2.3.4", "198.51.100.7"]) == "198.51.100.7"


def test_forwarded_takes_precedence_and_is_parsed_per_rfc_7239() -> None:
    values = ['for=192.0.2.43;proto=https, for="[2001:db8:cafe::17]:4711";by=10.0.0.1']
    assert forwarded_for(values) == ["192.0.2.43", '"[2001:db8:cafe::17]:4711"']
    assert client_address("10.0.0.2", PROXIES, forwarded=values, x_forwarded=["198.51.100.1"]) == "2001:db8:cafe::17"
    assert client_address("10.0.0.2", PROXIES, forwarded=["For=192.0.2.60:8080"]) == "192.0.2.60"
    assert client_address("10.0.0.2", PROXIES, forwarded=["for=::ffff:192.0.2.9"]) == "192.0.2.9"


@pytest.mark.parametrize("hop", ["unknown", "_hidden", "not-an-address", '"[2001:db8::1"', ""])
def test_an_unreadable_hop_means_the_nearest_trusted_proxy(hop: str) -> None:
    assert client_address("10.0.0.2", PROXIES, x_forwarded=[f"198.51.100.1, {hop}"]) == "10.0.0.2"
    assert client_address("10.0.0.2", PROXIES, forwarded=[f"for={hop}"]) == "10.0.0.2"


def test_only_proxies_on_the_path_is_the_farthest_one() -> None:
    assert client_address("10.0.0.2", PROXIES, x_forwarded=["10.9.9.9, 10.0.0.3"]) == "10.9.9.9"
    assert client_address("10.0.0.2", PROXIES) == "10.0.0.2"


def test_networks_must_be_addresses_or_blocks() -> None:
    assert [str(n) for n in parse_networks(["127.0.0.1", "10.1.2.3/8"])] == ["127.0.0.1/32", "10.0.0.0/8"]
    with pytest.raises(ValueError):
        parse_networks(["proxy.example"])


def test_is_trusted_proxy() -> None:
    assert is_trusted_proxy("10.1.2.3", PROXIES) and is_trusted_proxy("2001:db8:1::5", PROXIES)
    assert not is_trusted_proxy("203.0.113.5", PROXIES)
    assert not is_trusted_proxy("not-an-address", PROXIES) and not is_trusted_proxy(None, PROXIES)
