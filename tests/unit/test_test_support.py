"""The test suite's own helpers (tests/support/): the session's key pool."""

from __future__ import annotations

from lukhas_id.domain.keys import SigningAlg
from tests.support.keys import KeyPool


def _counting_maker() -> tuple[KeyPool, list[SigningAlg]]:
    made: list[SigningAlg] = []

    def make(alg: SigningAlg) -> bytes:
        made.append(alg)
        return f"{alg.value}-{len(made)}".encode()

    return KeyPool(make), made


def test_keys_are_distinct_within_a_test_and_made_once_per_session() -> None:
    pool, made = _counting_maker()
    first = [pool.generate(SigningAlg.RS256) for _ in range(3)]
    assert len(set(first)) == 3
    assert pool.generate(SigningAlg.ES256) not in first
    pool.restart()  # the next test
    assert [pool.generate(SigningAlg.RS256) for _ in range(4)][:3] == first
    assert made == [SigningAlg.RS256] * 3 + [SigningAlg.ES256] + [SigningAlg.RS256]


def test_only_the_pools_own_keys_are_parsed_once() -> None:
    pool, _ = _counting_maker()
    calls: list[bytes] = []

    def parse(der: bytes, alg: SigningAlg) -> object:
        calls.append(der)
        return object()

    parsed = pool.parsed(parse, "p")
    key = pool.generate(SigningAlg.ES256)
    assert parsed(key, SigningAlg.ES256) is parsed(key, SigningAlg.ES256)
    assert parsed(b"other", SigningAlg.ES256) is not parsed(b"other", SigningAlg.ES256)
    assert calls == [key, b"other", b"other"]
