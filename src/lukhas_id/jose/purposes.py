"""Token purposes: what each JWT kind pins (typ, required claims, algorithms). RFC 9068 §2, RFC 8725 §3.11.

A purpose is the only way to sign or verify a JWT, so a token of one kind never passes as another: the
`typ` header differs per purpose and is checked on every verification. Add a purpose by adding an enum
member and its entry in RULES (a test checks that every member has one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType

from lukhas_id.domain.keys import SigningAlg


class TokenPurpose(StrEnum):
    ACCESS_TOKEN = "access_token"  # noqa: S105 - a purpose name, not a secret
    ID_TOKEN = "id_token"  # noqa: S105 - a purpose name, not a secret
    AUDIT_CHECKPOINT = "audit_checkpoint"
    SECURITY_EVENT = "security_event"  # RFC 8417 Security Event Tokens (Shared Signals)


class ClaimKind(Enum):
    """JSON type a claim must have."""

    STRING = "non-empty string"
    NUMERIC_DATE = "number"  # RFC 7519 §2: seconds since the epoch, integer or not
    AUDIENCE = "string or non-empty array of strings"  # RFC 7519 §4.1.3
    COUNT = "non-negative integer"
    OBJECT = "non-empty JSON object"  # RFC 8417 §2.2 `events`


def media_type(typ: str) -> str:
    """RFC 7515 §4.1.9: compare `typ` as a media type, case-insensitively, `application/` implied."""
    lowered = typ.lower()
    return lowered if "/" in lowered else "application/" + lowered


@dataclass(frozen=True, slots=True)
class PurposeRules:
    typ: str  # written on sign
    accepted_media_types: frozenset[str]  # accepted on verify, in media_type() form
    required_claims: Mapping[str, ClaimKind]
    algorithms: frozenset[SigningAlg]
    forbidden_claims: frozenset[str] = frozenset()  # refused on sign and on verify


_ALL_ALGS = frozenset(SigningAlg)

RULES: Mapping[TokenPurpose, PurposeRules] = MappingProxyType(
    {
        # RFC 9068 §2.1 (typ "at+jwt", i.e. application/at+jwt) and §2.2 (required claims).
        TokenPurpose.ACCESS_TOKEN: PurposeRules(
            typ="at+jwt",
            accepted_media_types=frozenset({"application/at+jwt"}),
            required_claims=MappingProxyType(
                {
                    "iss": ClaimKind.STRING,
                    "exp": ClaimKind.NUMERIC_DATE,
                    "aud": ClaimKind.AUDIENCE,
                    "sub": ClaimKind.STRING,
                    "client_id": ClaimKind.STRING,
                    "iat": ClaimKind.NUMERIC_DATE,
                    "jti": ClaimKind.STRING,
                }
            ),
            algorithms=_ALL_ALGS,
        ),
        # OpenID Connect Core §2 (required claims) and §3.1.3.7 (validation). Core names no `typ`; "JWT"
        # (RFC 7519 §5.1) keeps ID tokens apart from access tokens, whose typ is at+jwt.
        TokenPurpose.ID_TOKEN: PurposeRules(
            typ="JWT",
            accepted_media_types=frozenset({"application/jwt"}),
            required_claims=MappingProxyType(
                {
                    "iss": ClaimKind.STRING,
                    "sub": ClaimKind.STRING,
                    "aud": ClaimKind.AUDIENCE,
                    "exp": ClaimKind.NUMERIC_DATE,
                    "iat": ClaimKind.NUMERIC_DATE,
                }
            ),
            algorithms=_ALL_ALGS,
        ),
        # A signed audit chain head (docs/audit.md): the tenant's id as `sub`, the record's seq and hash.
        # Signed only by the dedicated Ed25519 audit key, never by a token-signing key's verifier set.
        TokenPurpose.AUDIT_CHECKPOINT: PurposeRules(
            typ="audit-checkpoint+jwt",
            accepted_media_types=frozenset({"application/audit-checkpoint+jwt"}),
            required_claims=MappingProxyType(
                {
                    "iss": ClaimKind.STRING,
                    "sub": ClaimKind.STRING,
                    "iat": ClaimKind.NUMERIC_DATE,
                    "seq": ClaimKind.COUNT,
                    "hash": ClaimKind.STRING,
                }
            ),
            algorithms=frozenset({SigningAlg.EDDSA}),
        ),
        # RFC 8417 §2.2 (iss, iat, jti, events; aud as the receiver), §2.3 (explicit typing: secevent+jwt);
        # OpenID SSF 1.0 §4.1.2 and §4.1.7: no `sub` (the subject is `sub_id`) and no `exp` in an SSF SET.
        TokenPurpose.SECURITY_EVENT: PurposeRules(
            typ="secevent+jwt",
            accepted_media_types=frozenset({"application/secevent+jwt"}),
            required_claims=MappingProxyType(
                {
                    "iss": ClaimKind.STRING,
                    "iat": ClaimKind.NUMERIC_DATE,
                    "jti": ClaimKind.STRING,
                    "aud": ClaimKind.AUDIENCE,
                    "events": ClaimKind.OBJECT,
                }
            ),
            algorithms=_ALL_ALGS,
            forbidden_claims=frozenset({"sub", "exp"}),
        ),
    }
)

# Registered claims checked whenever present, whatever the purpose (RFC 7519 §4.1).
OPTIONAL_CLAIMS: Mapping[str, ClaimKind] = MappingProxyType(
    {
        "iss": ClaimKind.STRING,
        "sub": ClaimKind.STRING,
        "aud": ClaimKind.AUDIENCE,
        "exp": ClaimKind.NUMERIC_DATE,
        "nbf": ClaimKind.NUMERIC_DATE,
        "iat": ClaimKind.NUMERIC_DATE,
        "jti": ClaimKind.STRING,
    }
)


def has_kind(value: object, kind: ClaimKind) -> bool:
    if kind is ClaimKind.STRING:
        return isinstance(value, str) and value != ""
    if kind is ClaimKind.NUMERIC_DATE:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is ClaimKind.COUNT:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind is ClaimKind.OBJECT:
        return isinstance(value, dict) and bool(value)
    if isinstance(value, str):
        return value != ""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
