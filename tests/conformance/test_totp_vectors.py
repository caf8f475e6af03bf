"""Spec vectors for services/totp.py's TOTP arithmetic: RFC 6238 Appendix B (SHA-1/256/512, 8 digits),
through pyotp with the service's parameters (T0 = 0, X = 30 s), plus time steps beyond 2^32."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest

from lukhas_id.services import totp

DOC: dict[str, Any] = json.loads((Path(__file__).parent / "rfc6238_totp.json").read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = DOC["vectors"]
IDS = [v["name"] for v in VECTORS]
DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def seed(mode: str) -> bytes:
    return str(DOC["seeds_ascii"][mode]).encode("ascii")


def b32(secret: bytes) -> str:
    return base64.b32encode(secret).decode("ascii")


def reference_totp(secret: bytes, step: int, digits: int, mode: str) -> str:
    """RFC 4226 §5.3 written out (8-byte big-endian counter, dynamic truncation), independent of pyotp."""
    mac = hmac.new(secret, struct.pack(">Q", step), DIGESTS[mode]).digest()
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def test_the_fixture_is_appendix_b() -> None:
    assert len(VECTORS) == 18
    assert {v["mode"] for v in VECTORS} == set(DIGESTS)
    assert [len(seed(m)) for m in ("SHA1", "SHA256", "SHA512")] == [20, 32, 64]
    assert DOC["period"] == totp.TOTP_PERIOD


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_utc_time_and_step(vector: dict[str, Any]) -> None:
    when = datetime.fromtimestamp(vector["time"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert when == vector["utc"]
    assert totp.time_step(vector["time"]) == int(vector["step_hex"], 16)


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_pyotp_with_the_service_parameters(vector: dict[str, Any]) -> None:
    mode = vector["mode"]
    otp = pyotp.TOTP(b32(seed(mode)), digits=DOC["digits"], digest=DIGESTS[mode], interval=totp.TOTP_PERIOD)
    assert otp.at(vector["time"]) == vector["totp"]
    assert otp.verify(vector["totp"], for_time=vector["time"])


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_service_code_function(vector: dict[str, Any]) -> None:
    mode, step = vector["mode"], totp.time_step(vector["time"])
    assert totp.totp_code(seed(mode), step, digits=DOC["digits"], algorithm=mode) == vector["totp"]
    assert reference_totp(seed(mode), step, DOC["digits"], mode) == vector["totp"]


def test_service_defaults_are_the_universal_parameters() -> None:
    assert (totp.TOTP_ALGORITHM, totp.TOTP_DIGITS, totp.TOTP_PERIOD, totp.TOTP_SECRET_BYTES) == ("SHA1", 6, 30, 20)
    # The six-digit SHA-1 value is the low six digits of the eight-digit one (same truncation).
    assert totp.totp_code(seed("SHA1"), 1) == "287082"


@pytest.mark.parametrize("mode", sorted(DIGESTS))
def test_steps_beyond_32_bits(mode: str) -> None:
    """RFC 6238 §4.2: T must not be limited to 32 bits (unix time past 2038, and steps past 2^32)."""
    # 2^32 * 30 + 45 seconds: the year 6053, still inside pyotp's range (before the year 10000).
    t = (1 << 32) * totp.TOTP_PERIOD + 45
    step = totp.time_step(t)
    assert step == (1 << 32) + 1
    expected = reference_totp(seed(mode), step, 8, mode)
    assert totp.totp_code(seed(mode), step, digits=8, algorithm=mode) == expected
    otp = pyotp.TOTP(b32(seed(mode)), digits=8, digest=DIGESTS[mode], interval=totp.TOTP_PERIOD)
    assert otp.at(t) == expected
    # Truncating the counter to 32 bits would give step 1, i.e. the T = 59 s value: not what we get.
    assert expected != reference_totp(seed(mode), 1, 8, mode)
    # Unix time past 2^31 and 2^32 seconds (2038 and 2106).
    for t in (2**31 + 7, 2**32 + 7):
        assert totp.totp_code(seed(mode), totp.time_step(t), digits=8, algorithm=mode) == otp.at(t)
