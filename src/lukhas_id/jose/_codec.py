"""Strict base64url (RFC 7515 §2, no padding) and strict JSON (RFC 8259; RFC 7515 §5.2, RFC 7519 §4).

Decoding is deliberately stricter than most libraries: padding, the standard alphabet and non-canonical
trailing bits are refused; JSON objects with duplicate member names, non-finite numbers and non-UTF-8 text
are refused.
"""

from __future__ import annotations

import base64
import json
import math

from joserfc.util import urlsafe_b64decode


def b64url_encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def b64url_decode(data: bytes) -> bytes:
    """Raises ValueError on anything but canonical unpadded base64url."""
    # joserfc's decoder refuses "=", "+", "/" and non-zero trailing bits; binascii.Error is a ValueError.
    return urlsafe_b64decode(data)


def _unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # "1e400" parses to inf
        raise ValueError("number out of range")
    return value


def _no_constant(text: str) -> object:
    raise ValueError("NaN and Infinity are not JSON")


# json (not orjson) because orjson silently keeps the last of duplicate members; json is the slower of
# the two (docs/PERFORMANCE.md), the price of refusing duplicates.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_members, parse_float=_finite_float, parse_constant=_no_constant)


def json_object(data: bytes) -> dict[str, object]:
    """Parse a JSON object; ValueError on invalid UTF-8/JSON, duplicates at any depth, or a non-object."""
    text = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    value: object = _DECODER.decode(text)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value
