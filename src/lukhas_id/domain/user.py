"""Users: the USR principals of a tenant (people who sign in), their username and e-mail rules.

A username is kept twice: as entered (`username`, for display) and as its lookup key (`username_key`,
NFKC-normalized and case-folded), which is unique per tenant. So "Alice", "alice", "ＡＬＩＣＥ" (full
width) and "ALICE" are one username; "Straße" and "STRASSE" too. See docs/users.md.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from lukhas_id.errors import AlreadyExists, LukhasIdError

USERNAME_MAX_LENGTH: Final = 64
USERNAME_PUNCTUATION: Final = frozenset("._-@")
EMAIL_MAX_LENGTH: Final = 254  # RFC 5321 §4.5.3.1.3: a path is at most 256 octets including "<" and ">"
EMAIL_LOCAL_MAX_LENGTH: Final = 64  # RFC 5321 §4.5.3.1.1
DISPLAY_NAME_MAX_LENGTH: Final = 200
# NIST SP 800-63B §5.1.1.2: at least 8 characters, and verifiers SHOULD allow at least 64. Twelve is
# the floor of current practice (OWASP ASVS 5 V6.2.1); 256 bounds the hashing work an input can cause.
PASSWORD_MIN_LENGTH: Final = 12
PASSWORD_MAX_LENGTH: Final = 256


class UserStatus(StrEnum):
    """Whether a user may sign in.

    ```mermaid
    stateDiagram-v2
        [*] --> active: user create
        active --> disabled: user disable (an operator)
        disabled --> active: user enable (an operator)
        active --> locked: too many failed sign-ins (a later increment)
        locked --> active: unlocked
    ```

    Only an active user signs in; the user's principal is active exactly when the user is.
    """

    ACTIVE = "active"
    DISABLED = "disabled"
    LOCKED = "locked"


class InvalidUser(LukhasIdError):
    """A username, e-mail address or display name breaks its rule; the message names the rule, not the value."""


class UsernameTaken(AlreadyExists):
    """Another user of the tenant has the same username key."""


class WeakPassword(LukhasIdError):
    """A new password breaks the password policy; the message names the rule, never the password."""


@dataclass(frozen=True, slots=True)
class User:
    tenant_id: str
    # The ΛID of the user's principal (type USR).
    lid: str
    # As entered, for display.
    username: str
    # `username_key(username)`: unique per tenant, what lookups use.
    username_key: str
    email: str | None
    email_verified: bool
    display_name: str
    status: UserStatus
    # argon2id PHC string (adapters/crypto/passwords.py); None for a user without a password.
    password_hash: str | None
    created_at: float
    updated_at: float

    @property
    def active(self) -> bool:
        return self.status is UserStatus.ACTIVE


def _username_char_ok(char: str, first: bool) -> bool:
    category = unicodedata.category(char)
    if category[0] == "L" or category == "Nd":
        return True
    if first:
        return False
    return category[0] == "M" or char in USERNAME_PUNCTUATION


def username_key(username: str) -> str:
    """The lookup key of a valid username: NFKC, case-folded, NFKC again (raises InvalidUser).

    Case folding (not lower-casing) makes "ß" match "SS" and "ς" match "Σ"; NFKC makes compatibility
    forms (full-width letters, ligatures, the Kelvin sign) match their plain letters.
    """
    check_username(username)
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def check_username(username: str) -> None:
    """Raise InvalidUser unless `username`, NFKC-normalized, is 1-64 characters of letters, digits,
    combining marks and ``. _ - @``, starting with a letter or a digit."""
    normalized = unicodedata.normalize("NFKC", username)
    if not 1 <= len(normalized) <= USERNAME_MAX_LENGTH:
        raise InvalidUser(f"a username is 1-{USERNAME_MAX_LENGTH} characters")
    if not _username_char_ok(normalized[0], first=True):
        raise InvalidUser("a username starts with a letter or a digit")
    if not all(_username_char_ok(char, first=False) for char in normalized[1:]):
        raise InvalidUser("a username has only letters, digits and the characters . _ - @")


def valid_username(username: str) -> bool:
    try:
        check_username(username)
    except InvalidUser:
        return False
    return True


def check_email(email: str) -> None:
    """Raise InvalidUser unless `email` looks like an address: one "@" between a local part of 1-64
    and a non-empty domain, at most 254 characters, no whitespace or control characters.

    Deliberately basic: an address is proven by verifying it, not by its syntax.
    """
    if not 3 <= len(email) <= EMAIL_MAX_LENGTH:
        raise InvalidUser(f"an e-mail address is 3-{EMAIL_MAX_LENGTH} characters")
    if any(char.isspace() or unicodedata.category(char) == "Cc" for char in email):
        raise InvalidUser("an e-mail address has no spaces or control characters")
    local, at, domain = email.partition("@")
    if not at or "@" in domain:
        raise InvalidUser("an e-mail address has exactly one @")
    if not 1 <= len(local) <= EMAIL_LOCAL_MAX_LENGTH or not domain:
        raise InvalidUser(f"an e-mail address has a local part of 1-{EMAIL_LOCAL_MAX_LENGTH} characters and a domain")


def check_display_name(name: str) -> None:
    if not name.strip() or len(name) > DISPLAY_NAME_MAX_LENGTH:
        raise InvalidUser(f"a display name is 1-{DISPLAY_NAME_MAX_LENGTH} characters, not only spaces")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise InvalidUser("a display name has no control characters")


def email_local_part(email: str) -> str:
    return email.rpartition("@")[0]
