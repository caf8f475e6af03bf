"""ΛID grammar (lukhas_id.ids): round trips, derivation, strict parsing and exhaustive proofs of the check."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import random
import string
from collections.abc import Iterable

import pytest

from lukhas_id import ids
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.ids import ALPHABET, InvalidLid, Lid, derive, generate, lid_type, parse, validate

TYPES = list(PrincipalType)
SECRET_A = bytes(range(32))
SECRET_B = bytes(range(1, 33))
CHECK_MISMATCH = "check character does not match"
NON_CANONICAL = "non-canonical"

# Pinned vectors: if any of these change, the grammar changed and every stored ΛID just became invalid.
KNOWN_VECTORS = [
    (PrincipalType.USER, 0, "USR-00000000000000000000000000T"),
    (PrincipalType.AGENT, 0, "AGT-00000000000000000000000000Y"),
    (PrincipalType.SERVICE, 0, "SVC-00000000000000000000000000J"),
    (PrincipalType.SYSTEM, 0, "SYS-000000000000000000000000008"),
    (PrincipalType.USER, 2**128 - 1, "USR-7ZZZZZZZZZZZZZZZZZZZZZZZZZZ"),
    (PrincipalType.AGENT, 2**128 - 1, "AGT-7ZZZZZZZZZZZZZZZZZZZZZZZZZV"),
    (PrincipalType.SERVICE, 2**128 - 1, "SVC-7ZZZZZZZZZZZZZZZZZZZZZZZZZQ"),
    (PrincipalType.SYSTEM, 2**128 - 1, "SYS-7ZZZZZZZZZZZZZZZZZZZZZZZZZD"),
    (PrincipalType.USER, 0x0123456789ABCDEF0123456789ABCDEF, "USR-014D2PF2DBSQQG28T5CY4TQKFFP"),
    (PrincipalType.AGENT, 0x0123456789ABCDEF0123456789ABCDEF, "AGT-014D2PF2DBSQQG28T5CY4TQKFFJ"),
    (PrincipalType.SERVICE, 0x0123456789ABCDEF0123456789ABCDEF, "SVC-014D2PF2DBSQQG28T5CY4TQKFFY"),
    (PrincipalType.SYSTEM, 0x0123456789ABCDEF0123456789ABCDEF, "SYS-014D2PF2DBSQQG28T5CY4TQKFF4"),
]
KNOWN_DERIVED = [
    (PrincipalType.USER, b"\x00" * 32, "alice@example.com", "USR-67VZCBVRWDEZPHKTQZ6XNW406Z7"),
    (PrincipalType.SERVICE, SECRET_A, b"billing", "SVC-5BVVYGJ5RAX6YKWA0GP9MHQGWGN"),
]
VALID = "USR-014D2PF2DBSQQG28T5CY4TQKFFP"


def _sample_lids() -> dict[str, str]:
    """The ids the exhaustive mutation tests run on: fixed ones, seeded random ones and fresh ones."""
    rng = random.Random(0x1D)  # reproducible test data
    samples = {f"fixed-{i}": text for i, (_, _, text) in enumerate(KNOWN_VECTORS[::3])}
    samples |= {f"derived-{i}": text for i, (*_, text) in enumerate(KNOWN_DERIVED)}
    samples |= {f"seeded-{t.value}": str(Lid(t, rng.getrandbits(128))) for t in TYPES}
    samples |= {f"fresh-{t.value}": generate(t) for t in TYPES}
    return samples


SAMPLES = _sample_lids()
SAMPLE_LIDS = pytest.mark.parametrize("text", list(SAMPLES.values()), ids=list(SAMPLES))


# --- an independent reference implementation of the check, written from the spec


def _ref_gf_mul(a: int, b: int) -> int:
    """GF(32) product by plain polynomial multiplication, then long division by x^5 + x^2 + 1."""
    product = 0
    for bit in range(5):
        if (b >> bit) & 1:
            product ^= a << bit
    for degree in range(8, 4, -1):  # the product has degree <= 8
        if (product >> degree) & 1:
            product ^= 0b100101 << (degree - 5)
    return product


def _ref_lid(ptype: PrincipalType, value: int) -> str:
    """Encode per docs/identifiers.md, finding the check by trying all 32 candidates."""
    body = ""
    for _ in range(26):
        body = ALPHABET[value % 32] + body
        value //= 32
    symbols = [ord(c) % 32 for c in ptype.value] + [ALPHABET.index(c) for c in body]
    alpha_powers = [1]
    for _ in range(29):
        alpha_powers.append(_ref_gf_mul(alpha_powers[-1], 2))
    (check,) = [
        c
        for c in range(32)
        if _xor_all(_ref_gf_mul(w, s) for w, s in zip(alpha_powers, [*symbols, c], strict=True)) == 0
    ]
    return f"{ptype.value}-{body}{ALPHABET[check]}"


def _xor_all(values: Iterable[int]) -> int:
    total = 0
    for v in values:
        total ^= v
    return total


def test_gf_multiplication_matches_the_reference_for_all_pairs() -> None:
    for a, b in itertools.product(range(32), repeat=2):
        assert ids._gf_mul(a, b) == _ref_gf_mul(a, b), (a, b)


def test_alpha_is_primitive_so_all_thirty_weights_are_distinct_and_non_zero() -> None:
    powers = ids._ALPHA_POWERS
    assert len(powers) == 31
    assert powers[1] == 2  # α = x, not 1
    assert sorted(powers) == list(range(1, 32))  # α generates every non-zero element: order 31
    assert ids._gf_mul(powers[30], 2) == 1  # α^31 = 1
    assert len(ids._WEIGHTS) == 30 == len(set(ids._WEIGHTS))
    assert 0 not in ids._WEIGHTS


def test_encoder_matches_the_reference_implementation() -> None:
    rng = random.Random(7)
    values = [0, 1, 31, 32, 2**127, 2**128 - 1] + [rng.getrandbits(128) for _ in range(200)]
    for ptype, value in itertools.product(TYPES, values):
        assert str(Lid(ptype, value)) == _ref_lid(ptype, value)


# --- pinned vectors


@pytest.mark.parametrize(("ptype", "value", "text"), KNOWN_VECTORS)
def test_known_vector(ptype: PrincipalType, value: int, text: str) -> None:
    assert str(Lid(ptype, value)) == text
    assert parse(text) == Lid(ptype, value)
    assert len(text) == ids.LID_LENGTH == 31


@pytest.mark.parametrize(("ptype", "secret", "seed", "text"), KNOWN_DERIVED)
def test_known_derived_vector(ptype: PrincipalType, secret: bytes, seed: bytes | str, text: str) -> None:
    assert derive(ptype, secret, seed) == text


# --- round trips


@pytest.mark.parametrize("ptype", TYPES)
def test_generate_parse_str_round_trip(ptype: PrincipalType) -> None:
    for _ in range(100):
        text = generate(ptype)
        lid = parse(text)
        assert lid.type is ptype
        assert 0 <= lid.value < 2**128
        assert str(lid) == text
        assert lid_type(text) is ptype
        assert validate(text)
        assert text.startswith(f"{ptype.value}-") and len(text) == 31
        assert text[4] in "01234567"


def test_whatever_parses_is_its_own_canonical_text() -> None:
    """The rule callers rely on to skip `str(parse(t))` (the sign-in limiter's account key): a text that
    parses is already canonical. Every single-character change of generated ΛIDs either fails to parse
    or parses to itself."""
    rng = random.Random(7)
    alphabet = ALPHABET + ALPHABET.lower() + "ILOU-_ "
    for ptype in TYPES:
        for _ in range(25):
            text = generate(ptype)
            for index in range(len(text)):
                variant = text[:index] + rng.choice(alphabet) + text[index + 1 :]
                if validate(variant):
                    assert str(parse(variant)) == variant


def test_thousand_generated_ids_are_distinct_and_valid() -> None:
    texts = [generate(TYPES[i % 4]) for i in range(1000)]
    assert len(set(texts)) == 1000
    assert len({t[4:30] for t in texts}) == 1000
    assert all(validate(t) for t in texts)


def test_lid_value_round_trip_and_edges() -> None:
    rng = random.Random(3)
    for value in [0, 1, 2**64, 2**128 - 1, *(rng.getrandbits(128) for _ in range(100))]:
        for ptype in TYPES:
            assert parse(str(Lid(ptype, value))) == Lid(ptype, value)


def test_lid_is_frozen_and_checks_its_fields() -> None:
    lid = Lid(PrincipalType.USER, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lid.value = 6  # type: ignore[misc]
    assert hash(lid) == hash(Lid(PrincipalType.USER, 5))
    with pytest.raises(ValueError, match="128-bit"):
        Lid(PrincipalType.USER, 2**128)
    with pytest.raises(ValueError, match="128-bit"):
        Lid(PrincipalType.USER, -1)
    with pytest.raises(TypeError):
        Lid(PrincipalType.USER, True)
    with pytest.raises(TypeError):
        Lid("USR", 1)  # type: ignore[arg-type]


# --- derive


def test_derive_is_the_specified_hmac() -> None:
    for ptype in TYPES:
        mac = hmac.new(SECRET_A, b"lukhas-id/lid/v1\x00" + ptype.value.encode() + b"\x00seed", hashlib.sha256)
        assert parse(derive(ptype, SECRET_A, b"seed")) == Lid(ptype, int.from_bytes(mac.digest()[:16], "big"))


def test_derive_is_deterministic() -> None:
    for ptype in TYPES:
        assert derive(ptype, SECRET_A, "alice") == derive(ptype, SECRET_A, "alice")
        assert derive(ptype, SECRET_A, "ålice") == derive(ptype, SECRET_A, "ålice".encode())
        assert validate(derive(ptype, SECRET_A, "alice"))


def test_derive_differs_across_tenant_secrets_seeds_and_types() -> None:
    base = derive(PrincipalType.USER, SECRET_A, "alice")
    assert derive(PrincipalType.USER, SECRET_B, "alice")[4:] != base[4:]
    assert derive(PrincipalType.USER, SECRET_A, "alice2")[4:] != base[4:]
    assert derive(PrincipalType.USER, SECRET_A, "")[4:] != base[4:]
    bodies = {derive(t, SECRET_A, "alice")[4:30] for t in TYPES}
    assert len(bodies) == 4  # the type is in the HMAC input, not just the prefix
    many = {derive(PrincipalType.USER, SECRET_A, f"user-{i}") for i in range(500)}
    assert len(many) == 500


@pytest.mark.parametrize("length", [0, 1, 16, 31])
def test_derive_rejects_a_short_tenant_secret(length: int) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        derive(PrincipalType.USER, b"k" * length, "alice")
    assert validate(derive(PrincipalType.USER, b"k" * 32, "alice"))
    assert validate(derive(PrincipalType.USER, b"k" * 64, "alice"))


def test_derive_rejects_wrong_argument_types() -> None:
    with pytest.raises(TypeError):
        derive(PrincipalType.USER, "k" * 32, "alice")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        derive(PrincipalType.USER, SECRET_A, 1234)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        derive("USR", SECRET_A, "alice")  # type: ignore[arg-type]


# --- exhaustive error detection: the algebra, over every possible ΛID
# The check is zero-sum: Σ α^i·s_i = 0 over the 30 symbols (3 type letters, 26 body, 1 check). The sum is
# a XOR of per-position terms, so changing the symbols at some positions changes it by exactly the XOR of
# the changed terms, whatever every other symbol is. Showing that every such change is non-zero for all
# positions and all symbol values therefore proves detection for every ΛID, not just the sampled ones.

_MUL = [[ids._gf_mul(a, b) for b in range(32)] for a in range(32)]


def test_every_single_substitution_changes_the_sum_for_every_position_and_value() -> None:
    for weight in ids._WEIGHTS:
        for old, new in itertools.permutations(range(32), 2):
            assert _MUL[weight][old] ^ _MUL[weight][new] != 0


def test_every_transposition_changes_the_sum_for_every_pair_of_positions_and_values() -> None:
    # All pairs of positions, not only adjacent ones, across type letters, body and check.
    for wi, wj in itertools.combinations(ids._WEIGHTS, 2):
        for a, b in itertools.permutations(range(32), 2):
            assert _MUL[wi][a] ^ _MUL[wj][b] ^ _MUL[wi][b] ^ _MUL[wj][a] != 0, (wi, wj, a, b)


def test_every_type_rewrite_changes_the_sum() -> None:
    contributions = {t: ids._weighted_sum(ids._type_symbols(t.value)) for t in TYPES}
    assert len(set(contributions.values())) == 4, contributions


# --- exhaustive error detection: every mutation of sample ΛIDs, through the public parser


def _rejection(text: str) -> str:
    with pytest.raises(InvalidLid) as excinfo:
        parse(text)
    assert not validate(text)
    return str(excinfo.value)


def _caught_by_check(text: str, message: str) -> bool:
    """The body/check mutation was caught by the check (or, for the first body character, by canonicity)."""
    return CHECK_MISMATCH in message or (NON_CANONICAL in message and ALPHABET.index(text[4]) > 7)


@SAMPLE_LIDS
def test_every_single_substitution_is_rejected(text: str) -> None:
    assert validate(text)
    replacements = set(ALPHABET + string.ascii_uppercase + "-")
    for index, original in enumerate(text):
        for char in sorted(replacements - {original}):
            mutated = text[:index] + char + text[index + 1 :]
            message = _rejection(mutated)
            if index >= 4 and char in ALPHABET:
                assert _caught_by_check(mutated, message), (index, char, message)


@SAMPLE_LIDS
def test_every_adjacent_transposition_is_rejected(text: str) -> None:
    checked = 0
    for index in range(len(text) - 1):
        if text[index] == text[index + 1]:
            continue
        mutated = text[:index] + text[index + 1] + text[index] + text[index + 2 :]
        message = _rejection(mutated)
        if index >= 4:  # within body + check: the check is what catches it
            assert _caught_by_check(mutated, message), (index, message)
        checked += 1
    assert checked > 0
    # Across type and body: the last type letter and the first body character are adjacent in the check.
    across = text[:2] + text[4] + "-" + text[2] + text[5:]
    _rejection(across)


@SAMPLE_LIDS
def test_every_transposition_within_body_and_check_is_rejected(text: str) -> None:
    for i, j in itertools.combinations(range(4, 31), 2):
        if text[i] == text[j]:
            continue
        chars = list(text)
        chars[i], chars[j] = chars[j], chars[i]
        mutated = "".join(chars)
        assert _caught_by_check(mutated, _rejection(mutated)), (i, j)


@SAMPLE_LIDS
def test_rewriting_the_type_prefix_is_rejected(text: str) -> None:
    for other in TYPES:
        if other.value == text[:3]:
            continue
        assert CHECK_MISMATCH in _rejection(other.value + text[3:])


def test_usr_rewritten_as_svc_fails() -> None:
    lid = generate(PrincipalType.USER)
    assert not validate("SVC" + lid[3:])
    assert not validate("SYS" + lid[3:])
    assert not validate("AGT" + lid[3:])


# --- malformed input: specific messages that never echo the body


def _non_canonical_with_valid_check() -> str:
    body = [8] + [0] * 25  # a 130-bit value with a high bit set
    check = ids._check_value("USR", body)
    return "USR-" + "".join(ALPHABET[v] for v in body) + ALPHABET[check]


MALFORMED: list[tuple[str, object, str]] = [
    ("empty", "", "31 characters long, got 0"),
    ("none", None, "must be a str, not NoneType"),
    ("int", 12345, "must be a str, not int"),
    ("bytes", VALID.encode(), "must be a str, not bytes"),
    ("list", list(VALID), "must be a str, not list"),
    ("all lower case", VALID.lower(), "types are upper case"),
    ("lower-case body", VALID[:4] + VALID[4:].lower(), "is lower case"),
    ("lower-case check", VALID[:30] + "p", "character 31 of the ΛID is lower case"),
    ("leading space", " " + VALID, "whitespace"),
    ("trailing newline", VALID + "\n", "whitespace"),
    ("leading tab", "\t" + VALID[1:], "whitespace"),
    ("too short", VALID[:-1], "got 30"),
    ("too long", VALID + "0", "got 32"),
    ("way too long", VALID * 100, "got 3100"),
    ("unknown type", "USE" + VALID[3:], "unknown ΛID type 'USE': expected one of USR, AGT, SVC, SYS"),
    ("unknown type xyz", "XYZ" + VALID[3:], "unknown ΛID type 'XYZ'"),
    ("lower-case type", "usr" + VALID[3:], "unknown ΛID type 'usr'"),
    ("underscore separator", "USR_" + VALID[4:], "'-' after its 3-letter type prefix"),
    ("colon separator", "USR:" + VALID[4:], "'-' after its 3-letter type prefix"),
    ("no separator", "USR" + VALID[4:] + "0", "'-' after its 3-letter type prefix"),
    ("letter I", VALID[:10] + "I" + VALID[11:], "character 11 of the ΛID is one of I, L, O, U"),
    ("letter L", VALID[:10] + "L" + VALID[11:], "one of I, L, O, U"),
    ("letter O", VALID[:10] + "O" + VALID[11:], "one of I, L, O, U"),
    ("letter U", VALID[:30] + "U", "character 31 of the ΛID is one of I, L, O, U"),
    ("non-ASCII", VALID[:10] + "é" + VALID[11:], "character 11 of the ΛID is not ASCII"),
    ("cyrillic lookalike", VALID[:10] + "\u0410" + VALID[11:], "not ASCII"),
    ("fullwidth digit", VALID[:10] + "\uff11" + VALID[11:], "not ASCII"),
    ("non-ASCII type", "U\u0405R" + VALID[3:], "unknown ΛID type 'U\\u0405R'"),
    ("space in body", VALID[:10] + " " + VALID[11:], "character 11 of the ΛID is not in the Crockford"),
    ("hyphen in body", VALID[:10] + "-" + VALID[11:], "character 11 of the ΛID is a '-'"),
    ("punctuation", VALID[:10] + "*" + VALID[11:], "not in the Crockford base32 alphabet"),
    ("non-canonical 8", "USR-8" + VALID[5:], "non-canonical ΛID: the first body character must be 0-7"),
    ("non-canonical Z", "USR-Z" + VALID[5:], "non-canonical"),
    ("non-canonical, check ok", _non_canonical_with_valid_check(), "non-canonical"),
    ("bad check", VALID[:30] + "Q", CHECK_MISMATCH),
    ("bad body", VALID[:5] + "0" + VALID[6:], CHECK_MISMATCH),
]


@pytest.mark.parametrize(("value", "expected"), [(v, e) for _, v, e in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_input_is_rejected_with_a_specific_message(value: object, expected: str) -> None:
    with pytest.raises(InvalidLid) as excinfo:
        parse(value)
    assert expected in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)
    assert validate(value) is False


def test_error_messages_never_echo_the_body() -> None:
    # A body made of distinctive 6-character runs: none of them occurs in any fixed message text.
    secret_body = "7QW3RX9KVM2HTZ8PNDJ6G4CYBS"
    template = "USR-" + secret_body + "0"
    hostile = [
        template,  # bad check
        template.lower(),
        template[:4] + template[4:].lower(),
        " " + template[1:],
        "USR_" + template[4:],
        "XYZ" + template[3:],
        template[:10] + "I" + template[11:],
        template[:10] + "é" + template[11:],
        template[:10] + "-" + template[11:],
        template + template,
        "USR-" + "<script>alert(1)</script>",
    ]
    for text in hostile:
        message = str(pytest.raises(InvalidLid, parse, text).value)
        body = text[4:]
        for start in range(len(body) - 5):
            window = body[start : start + 6]
            assert window not in message and window.lower() not in message.lower(), (text, message)
        assert "<script" not in message


def test_validate_never_raises() -> None:
    class Hostile(str):
        __slots__ = ()

        def __len__(self) -> int:
            raise RuntimeError("boom")

        def __getitem__(self, item: object) -> str:
            raise RuntimeError("boom")

    odd: list[object] = [
        object(),
        1.5,
        b"",
        bytearray(b"x"),
        ["USR"],
        {"USR": 1},
        Hostile(VALID),
        "\x00" * 31,
    ]
    for value in odd:
        assert validate(value) in (True, False)
    assert validate(Hostile(VALID)) is True  # a str subclass is read as its plain str value


def test_lid_type_parses_the_whole_id() -> None:
    assert lid_type(VALID) is PrincipalType.USER
    assert lid_type("SVC-014D2PF2DBSQQG28T5CY4TQKFFY") is PrincipalType.SERVICE
    with pytest.raises(InvalidLid, match=CHECK_MISMATCH):
        lid_type("SVC-014D2PF2DBSQQG28T5CY4TQKFFP")
