"""Spec vectors for protocol/oauth2/pkce.py: RFC 7636 Appendix B (S256)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.protocol.oauth2 import pkce

VECTORS: list[dict[str, Any]] = json.loads((Path(__file__).parent / "rfc7636_pkce.json").read_text(encoding="utf-8"))[
    "vectors"
]
IDS = [v["name"] for v in VECTORS]


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_verifier_is_the_base64url_of_its_octets(vector: dict[str, Any]) -> None:
    encoded = base64.urlsafe_b64encode(bytes(vector["verifier_octets"])).rstrip(b"=").decode()
    assert encoded == vector["code_verifier"]


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_sha256_octets(vector: dict[str, Any]) -> None:
    assert list(hashlib.sha256(vector["code_verifier"].encode("ascii")).digest()) == vector["sha256_octets"]


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_s256_transform(vector: dict[str, Any]) -> None:
    assert pkce.s256(vector["code_verifier"]) == vector["code_challenge"]


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_challenge_is_accepted_and_verifier_verifies(vector: dict[str, Any]) -> None:
    challenge = pkce.validate_challenge(vector["code_challenge"], vector["code_challenge_method"])
    assert challenge == vector["code_challenge"]
    pkce.verify(vector["code_verifier"], challenge)
    pkce.reject_downgrade(vector["code_verifier"], code_had_challenge=True)


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_verifier_sent_as_plain_challenge_is_refused(vector: dict[str, Any]) -> None:
    # The verifier itself used as the challenge is what `plain` would accept; S256 must not.
    with pytest.raises(OAuthError) as info:
        pkce.verify(vector["code_verifier"], vector["code_verifier"])
    assert info.value.code is ErrorCode.INVALID_GRANT
