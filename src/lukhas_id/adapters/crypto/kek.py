"""KEK envelope encryption of secrets at rest: AES-256-GCM (NIST SP 800-38D), the SecretBox port.

Blob layout (version 1):

    0x01 | key id (8 bytes) | nonce (12 random bytes) | ciphertext || tag (16 bytes)

The version byte and key id are authenticated as associated data, so they cannot be swapped either. The key
id is a non-secret fingerprint of the KEK: a blob made under another KEK is reported as such (with both key
ids, never the keys) instead of as a generic authentication failure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lukhas_id.errors import KeyUnavailable

__all__ = ["Kek", "ensure_kek_file", "load_kek_file", "new_kek_b64", "parse_kek_b64"]

KEK_BYTES = 32
VERSION = b"\x01"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER_BYTES = len(VERSION) + KEY_ID_BYTES
_MIN_BLOB = _HEADER_BYTES + NONCE_BYTES + TAG_BYTES
_KEY_ID_LABEL = b"lukhas-id/kek-id\x00"


class Kek:
    """A 256-bit key-encryption key (SecretBox)."""

    __slots__ = ("_aead", "_key_id", "_prefix")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) != KEK_BYTES:
            raise ValueError(f"the KEK must be exactly {KEK_BYTES} bytes")
        key_id = hashlib.sha256(_KEY_ID_LABEL + bytes(key)).digest()[:KEY_ID_BYTES]
        self._aead = AESGCM(bytes(key))
        self._key_id = key_id
        self._prefix = VERSION + key_id

    @property
    def key_id(self) -> str:
        """Short non-secret fingerprint (16 hex digits) naming this KEK in logs and errors."""
        return self._key_id.hex()

    def __repr__(self) -> str:
        return f"Kek(key_id={self.key_id!r})"

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)  # random 96-bit nonce: fine far below 2^32 messages per key
        return self._prefix + nonce + self._aead.encrypt(nonce, plaintext, self._prefix)

    def decrypt(self, blob: bytes) -> bytes:
        if len(blob) < _MIN_BLOB:
            raise KeyUnavailable("encrypted secret is truncated")
        if blob[:1] != VERSION:
            raise KeyUnavailable("encrypted secret has an unknown format version")
        header = blob[:_HEADER_BYTES]
        if header != self._prefix:
            raise KeyUnavailable(
                f"secret was encrypted under another KEK (key id {blob[1:_HEADER_BYTES].hex()}; "
                f"the configured KEK has key id {self.key_id})"
            )
        nonce = blob[_HEADER_BYTES : _HEADER_BYTES + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[_HEADER_BYTES + NONCE_BYTES :], header)
        except InvalidTag:
            raise KeyUnavailable(
                f"encrypted secret failed authentication under KEK {self.key_id} (corrupt or tampered)"
            ) from None


def parse_kek_b64(text: str) -> bytes:
    """Decode a KEK from base64 (standard or URL-safe alphabet, padding optional) of exactly 32 bytes."""
    compact = "".join(text.split())
    if not compact:
        raise ValueError("the KEK is empty")
    unpadded = compact.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the KEK is not valid base64") from None
    if len(key) != KEK_BYTES:
        raise ValueError(f"the KEK must decode to exactly {KEK_BYTES} bytes, not {len(key)}")
    return key


def load_kek_file(path: Path) -> bytes:
    """Read a KEK file holding base64 text; ValueError naming only the file (never its content)."""
    data = path.read_bytes()
    try:
        return parse_kek_b64(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        reason = "it is not ASCII base64 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise ValueError(f"KEK file {path.name}: {reason}") from None


def ensure_kek_file(path: Path) -> tuple[bytes, bool]:
    """The KEK in path, creating the file (mode 0600, never readable by others) with a fresh key if absent.

    Returns (key, created). If another process creates the file first, its key is used.
    """
    if path.exists():
        return load_kek_file(path), False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = new_kek_b64()
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return load_kek_file(path), False
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(text + "\n")
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return parse_kek_b64(text), True


def new_kek_b64() -> str:
    """A fresh random KEK as standard padded base64 (44 characters)."""
    return base64.b64encode(secrets.token_bytes(KEK_BYTES)).decode("ascii")
