"""at_hash / c_hash against the OpenID Connect Core examples."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose.hashes import token_hash_claim

VECTORS = json.loads((Path(__file__).parent / "oidc_token_hashes.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["claim"] for v in VECTORS])
def test_core_examples(vector: dict[str, str]) -> None:
    assert token_hash_claim(vector["token"], SigningAlg(vector["alg"])) == vector["expected"]


def test_eddsa_uses_sha512() -> None:
    token = "an-access-token"
    left = hashlib.sha512(token.encode()).digest()[:32]
    assert token_hash_claim(token, SigningAlg.EDDSA) == base64.urlsafe_b64encode(left).rstrip(b"=").decode()
    assert token_hash_claim(token, SigningAlg.ES256) != token_hash_claim(token, SigningAlg.EDDSA)
