"""Envelope encryption of secrets at rest (private keys, tenant id secrets) under the KEK."""

from __future__ import annotations

from typing import Protocol


class SecretBox(Protocol):
    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, blob: bytes) -> bytes:
        """Raises KeyUnavailable when the blob was not made under this key or was tampered with."""
        ...
