"""Token hash claims: at_hash and c_hash, OpenID Connect Core §3.1.3.6 and §3.3.2.11.

The left-most half of the hash of the ASCII token, base64url-encoded, with the hash of the ID token's
`alg`: SHA-256 for RS256, PS256 and ES256; SHA-512 for EdDSA with Ed25519 (the convention that
OpenID Connect libraries follow, as Ed25519 signs with SHA-512).
"""

from __future__ import annotations

import hashlib

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose._codec import b64url_encode

_HASHES = {
    SigningAlg.RS256: hashlib.sha256,
    SigningAlg.PS256: hashlib.sha256,
    SigningAlg.ES256: hashlib.sha256,
    SigningAlg.EDDSA: hashlib.sha512,
}


def token_hash_claim(token: str, alg: SigningAlg) -> str:
    digest = _HASHES[alg](token.encode("ascii")).digest()
    return b64url_encode(digest[: len(digest) // 2]).decode("ascii")
