"""JWT signing and verification: RFC 7515 (JWS compact), RFC 7519 (JWT), RFC 8725 (JWT BCP), RFC 9068.

The one path for every token kind: `sign(claims, purpose, key)` and `verify(token, purpose, keys, ...)`.
`verify` always checks both the signature (explicit algorithm allow-list from the purpose, key chosen by
`kid` and bound to one algorithm) and the claims (typ, iss, exp, iat, nbf, required claims, audience).

What `verify` adds to the bare signature check is mostly the strict base64url and duplicate-rejecting
JSON parsing; signature and claims together cost about what joserfc's deserialize_compact costs without
any claim check (the figures: docs/PERFORMANCE.md). See _algs.py for why the signing input is built here
rather than by joserfc.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose._algs import Signer, Verifier, make_signer, make_verifier
from lukhas_id.jose._codec import b64url_decode, b64url_encode, json_object
from lukhas_id.jose.keys import load_private_key, load_public_jwk, private_key_object
from lukhas_id.jose.purposes import OPTIONAL_CLAIMS, RULES, ClaimKind, TokenPurpose, has_kind, media_type

__all__ = [
    "InvalidToken",
    "SigningKeyMaterial",
    "TokenPurpose",
    "VerificationKeySet",
    "peek_header",
    "sign",
    "verify",
]

MAX_TOKEN_LENGTH = 16 * 1024


class InvalidToken(Exception):
    """A JWT failed parsing, signature or claim checks. The message is safe to log: it never contains the
    token nor any value taken from it."""


class SigningKeyMaterial:
    """A private key ready to sign: parsed once, with the base64url protected header of each purpose."""

    __slots__ = ("_headers", "_sign", "alg", "kid")

    def __init__(self, kid: str, alg: SigningAlg, private_der: bytes) -> None:
        if not kid:
            raise ValueError("kid must not be empty")
        self.kid = kid
        self.alg = SigningAlg(alg)
        self._sign: Signer = make_signer(self.alg, private_key_object(load_private_key(private_der, self.alg)))
        # The protected header never changes for a (key, purpose): encode it once.
        self._headers: dict[TokenPurpose, bytes] = {
            purpose: b64url_encode(orjson.dumps({"alg": self.alg.value, "kid": kid, "typ": rules.typ}))
            for purpose, rules in RULES.items()
            if self.alg in rules.algorithms
        }

    def __repr__(self) -> str:
        return f"SigningKeyMaterial(kid={self.kid!r}, alg={self.alg.value!r})"


class _VerificationKey:
    __slots__ = ("alg", "verify")

    def __init__(self, alg: SigningAlg, verify: Verifier) -> None:
        self.alg = alg
        self.verify = verify


class VerificationKeySet:
    """Public keys to verify with, by `kid`, each bound to its one algorithm (RFC 7517 §5).

    Keys of an unknown kty, for another use, of an algorithm we do not verify, or without kid are ignored;
    a malformed key of a known type, or a kid seen twice, is a ValueError.
    """

    __slots__ = ("_keys",)

    def __init__(self, jwks: list[dict[str, str]]) -> None:
        keys: dict[str, _VerificationKey] = {}
        for jwk in jwks:
            loaded = load_public_jwk(jwk)
            if loaded is None:
                continue
            kid, alg, public = loaded
            if kid in keys:
                raise ValueError(f"duplicate kid {kid!r} in the key set")
            keys[kid] = _VerificationKey(alg, make_verifier(alg, public))
        self._keys = keys

    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"VerificationKeySet(kids={sorted(self._keys)!r})"


# Per purpose: every claim to type-check, and whether it is required.
_CLAIM_CHECKS: Mapping[TokenPurpose, tuple[tuple[str, ClaimKind, bool], ...]] = {
    purpose: tuple(
        (name, kind, name in rules.required_claims)
        for name, kind in {**OPTIONAL_CLAIMS, **rules.required_claims}.items()
    )
    for purpose, rules in RULES.items()
}
_ALG_NAMES: Mapping[TokenPurpose, Mapping[str, SigningAlg]] = {
    purpose: {alg.value: alg for alg in rules.algorithms} for purpose, rules in RULES.items()
}


_FORBIDDEN: Mapping[TokenPurpose, frozenset[str]] = {p: r.forbidden_claims for p, r in RULES.items()}


def _claims_problem(claims: Mapping[str, object], purpose: TokenPurpose) -> str | None:
    for name in _FORBIDDEN[purpose]:
        if name in claims:
            return f"claim {name} is not allowed"
    for name, kind, required in _CLAIM_CHECKS[purpose]:
        value = claims.get(name)
        if value is None:
            if required:
                return f"missing claim {name}"
            if name in claims:
                return f"claim {name} must be a {kind.value}"
        elif not has_kind(value, kind):
            return f"claim {name} must be a {kind.value}"
    return None


def sign(claims: dict[str, object], purpose: TokenPurpose, key: SigningKeyMaterial) -> str:
    """A compact JWS over the orjson-serialized claims with header {alg, kid, typ}.

    ValueError (we never issue what we would reject) if a claim the purpose requires is missing or of the
    wrong type, the key's algorithm is not allowed for the purpose, or the token would exceed 16 KiB.
    """
    header = key._headers.get(purpose)
    if header is None:
        raise ValueError(f"{key.alg.value} keys cannot sign {purpose.value} tokens")
    problem = _claims_problem(claims, purpose)
    if problem is not None:
        raise ValueError(f"cannot sign {purpose.value}: {problem}")
    signing_input = header + b"." + b64url_encode(orjson.dumps(claims))
    token = signing_input + b"." + b64url_encode(key._sign(signing_input))
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValueError(f"cannot sign {purpose.value}: token longer than {MAX_TOKEN_LENGTH} characters")
    return token.decode("ascii")


def _split(token: str) -> tuple[dict[str, object], bytes, bytes, bytes]:
    if not isinstance(token, str):
        raise InvalidToken("token is not a string")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken(f"token longer than {MAX_TOKEN_LENGTH} characters")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken("token has non-ASCII characters") from None
    parts = raw.split(b".")
    if len(parts) != 3:
        raise InvalidToken("token must have 3 dot-separated segments (JWS compact serialization)")
    header_seg, payload_seg, signature_seg = parts
    try:
        header = json_object(b64url_decode(header_seg))
    except ValueError:
        raise InvalidToken("malformed header: not base64url of a JSON object with unique member names") from None
    return header, header_seg, payload_seg, signature_seg


def peek_header(token: str) -> dict[str, object]:
    """The protected header, NOT verified: only for choosing a key (kid). InvalidToken if malformed."""
    return _split(token)[0]


def verify(
    token: str,
    purpose: TokenPurpose,
    keys: VerificationKeySet,
    *,
    issuer: str,
    now: float,
    leeway: int = 30,
    audience: str | None = None,
    check_exp: bool = True,
) -> dict[str, object]:
    """Verify signature and claims of a compact JWT of this purpose; the claims, or InvalidToken.

    `check_exp=False` accepts a token past its `exp` (still required and type-checked): only for an
    id_token_hint, which the OP SHOULD accept after expiry (OIDC RP-Initiated Logout 1.0 §2)."""
    rules = RULES[purpose]
    header, header_seg, payload_seg, signature_seg = _split(token)

    # Header (RFC 7515 §4.1, RFC 8725 §3.1, §3.11).
    if "crit" in header:
        raise InvalidToken("crit header parameter not supported")
    typ = header.get("typ")
    if not isinstance(typ, str) or media_type(typ) not in rules.accepted_media_types:
        raise InvalidToken(f"typ does not match purpose {purpose.value}")
    alg_name = header.get("alg")
    alg = _ALG_NAMES[purpose].get(alg_name) if isinstance(alg_name, str) else None
    if alg is None:
        raise InvalidToken(f"alg not allowed for purpose {purpose.value}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("kid header parameter missing")
    key = keys._keys.get(kid)
    if key is None:
        raise InvalidToken("unknown kid")
    if key.alg is not alg:
        raise InvalidToken("alg does not match the key's algorithm")

    # Signature before anything is read from the payload.
    try:
        signature = b64url_decode(signature_seg)
    except ValueError:
        raise InvalidToken("malformed signature: not base64url") from None
    if not key.verify(header_seg + b"." + payload_seg, signature):
        raise InvalidToken("bad signature")
    try:
        claims = json_object(b64url_decode(payload_seg))
    except ValueError:
        raise InvalidToken("malformed payload: not base64url of a JSON object with unique member names") from None

    # Claims (RFC 7519 §4.1, RFC 9068 §4).
    problem = _claims_problem(claims, purpose)
    if problem is not None:
        raise InvalidToken(problem)
    if claims.get("iss") != issuer:
        raise InvalidToken("issuer mismatch")
    exp = claims.get("exp")
    if check_exp and isinstance(exp, int | float) and exp <= now - leeway:
        raise InvalidToken("token expired")
    iat = claims.get("iat")
    if isinstance(iat, int | float) and iat > now + leeway:
        raise InvalidToken("token issued in the future (iat)")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > now + leeway:
        raise InvalidToken("token not yet valid (nbf)")
    if audience is not None:
        aud = claims.get("aud")
        if not (aud == audience or (isinstance(aud, list) and audience in aud)):
            raise InvalidToken("audience mismatch")
    return claims
