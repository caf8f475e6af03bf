"""protocol/oauth2/pkce.py: RFC 7636, OAuth 2.1 §4.1.1 (S256 only), RFC 9700 §4.8.2."""

from __future__ import annotations

import pytest

from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.protocol.oauth2 import pkce

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def _code(exc: pytest.ExceptionInfo[OAuthError]) -> ErrorCode:
    return exc.value.code


# --- validate_challenge -----------------------------------------------------------------------------


def test_s256_challenge_is_returned() -> None:
    assert pkce.validate_challenge(CHALLENGE, "S256") == CHALLENGE


def test_missing_challenge_is_invalid_request() -> None:
    with pytest.raises(OAuthError) as info:
        pkce.validate_challenge(None, "S256")
    assert _code(info) is ErrorCode.INVALID_REQUEST
    assert info.value.description == "code_challenge is required"


def test_absent_method_means_plain_and_is_refused() -> None:
    # RFC 7636 §4.3: the default is plain, never S256.
    with pytest.raises(OAuthError) as info:
        pkce.validate_challenge(CHALLENGE, None)
    assert _code(info) is ErrorCode.INVALID_REQUEST
    assert "only S256" in info.value.description


def test_plain_is_refused() -> None:
    with pytest.raises(OAuthError) as info:
        pkce.validate_challenge(VERIFIER, "plain")
    assert _code(info) is ErrorCode.INVALID_REQUEST
    assert "only S256" in info.value.description


@pytest.mark.parametrize("method", ["s256", "S512", "SHA256", "S256 "])
def test_unknown_methods_are_refused(method: str) -> None:
    with pytest.raises(OAuthError) as info:
        pkce.validate_challenge(CHALLENGE, method)
    assert _code(info) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "challenge",
    [
        "a" * 42,  # too short
        "a" * 129,  # too long
        CHALLENGE[:-1] + "=",  # padding is not in the grammar
        CHALLENGE[:-1] + "+",  # base64 (not base64url) alphabet
        CHALLENGE[:-1] + "/",
        CHALLENGE[:-1] + " ",
        CHALLENGE[:-1] + "é",  # non-ASCII letter
        CHALLENGE[:-1] + "٣",  # non-ASCII digit
    ],
)
def test_malformed_challenge_is_invalid_request(challenge: str) -> None:
    with pytest.raises(OAuthError) as info:
        pkce.validate_challenge(challenge, "S256")
    assert _code(info) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("challenge", ["a" * 43, "Az09-._~" * 16])
def test_grammar_bounds_and_alphabet_are_accepted(challenge: str) -> None:
    assert pkce.validate_challenge(challenge, "S256") == challenge


# --- verify -------------------------------------------------------------------------------------------


def test_matching_verifier_passes() -> None:
    pkce.verify(VERIFIER, CHALLENGE)


def test_missing_verifier_is_invalid_request() -> None:
    with pytest.raises(OAuthError) as info:
        pkce.verify(None, CHALLENGE)
    assert _code(info) is ErrorCode.INVALID_REQUEST


def test_mismatching_verifier_is_invalid_grant() -> None:
    with pytest.raises(OAuthError) as info:
        pkce.verify("x" * 43, CHALLENGE)
    assert _code(info) is ErrorCode.INVALID_GRANT


@pytest.mark.parametrize("verifier", ["a" * 42, "a" * 129, VERIFIER + "!", VERIFIER[:-1] + "é", VERIFIER[:-1] + "="])
def test_malformed_verifier_is_invalid_grant(verifier: str) -> None:
    with pytest.raises(OAuthError) as info:
        pkce.verify(verifier, pkce.s256("a" * 43))
    assert _code(info) is ErrorCode.INVALID_GRANT


def test_malformed_verifier_is_refused_even_when_its_hash_matches() -> None:
    # The grammar is checked, not only the hash: a 42-character verifier never verifies.
    short = "a" * 42
    with pytest.raises(OAuthError) as info:
        pkce.verify(short, pkce.s256(short))
    assert _code(info) is ErrorCode.INVALID_GRANT


def test_verify_uses_s256_not_plain() -> None:
    with pytest.raises(OAuthError) as info:
        pkce.verify(VERIFIER, VERIFIER)
    assert _code(info) is ErrorCode.INVALID_GRANT


# --- reject_downgrade --------------------------------------------------------------------------------


def test_verifier_for_a_code_without_challenge_is_invalid_request() -> None:
    with pytest.raises(OAuthError) as info:
        pkce.reject_downgrade(VERIFIER, code_had_challenge=False)
    assert _code(info) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(("verifier", "had"), [(VERIFIER, True), (None, True), (None, False)])
def test_downgrade_check_passes_otherwise(verifier: str | None, had: bool) -> None:
    pkce.reject_downgrade(verifier, code_had_challenge=had)


def test_supported_methods_for_discovery() -> None:
    assert pkce.CODE_CHALLENGE_METHODS_SUPPORTED == ("S256",)
