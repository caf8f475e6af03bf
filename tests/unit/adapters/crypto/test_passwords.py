"""Password hashing (argon2id) and the password policy; username and e-mail rules of the user domain."""

from __future__ import annotations

import time
import unicodedata

import pytest

from lukhas_id.adapters.crypto.passwords import (
    DEFAULT_PARAMS,
    Argon2Params,
    PasswordHasher,
    check_password_policy,
    common_passwords,
)
from lukhas_id.domain.user import (
    InvalidUser,
    WeakPassword,
    check_display_name,
    check_email,
    username_key,
    valid_username,
)

# Cheap parameters keep the suite fast; DEFAULT_PARAMS is measured once below.
FAST = Argon2Params(memory_kib=1024, time_cost=1)
GOOD = "correct horse battery staple"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(FAST)


# --- hashing ---------------------------------------------------------------------------------------


def test_round_trip_is_argon2id_with_the_parameters(hasher: PasswordHasher) -> None:
    stored = hasher.hash(GOOD)
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert GOOD not in stored
    assert hasher.verify(stored, GOOD) is True
    assert hasher.needs_rehash(stored) is False
    assert hasher.hash(GOOD) != stored  # a fresh salt each time


def test_wrong_password_is_false(hasher: PasswordHasher) -> None:
    stored = hasher.hash(GOOD)
    assert hasher.verify(stored, GOOD + " ") is False
    assert hasher.verify(stored, GOOD.upper()) is False
    assert hasher.verify(stored, "") is False


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$",
        "$argon2id$v=19$m=1024,t=1,p=1$!!!$!!!",
        "$2b$12$abcdefghijklmnopqrstuuJ5r1wtbR5A3HbmDl0hw7k1/6ZpN8Rj6",  # bcrypt
        "hmac-sha256$abc",
    ],
)
def test_garbage_hash_is_false_and_needs_rehash(hasher: PasswordHasher, garbage: str) -> None:
    assert hasher.verify(garbage, GOOD) is False
    assert hasher.needs_rehash(garbage) is True


def test_password_that_is_not_unicode_is_false_not_an_exception(hasher: PasswordHasher) -> None:
    stored = hasher.hash(GOOD)
    assert hasher.verify(stored, "lone surrogate \udcff here") is False


def test_over_expensive_stored_hash_is_refused_without_hashing(hasher: PasswordHasher) -> None:
    huge = PasswordHasher(FAST).hash(GOOD).replace("m=1024", "m=4194304")  # 4 GiB
    started = time.perf_counter()
    assert hasher.verify(huge, GOOD) is False
    assert time.perf_counter() - started < 0.5


def test_needs_rehash_after_a_parameter_change_and_the_old_hash_still_verifies() -> None:
    weak = PasswordHasher(FAST)
    stronger = PasswordHasher(Argon2Params(memory_kib=2048, time_cost=2))
    old = weak.hash(GOOD)
    assert stronger.verify(old, GOOD) is True  # hashes made with weaker parameters keep working
    assert stronger.verify(old, "wrong password here") is False
    assert stronger.needs_rehash(old) is True
    new = stronger.hash(GOOD)
    assert stronger.needs_rehash(new) is False
    assert weak.needs_rehash(new) is True


@pytest.mark.parametrize(
    "changed",
    [
        Argon2Params(memory_kib=2048, time_cost=1),
        Argon2Params(memory_kib=1024, time_cost=2),
        Argon2Params(memory_kib=1024, time_cost=1, parallelism=2),
        Argon2Params(memory_kib=1024, time_cost=1, hash_len=16),
    ],
)
def test_every_parameter_counts_for_needs_rehash(hasher: PasswordHasher, changed: Argon2Params) -> None:
    assert PasswordHasher(changed).needs_rehash(hasher.hash(GOOD)) is True


def test_passwords_are_nfkc_normalized(hasher: PasswordHasher) -> None:
    composed = "caf\u00e9 au lait, s'il vous pla\u00eet"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert hasher.verify(hasher.hash(composed), decomposed) is True


def test_default_parameters_are_the_owasp_argon2id_minimum() -> None:
    """m=19 MiB, t=2, p=1 (OWASP Password Storage Cheat Sheet). How long a hash takes is a benchmark's
    business, not a pass/fail test's: on a loaded machine a timing bound fails for no fault of the code."""
    default = PasswordHasher()
    assert default.params == DEFAULT_PARAMS == Argon2Params(memory_kib=19456, time_cost=2, parallelism=1)
    stored = default.hash(GOOD)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert default.verify(stored, GOOD)


def test_repr_shows_parameters_only(hasher: PasswordHasher) -> None:
    assert "memory_kib=1024" in repr(hasher)


# --- policy ----------------------------------------------------------------------------------------


def weak(password: str, *, username: str = "alice", email: str | None = None) -> str:
    with pytest.raises(WeakPassword) as info:
        check_password_policy(password, username=username, email=email)
    message = str(info.value)
    assert password not in message or len(password) < 3
    return message


def test_a_good_password_passes() -> None:
    check_password_policy(GOOD, username="alice", email="alice@example.com")
    check_password_policy("Tr0ub4dor&3-horse", username="bob", email=None)
    check_password_policy("Ünïcödé pässwörd ✓", username="al", email="al@example.com")


def test_minimum_length_is_12_after_normalization() -> None:
    message = weak("Sh0rt-pass!")  # 11
    assert "at least 12 characters" in message and "NIST SP 800-63B" in message
    check_password_policy("Sh0rt-pass!x", username="alice", email=None)  # 12
    # Code points count, not bytes: 12 non-ASCII letters pass.
    check_password_policy("ΔΦΓΛΞΠΣΨΩβγδ", username="alice", email=None)
    # "e" + combining accent composes to one character under NFKC.
    assert "at least 12" in weak("abcdefghij" + "e\u0301")


def test_maximum_length_is_256() -> None:
    long = ("correct horse battery staple " * 10)[:256]
    check_password_policy(long, username="alice", email=None)
    assert "at most 256 characters" in weak(long + "x")


def test_too_few_different_characters() -> None:
    assert "5 different characters" in weak("aaaaaaaaaaaaaaaa")
    assert "5 different characters" in weak("abababababababab")
    assert "5 different characters" in weak("AbcdAbcdAbcdaBCD")  # case does not make a character different


def test_must_not_contain_the_username() -> None:
    assert "username" in weak("alice-is-my-secret", username="Alice")
    assert "username" in weak("my ALICE secret 2024", username="alice")
    # Compared by username key: the full-width username is the same word.
    assert "username" in weak("the alice password", username="ＡＬＩＣＥ")
    assert "username" in weak("longusername", username="longusername")
    # A short username is only compared for equality (otherwise "al" would reject most passphrases).
    check_password_policy("always almost alright", username="al", email=None)


def test_must_not_contain_the_email_local_part() -> None:
    message = weak("jsmith-says-hello", username="john", email="JSmith@example.com")
    assert "e-mail" in message
    assert "example.com" not in message
    check_password_policy("jo is a fine name for me", username="someone", email="jo@example.com")


def test_common_passwords_are_refused_ignoring_case() -> None:
    for password in ("qwerty123456", "1qaz2wsx3edc", "QAZXSWEDCVFR", "Sonnenschein", "PlayStation2"):
        assert password.lower() in common_passwords()
        assert "most common passwords" in weak(password)


def test_invalid_unicode_is_refused() -> None:
    assert "Unicode" in weak("surrogate \udcff password")


def test_common_list_is_loaded_once() -> None:
    first = common_passwords()
    assert common_passwords() is first
    assert isinstance(first, frozenset)
    assert len(first) == 30_000
    assert {"123456", "password", "qwerty"} <= first
    assert all(p == p.lower() for p in first)


# --- usernames and e-mail addresses ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["alice", "Alice.Smith", "a", "alice_2", "alice-b", "alice@example.com", "Ωmega", "名前", "x" * 64, "7up", "ＡＢ"],
)
def test_valid_usernames(name: str) -> None:
    assert valid_username(name)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "1-64"),
        ("x" * 65, "1-64"),
        (".alice", "starts with"),
        ("@alice", "starts with"),
        ("alice smith", "only letters"),
        (" alice", "starts with"),
        ("alice\n", "only letters"),
        ("alice!", "only letters"),
        ("al/ice", "only letters"),
        ("alice\u200b", "only letters"),  # zero-width space
    ],
)
def test_invalid_usernames_name_the_rule(name: str, rule: str) -> None:
    with pytest.raises(InvalidUser, match=rule):
        username_key(name)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Alice", "alice"),
        ("ALICE", "alice"),
        ("ＡＬＩＣＥ", "alice"),  # full width (NFKC)
        ("Straße", "STRASSE"),  # ß case-folds to ss
        ("ΟΔΟΣ", "οδος"),  # final sigma
        ("\u212aelvin", "kelvin"),  # KELVIN SIGN
        ("ﬁle", "FILE"),  # ligature
    ],
)
def test_username_keys_match_across_case_and_compatibility_forms(a: str, b: str) -> None:
    assert username_key(a) == username_key(b)
    assert username_key(username_key(a)) == username_key(a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ALİCE", "alice"),  # dotted capital I folds to i + combining dot above: another name
        ("alıce", "alice"),  # dotless i
        ("аlice", "alice"),  # Cyrillic а (a homoglyph: see docs/users.md)
    ],
)
def test_username_keys_keep_distinct_letters_apart(a: str, b: str) -> None:
    assert username_key(a) != username_key(b)


@pytest.mark.parametrize("email", ["alice@example.com", "a@b", "first.last+tag@sub.example.org", "ü@ex.de"])
def test_valid_emails(email: str) -> None:
    check_email(email)


@pytest.mark.parametrize(
    ("email", "rule"),
    [
        ("alice", "exactly one @"),
        ("a@b@c", "exactly one @"),
        ("@example.com", "local part"),
        ("alice@", "local part"),
        ("al ice@example.com", "no spaces"),
        ("alice@example.com\n", "no spaces"),
        ("x" * 65 + "@example.com", "local part"),
        ("a@" + "b" * 253, "3-254"),
        ("", "3-254"),
    ],
)
def test_invalid_emails_name_the_rule_not_the_value(email: str, rule: str) -> None:
    with pytest.raises(InvalidUser, match=rule) as info:
        check_email(email)
    assert "example.com" not in str(info.value)


def test_display_names() -> None:
    check_display_name("Alice Smith")
    for bad in ("", "   ", "x" * 201, "Alice\x00"):
        with pytest.raises(InvalidUser):
            check_display_name(bad)
