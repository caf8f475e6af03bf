"""JOSE: the only code that signs or verifies a JWS/JWT and the only importer of joserfc.

RFC 7515/7517/7518/7519/7638/8037/8725/9068. Every token kind goes through `jwt.sign(claims, purpose, key)`
and `jwt.verify(token, purpose, keys, ...)`; the purpose pins typ, algorithms and required claims.
"""

from lukhas_id.jose.jwt import (
    InvalidToken,
    SigningKeyMaterial,
    TokenPurpose,
    VerificationKeySet,
    peek_header,
    sign,
    verify,
)
from lukhas_id.jose.keys import generate_private_key, public_jwk, thumbprint

__all__ = [
    "InvalidToken",
    "SigningKeyMaterial",
    "TokenPurpose",
    "VerificationKeySet",
    "generate_private_key",
    "peek_header",
    "public_jwk",
    "sign",
    "thumbprint",
    "verify",
]
