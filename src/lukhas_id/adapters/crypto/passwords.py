"""Passwords: argon2id hashing (RFC 9106, argon2-cffi) and the policy for new passwords (NIST SP 800-63B §5.1.1.2).

Parameters (OWASP Password Storage Cheat Sheet, the first argon2id option): 19 MiB of memory, 2
passes, 1 lane; a 16-byte salt and a 32-byte tag. That is the cheat sheet's floor for a login that
is both memory-hard and cheap enough to serve on this project's 2-core machines, where RFC 9106's
64 MiB / 3 passes costs several times as much per hash (docs/PERFORMANCE.md) and would make sign-in
an easy way to exhaust the CPU. Raising the parameters later is safe: hashes made with others still
verify, and `needs_rehash` tells the sign-in to store a new hash.

Passwords are NFKC-normalized before hashing and before the policy checks (NIST SP 800-63B
§5.1.1.2), so the same password typed on two keyboards (a precomposed "é" or "e" + U+0301) is the same
password; lengths count Unicode code points.

Nothing here logs, and no message or exception carries a password or a hash.
"""

from __future__ import annotations

import functools
import gzip
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Final

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from lukhas_id.domain.user import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, WeakPassword, email_local_part

COMMON_PASSWORDS_FILE: Final = "data/common-passwords.txt.gz"
# Usernames and e-mail local parts shorter than this are not searched for inside a password ("al"
# would reject half of all passphrases); equal is still caught, as a short password fails the length rule.
MIN_CONTEXT_WORD_LENGTH: Final = 4
# NIST SP 800-63B names "repetitive characters" ("aaaaaa") among the values to reject.
MIN_DISTINCT_CHARACTERS: Final = 5


@dataclass(frozen=True, slots=True)
class Argon2Params:
    memory_kib: int = 19 * 1024
    time_cost: int = 2
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16


DEFAULT_PARAMS: Final = Argon2Params()

# A stored hash asking for more than this is refused (verify is False), so a corrupt or planted row
# cannot make one sign-in allocate gigabytes or spin for seconds.
MAX_MEMORY_KIB: Final = 256 * 1024
MAX_TIME_COST: Final = 16
MAX_PARALLELISM: Final = 8


def normalize_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


class PasswordHasher:
    """argon2id with `params`; thread-safe and stateless (callers may run it in a worker thread)."""

    def __init__(self, params: Argon2Params = DEFAULT_PARAMS) -> None:
        self.params = params
        self._argon2 = argon2.PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=params.hash_len,
            salt_len=params.salt_len,
            type=argon2.Type.ID,
        )

    def __repr__(self) -> str:
        return f"PasswordHasher({self.params!r})"

    def hash(self, password: str) -> str:
        """A PHC string ``$argon2id$v=19$m=...,t=...,p=...$salt$tag`` with a fresh random salt.

        Raises ValueError for text that is not valid Unicode (lone surrogates); the policy rejects those first.
        """
        return self._argon2.hash(normalize_password(password))

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether `password` matches; False (never an exception) on a mismatch, a malformed or
        over-expensive hash, or a password that is not valid Unicode. argon2 compares in constant time."""
        try:
            stored = argon2.extract_parameters(password_hash)
        except (InvalidHashError, ValueError):
            return False
        if (
            stored.memory_cost > MAX_MEMORY_KIB
            or stored.time_cost > MAX_TIME_COST
            or stored.parallelism > MAX_PARALLELISM
        ):
            return False
        try:
            return self._argon2.verify(password_hash, normalize_password(password))
        except (VerificationError, InvalidHashError, ValueError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was not made with this hasher's type, version and parameters
        (or is not an argon2 hash at all)."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords (lower case), read once on first use."""
    blob = resources.files("lukhas_id.adapters.crypto").joinpath(COMMON_PASSWORDS_FILE).read_bytes()
    return frozenset(gzip.decompress(blob).decode("utf-8").split())


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def check_password_policy(password: str, *, username: str, email: str | None) -> None:
    """Raise WeakPassword, naming the broken rule, unless `password` may be set for this user.

    Rules, in order, on the NFKC-normalized password:

    1. at least 12 characters: NIST SP 800-63B makes length, not composition rules, the measure of
       a memorized secret (8 is its floor; 12 is current practice);
    2. at most 256 characters (bounds the hashing work; any passphrase fits);
    3. at least 5 different characters ("aaaaaaaaaaaa", "abababababab");
    4. does not contain the username or the e-mail address's local part, ignoring case (when they
       have at least 4 characters);
    5. is not one of the bundled common passwords, ignoring case.
    """
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise WeakPassword("a password must be valid Unicode text") from None
    normalized = normalize_password(password)
    if len(normalized) < PASSWORD_MIN_LENGTH:
        raise WeakPassword(
            f"a password must have at least {PASSWORD_MIN_LENGTH} characters "
            "(NIST SP 800-63B: length is what makes a password hard to guess)"
        )
    if len(normalized) > PASSWORD_MAX_LENGTH:
        raise WeakPassword(f"a password must have at most {PASSWORD_MAX_LENGTH} characters")
    folded = _fold(normalized)
    if len(set(folded)) < MIN_DISTINCT_CHARACTERS:
        raise WeakPassword(f"a password must use at least {MIN_DISTINCT_CHARACTERS} different characters")
    name = _fold(username)
    if folded == name or (len(name) >= MIN_CONTEXT_WORD_LENGTH and name in folded):
        raise WeakPassword("a password must not contain the username")
    if email:
        local = _fold(email_local_part(email))
        if local and (folded == local or (len(local) >= MIN_CONTEXT_WORD_LENGTH and local in folded)):
            raise WeakPassword("a password must not contain the e-mail address's local part")
    if folded in common_passwords():
        raise WeakPassword("a password must not be one of the most common passwords")
