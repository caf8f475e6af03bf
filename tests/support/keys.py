"""Tenant signing keys made once per session: a pool that every test draws from in the same order.

Making an RSA key (ID tokens are RS256 unless a client asks otherwise) and parsing it again are the
slowest steps of a tenant's first token. In tests, `KeyService` draws its new private keys from this
pool instead of `generate_private_key`: each test gets key 0, 1, 2... of each algorithm, so within a
test every key is new and distinct, as the service expects, while a key is made only the first time
any test needs that many. Parsing a pooled key (its public JWK, its signer) is done once as well.
Production code is unchanged; the fixtures in tests/conftest.py put the pool in place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lukhas_id.domain.keys import SigningAlg


class KeyPool:
    """PKCS#8 DER private keys by algorithm, handed out in order from `restart()` on."""

    def __init__(self, make: Callable[[SigningAlg], bytes]) -> None:
        self._make = make
        self._keys: dict[SigningAlg, list[bytes]] = {}
        self._next: dict[SigningAlg, int] = {}
        self._pooled: set[bytes] = set()
        self._parsed: dict[tuple[str, bytes, SigningAlg], Any] = {}
        self._lock = threading.Lock()

    def restart(self) -> None:
        """Start again from each algorithm's first key (at the start of each test)."""
        with self._lock:
            self._next.clear()

    def generate(self, alg: SigningAlg) -> bytes:
        """The next key of `alg` (made now if no test has needed this many yet)."""
        with self._lock:
            keys = self._keys.setdefault(alg, [])
            index = self._next.get(alg, 0)
            if index == len(keys):
                keys.append(self._make(alg))
                self._pooled.add(keys[-1])
            self._next[alg] = index + 1
            return keys[index]

    def parsed(self, parse: Callable[[bytes, SigningAlg], Any], name: str) -> Callable[[bytes, SigningAlg], Any]:
        """`parse` (a pure function of the key), remembered for the pool's own keys."""

        def remembered(der: bytes, alg: SigningAlg) -> Any:
            if der not in self._pooled:
                return parse(der, alg)
            key = (name, der, alg)
            with self._lock:
                if key in self._parsed:
                    return self._parsed[key]
            value = parse(der, alg)
            with self._lock:
                self._parsed[key] = value
            return value

        return remembered
