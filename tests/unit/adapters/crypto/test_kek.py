"""adapters/crypto/kek.py: AES-256-GCM envelope encryption under the KEK (SecretBox)."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from lukhas_id.adapters.crypto.kek import (
    Kek,
    ensure_kek_file,
    load_kek_file,
    new_kek_b64,
    parse_kek_b64,
)
from lukhas_id.errors import KeyUnavailable
from lukhas_id.ports.crypto import SecretBox

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def test_is_a_secret_box() -> None:
    box: SecretBox = Kek(KEY)
    assert box.decrypt(box.encrypt(b"x")) == b"x"


@pytest.mark.parametrize("plaintext", [b"", b"a", b"private key DER" * 100])
def test_round_trip(plaintext: bytes) -> None:
    kek = Kek(KEY)
    assert kek.decrypt(kek.encrypt(plaintext)) == plaintext
    assert Kek(KEY).decrypt(kek.encrypt(plaintext)) == plaintext


def test_blob_layout() -> None:
    kek = Kek(KEY)
    blob = kek.encrypt(b"hello")
    assert blob[:1] == b"\x01"
    assert blob[1:9].hex() == kek.key_id
    assert len(blob) == 1 + 8 + 12 + len(b"hello") + 16


def test_nonces_are_random() -> None:
    kek = Kek(KEY)
    assert kek.encrypt(b"same") != kek.encrypt(b"same")


def test_key_id() -> None:
    kek = Kek(KEY)
    assert kek.key_id == hashlib.sha256(b"lukhas-id/kek-id\x00" + KEY).digest()[:8].hex()
    assert len(kek.key_id) == 16
    assert kek.key_id != Kek(OTHER).key_id
    assert KEY.hex() not in repr(kek)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, b"\x00" * 64])
def test_key_must_be_32_bytes(bad: bytes) -> None:
    with pytest.raises(ValueError) as info:
        Kek(bad)
    assert "32" in str(info.value)


def test_length_error_does_not_show_the_key() -> None:
    key = b"S3cr3t-key-material-1234567890-X!"
    with pytest.raises(ValueError) as info:
        Kek(key)
    assert "S3cr3t" not in str(info.value) and key.hex() not in str(info.value)


@pytest.mark.parametrize(
    ("offset", "region"),
    [(9, "nonce"), (9 + 11, "nonce end"), (21, "ciphertext"), (-16, "tag start"), (-1, "tag end")],
)
def test_tamper_detection(offset: int, region: str) -> None:
    kek = Kek(KEY)
    blob = bytearray(kek.encrypt(b"secret payload"))
    blob[offset] ^= 0x01
    with pytest.raises(KeyUnavailable, match="tampered"):
        kek.decrypt(bytes(blob))


def test_key_id_in_blob_is_authenticated() -> None:
    # Same key, but a blob whose key id bytes were altered: reported as another KEK, never decrypted.
    kek = Kek(KEY)
    blob = bytearray(kek.encrypt(b"secret"))
    blob[1] ^= 0x01
    with pytest.raises(KeyUnavailable, match="another KEK"):
        kek.decrypt(bytes(blob))


def test_wrong_kek_names_key_ids_not_keys() -> None:
    blob = Kek(OTHER).encrypt(b"secret")
    with pytest.raises(KeyUnavailable) as info:
        Kek(KEY).decrypt(blob)
    message = str(info.value)
    assert "encrypted under another KEK" in message
    assert Kek(OTHER).key_id in message and Kek(KEY).key_id in message
    for key in (KEY, OTHER):
        assert key.hex() not in message
        assert base64.b64encode(key).decode() not in message


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + b"\x00" * 35])
def test_short_blob(blob: bytes) -> None:
    with pytest.raises(KeyUnavailable, match="truncated"):
        Kek(KEY).decrypt(blob)


@pytest.mark.parametrize("version", [b"\x00", b"\x02", b"\xff"])
def test_unknown_version(version: bytes) -> None:
    kek = Kek(KEY)
    with pytest.raises(KeyUnavailable, match="version"):
        kek.decrypt(version + kek.encrypt(b"secret")[1:])


# --- base64 and files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        lambda k: base64.b64encode(k).decode(),
        lambda k: base64.b64encode(k).decode().rstrip("="),
        lambda k: base64.urlsafe_b64encode(k).decode(),
        lambda k: base64.urlsafe_b64encode(k).decode().rstrip("="),
        lambda k: "  " + base64.b64encode(k).decode() + "\n",
    ],
)
def test_parse_kek_b64_forms(encode: Callable[[bytes], str]) -> None:
    key = bytes([0xFB, 0xFF] * 16)  # has "+/" in standard base64 and "-_" in URL-safe
    assert parse_kek_b64(encode(key)) == key


@pytest.mark.parametrize("text", ["", "   ", "not base64 at all!", "AAAA*AAA", "=" * 44])
def test_parse_kek_b64_bad_base64(text: str) -> None:
    with pytest.raises(ValueError, match="KEK"):
        parse_kek_b64(text)


@pytest.mark.parametrize("size", [16, 31, 33, 64])
def test_parse_kek_b64_bad_length(size: int) -> None:
    with pytest.raises(ValueError, match=f"exactly 32 bytes, not {size}"):
        parse_kek_b64(base64.b64encode(b"\x01" * size).decode())


def test_new_kek_b64() -> None:
    first, second = new_kek_b64(), new_kek_b64()
    assert len(parse_kek_b64(first)) == 32
    assert first != second


def test_ensure_creates_file_with_0600(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "nested" / "kek"
    key, created = ensure_kek_file(path)
    assert created
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_kek_file(path) == key


def test_ensure_creates_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        _, created = ensure_kek_file(tmp_path / "kek")
    finally:
        os.umask(old)
    assert created
    assert stat.S_IMODE((tmp_path / "kek").stat().st_mode) == 0o600


def test_ensure_does_not_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    text = base64.b64encode(KEY).decode()
    path.write_text(text + "\n")
    key, created = ensure_kek_file(path)
    assert (key, created) == (KEY, False)
    assert path.read_text() == text + "\n"
    again, created_again = ensure_kek_file(path)
    assert (again, created_again) == (KEY, False)


def test_ensure_is_stable(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    first, _ = ensure_kek_file(path)
    second, created = ensure_kek_file(path)
    assert (second, created) == (first, False)


@pytest.mark.parametrize(
    "content",
    [b"", b"not base64!", base64.b64encode(b"\x00" * 16), b"\xff\xfe\x00garbage"],
)
def test_load_bad_file_names_only_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "deep" / "kek.b64"
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        load_kek_file(path)
    message = str(info.value)
    assert "kek.b64" in message
    assert str(tmp_path) not in message
    if content:
        assert content.decode("latin-1") not in message


def test_ensure_reports_bad_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    path.write_text("short")
    with pytest.raises(ValueError, match="KEK file kek"):
        ensure_kek_file(path)
    assert path.read_text() == "short"
