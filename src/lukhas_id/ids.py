"""ΛID identifiers: the one grammar for USR/AGT/SVC/SYS principals.

A ΛID is 31 ASCII characters, ``{TYPE}-{BODY}{CHECK}``: ``USR-014D2PF2DBSQQG28T5CY4TQKFFP`` is type
``USR``, body ``014D2PF2DBSQQG28T5CY4TQKFF`` (the value 0x0123456789ABCDEF0123456789ABCDEF) and check ``P``.

* TYPE is one of ``USR``, ``AGT``, ``SVC``, ``SYS`` (:class:`PrincipalType`).
* BODY is 26 characters of Crockford base32 encoding a 128-bit value, big-endian. 26 * 5 = 130 bits,
  so the top two bits are zero and the first body character is always ``0``-``7``.
* CHECK is one more Crockford base32 character, a weighted sum over GF(32) of the three type letters,
  the 26 body characters and itself (30 symbols, weights α^0 .. α^29). It detects every
  single-character substitution, every transposition of two different characters (adjacent or not)
  and every rewrite of the type prefix to another type.

Parsing is strict: exact upper case only, no whitespace trimming, no hyphens inside the body, no
Crockford aliases (``O``/``I``/``L``). Every rejection is an :class:`InvalidLid` whose message never
repeats more of the input than its 3-character type prefix.

This module only builds and checks the text. ΛIDs are unique across tenants; the database's unique
index on the ΛID enforces it, not this module. See docs/identifiers.md for the full specification.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from lukhas_id.domain.principal import PrincipalType

__all__ = [
    "ALPHABET",
    "LID_LENGTH",
    "InvalidLid",
    "Lid",
    "derive",
    "generate",
    "lid_type",
    "parse",
    "validate",
]

ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford base32, upper case: the digits and the letters without I, L, O and U."""

TYPE_LENGTH: Final = 3
BODY_LENGTH: Final = 26
LID_LENGTH: Final = TYPE_LENGTH + 1 + BODY_LENGTH + 1  # 31
VALUE_BITS: Final = 128
MIN_TENANT_SECRET_LENGTH: Final = 32
DERIVE_CONTEXT: Final = b"lukhas-id/lid/v1\x00"

_SEPARATOR: Final = "-"
_BODY_START: Final = TYPE_LENGTH + 1  # index of the first body character in the text
_CHECK_INDEX: Final = LID_LENGTH - 1
_MAX_LEAD_VALUE: Final = (1 << (VALUE_BITS - 5 * (BODY_LENGTH - 1))) - 1  # 7: first body char is 0-7
_TYPES: Final = frozenset(t.value for t in PrincipalType)
_TYPE_LIST: Final = ", ".join(t.value for t in PrincipalType)

# Character -> value for the 128 ASCII code points; -1 marks a character outside the alphabet.
_DECODE: Final[tuple[int, ...]] = tuple(ALPHABET.find(chr(code)) for code in range(128))

# GF(32) = GF(2)[x] / (x^5 + x^2 + 1). The polynomial is primitive, so α = x (the value 2) generates
# the multiplicative group, which has prime order 31: α^0 .. α^30 are 31 distinct non-zero elements.
_GF_POLY: Final = 0b100101
_GF_ORDER: Final = 31
# Symbols covered by the check: 3 type letters + 26 body characters + the check character itself.
_CHECKED_SYMBOLS: Final = TYPE_LENGTH + BODY_LENGTH + 1  # 30 <= 31, so every weight is distinct


def _gf_mul_slow(a: int, b: int) -> int:
    """Multiply two elements of GF(32) (carry-less multiplication reduced by x^5 + x^2 + 1)."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a & 0b100000:
            a ^= _GF_POLY
    return product


# The whole multiplication table (32 x 32), made once: a ΛID check is 30 products, and ΛIDs are parsed
# on request paths (the account bucket of a sign-in), where the bit loop above cost tens of microseconds.
_GF_TABLE: Final[tuple[tuple[int, ...], ...]] = tuple(tuple(_gf_mul_slow(a, b) for b in range(32)) for a in range(32))


def _gf_mul(a: int, b: int) -> int:
    """Multiply two elements of GF(32), by table."""
    return _GF_TABLE[a][b]


def _powers_of_alpha() -> tuple[int, ...]:
    powers = [1]
    for _ in range(_GF_ORDER - 1):
        powers.append(_gf_mul(powers[-1], 2))
    return tuple(powers)


_ALPHA_POWERS: Final = _powers_of_alpha()  # _ALPHA_POWERS[i] == α^i for i in 0..30
_WEIGHTS: Final = _ALPHA_POWERS[:_CHECKED_SYMBOLS]  # symbol i is weighted by α^i
# Solving Σ α^i·s_i ⊕ α^29·c = 0 for c: c = α^-29 · Σ α^i·s_i = α^(31-29) · Σ α^i·s_i.
_CHECK_SOLVER: Final = _ALPHA_POWERS[(_GF_ORDER - (_CHECKED_SYMBOLS - 1)) % _GF_ORDER]


def _type_symbols(prefix: str) -> tuple[int, ...]:
    """The type letters as GF(32) elements: the ASCII code mod 32 (A=1 .. Z=26)."""
    return tuple(ord(letter) & 0x1F for letter in prefix)


def _weighted_sum(symbols: Sequence[int]) -> int:
    """Σ α^i·s_i over GF(32) for symbols s_0, s_1, ... (at most 30 of them)."""
    total = 0
    for weight, symbol in zip(_WEIGHTS, symbols, strict=False):
        total ^= _GF_TABLE[weight][symbol]
    return total


def _check_value(prefix: str, body_values: Sequence[int]) -> int:
    """The check symbol c that makes the weighted sum of type, body and c zero."""
    return _gf_mul(_weighted_sum(_type_symbols(prefix) + tuple(body_values)), _CHECK_SOLVER)


class InvalidLid(ValueError):
    """The text is not a well-formed ΛID. The message names the rule it broke, never the input body."""


@dataclass(frozen=True, slots=True)
class Lid:
    """A parsed ΛID: the principal type and the 128-bit body value. ``str()`` gives the canonical text."""

    type: PrincipalType
    value: int

    def __post_init__(self) -> None:
        if not isinstance(self.type, PrincipalType):
            raise TypeError("Lid.type must be a PrincipalType")
        if not isinstance(self.value, int) or isinstance(self.value, bool):
            raise TypeError("Lid.value must be an int")
        if not 0 <= self.value < 1 << VALUE_BITS:
            raise ValueError("Lid.value must be a 128-bit unsigned integer")

    def __str__(self) -> str:
        body = [(self.value >> (5 * (BODY_LENGTH - 1 - k))) & 0x1F for k in range(BODY_LENGTH)]
        check = _check_value(self.type.value, body)
        return f"{self.type.value}{_SEPARATOR}{''.join(ALPHABET[v] for v in body)}{ALPHABET[check]}"


def generate(ptype: PrincipalType) -> str:
    """A new random ΛID of type ``ptype``: 128 bits from :mod:`secrets`."""
    return str(Lid(ptype, secrets.randbits(VALUE_BITS)))


def derive(ptype: PrincipalType, tenant_secret: bytes, seed: bytes | str) -> str:
    """A deterministic ΛID of type ``ptype`` for ``seed`` under the tenant's ΛID secret.

    The body is HMAC-SHA256(tenant_secret, b"lukhas-id/lid/v1\\x00" + TYPE + b"\\x00" + seed) truncated
    to its first 128 bits (big-endian). A ``str`` seed is UTF-8 encoded first, so ``"a"`` and ``b"a"``
    derive the same ΛID. Without the secret the result cannot be predicted or linked across tenants.
    """
    if not isinstance(ptype, PrincipalType):
        raise TypeError("ptype must be a PrincipalType")
    if not isinstance(tenant_secret, bytes):
        raise TypeError("tenant_secret must be bytes")
    if len(tenant_secret) < MIN_TENANT_SECRET_LENGTH:
        raise ValueError(f"tenant_secret must be at least {MIN_TENANT_SECRET_LENGTH} bytes")
    if isinstance(seed, str):
        seed_bytes = seed.encode("utf-8")
    elif isinstance(seed, bytes):
        seed_bytes = seed
    else:
        raise TypeError("seed must be bytes or str")
    message = DERIVE_CONTEXT + ptype.value.encode("ascii") + b"\x00" + seed_bytes
    digest = hmac.new(tenant_secret, message, hashlib.sha256).digest()
    return str(Lid(ptype, int.from_bytes(digest[: VALUE_BITS // 8], "big")))


def _bad_character(text: str, index: int) -> InvalidLid:
    """Explain why ``text[index]`` is not a body/check character without repeating it."""
    char = text[index]
    where = f"character {index + 1} of the ΛID"
    if not char.isascii():
        return InvalidLid(f"{where} is not ASCII; ΛIDs use Crockford base32 ({ALPHABET})")
    if char.upper() in ALPHABET and char != char.upper():
        return InvalidLid(f"{where} is lower case; ΛIDs are upper case only")
    if char in "ILOU":
        return InvalidLid(f"{where} is one of I, L, O, U, which Crockford base32 does not use")
    if char == _SEPARATOR:
        return InvalidLid(f"{where} is a '-'; only the type prefix is followed by '-'")
    return InvalidLid(f"{where} is not in the Crockford base32 alphabet ({ALPHABET})")


def parse(text: object) -> Lid:
    """Parse the canonical text form of a ΛID. Raises :class:`InvalidLid` for anything else."""
    if not isinstance(text, str):
        raise InvalidLid(f"a ΛID must be a str, not {type(text).__name__}")
    text = str.__str__(text)  # a plain str, whatever subclass was passed in
    if text[:1].isspace() or text[-1:].isspace():
        raise InvalidLid("a ΛID must not have leading or trailing whitespace")
    if len(text) != LID_LENGTH:
        raise InvalidLid(f"a ΛID is {LID_LENGTH} characters long, got {len(text)}")
    if text[TYPE_LENGTH] != _SEPARATOR:
        raise InvalidLid(f"a ΛID has '-' after its {TYPE_LENGTH}-letter type prefix (character 4)")
    prefix = text[:TYPE_LENGTH]
    if prefix not in _TYPES:
        hint = "; types are upper case" if prefix.upper() in _TYPES else ""
        raise InvalidLid(f"unknown ΛID type {ascii(prefix)}: expected one of {_TYPE_LIST}{hint}")

    values: list[int] = []
    for index in range(_BODY_START, LID_LENGTH):
        code = ord(text[index])
        value = _DECODE[code] if code < len(_DECODE) else -1
        if value < 0:
            raise _bad_character(text, index)
        values.append(value)
    body, check = values[:BODY_LENGTH], values[BODY_LENGTH]
    if body[0] > _MAX_LEAD_VALUE:
        raise InvalidLid(
            f"non-canonical ΛID: the first body character must be 0-{_MAX_LEAD_VALUE} "
            f"(the body encodes {VALUE_BITS} bits)"
        )
    if _check_value(prefix, body) != check:
        raise InvalidLid("ΛID check character does not match: the ΛID was mistyped or altered")

    value = 0
    for v in body:
        value = (value << 5) | v
    return Lid(PrincipalType(prefix), value)


def validate(text: object) -> bool:
    """True when ``text`` is a well-formed ΛID; never raises."""
    try:
        parse(text)
    except InvalidLid:
        return False
    return True


def lid_type(text: str) -> PrincipalType:
    """The principal type of a ΛID (parses the whole ΛID; raises :class:`InvalidLid`)."""
    return parse(text).type
