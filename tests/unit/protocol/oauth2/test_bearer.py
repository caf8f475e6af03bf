"""Bearer token extraction and challenges: RFC 6750 §2 and §3, OAuth 2.1 §5.1 (no query tokens)."""

from __future__ import annotations

import pytest

from lukhas_id.protocol.oauth2.bearer import (
    MAX_BEARER_LENGTH,
    BearerError,
    BearerErrorCode,
    challenge,
    extract_bearer,
    insufficient_scope,
    invalid_token,
)

JWT_LIKE = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_"


def _error(authorization: str | None, form: str | None = None, query: bool = False) -> BearerError:
    with pytest.raises(BearerError) as info:
        extract_bearer(authorization, form, query)
    return info.value


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_scheme_is_case_insensitive(scheme: str) -> None:
    assert extract_bearer(f"{scheme} {JWT_LIKE}", None, False) == JWT_LIKE


@pytest.mark.parametrize(
    "token",
    ["abc", "A-Z.a_z~0+9/", "mF_9.B5f-4.1JqM", "YWJj==", "x=", "a" * 100, JWT_LIKE],
)
def test_b64token_characters_are_accepted(token: str) -> None:
    assert extract_bearer(f"Bearer {token}", None, False) == token
    assert extract_bearer(None, token, False) == token


def test_several_spaces_after_the_scheme_and_surrounding_whitespace() -> None:
    assert extract_bearer("  Bearer   abc  ", None, False) == "abc"


@pytest.mark.parametrize(
    "token",
    ["a b", "a,b", 'a"b', "a\\b", "=abc", "a=b", "é", "a\tb", "a;b", "a%20b", "x" * (MAX_BEARER_LENGTH + 1)],
)
def test_malformed_tokens_are_invalid_token(token: str) -> None:
    for err in (_error(f"Bearer {token}"), _error(None, token)):
        assert (err.status, err.error) == (401, "invalid_token")


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "bearer    "])
def test_bearer_without_a_token_is_invalid_request(header: str) -> None:
    err = _error(header)
    assert (err.status, err.error) == (400, "invalid_request")


def test_a_token_sent_by_two_methods_is_invalid_request() -> None:
    err = _error("Bearer abc", "abc")
    assert (err.status, err.error) == (400, "invalid_request")
    # Another scheme in the header plus a form token is still two methods.
    err = _error("Basic dXNlcjpwYXNz", "abc")
    assert (err.status, err.error) == (400, "invalid_request")


def test_no_credentials_has_no_error_code() -> None:
    err = _error(None)
    assert (err.status, err.error) == (401, None)
    assert challenge("https://id.example", err.error, err.description) == 'Bearer realm="https://id.example"'


def test_a_query_token_is_ignored() -> None:
    # Alone, it is as if no token had been sent.
    err = _error(None, None, query=True)
    assert (err.status, err.error) == (401, None)
    assert "query" in err.description
    # With another method, the other method wins and there is no "two methods" error.
    assert extract_bearer("Bearer abc", None, True) == "abc"
    assert extract_bearer(None, "abc", True) == "abc"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "DPoP abc", "Bearerabc", "Token abc", ""])
def test_another_scheme_carries_no_bearer_credentials(header: str) -> None:
    err = _error(header)
    assert (err.status, err.error) == (401, None)


def test_an_empty_form_token_counts_as_absent() -> None:
    assert extract_bearer("Bearer abc", "", False) == "abc"
    assert _error(None, "").error is None


def test_challenge_with_error_description_and_scope() -> None:
    err = insufficient_scope("openid", "needs openid")
    value = challenge("https://id.example/t/acme", err.error, err.description, err.scope)
    assert value == (
        'Bearer realm="https://id.example/t/acme", error="insufficient_scope", '
        'error_description="needs openid", scope="openid"'
    )
    assert err.status == 403 and err.error == BearerErrorCode.INSUFFICIENT_SCOPE


def test_challenge_values_never_hold_quotes_or_backslashes() -> None:
    value = challenge('r"e\\alm', "invalid_token", 'say "hi" \\ bye\n\x00é', 'a"b c\\d')
    assert value.startswith("Bearer ")
    params = value.removeprefix("Bearer ").split(", ")
    names = [p.partition("=")[0] for p in params]
    assert names == ["realm", "error", "error_description", "scope"]
    for param in params:
        inner = param.partition("=")[2]
        assert inner.startswith('"') and inner.endswith('"')
        body = inner[1:-1]
        assert '"' not in body and "\\" not in body
        assert all(" " <= c <= "~" for c in body)


def test_challenge_each_param_at_most_once_and_description_bounded() -> None:
    err = invalid_token("x" * 1000)
    value = challenge("r", err.error, err.description, "openid")
    names = [p.partition("=")[0] for p in value.removeprefix("Bearer ").split(", ")]
    assert sorted(names) == sorted(set(names)) == ["error", "error_description", "realm", "scope"]
    assert len(value) < 400


def test_challenge_without_error_omits_the_description() -> None:
    assert challenge("r", None, "something") == 'Bearer realm="r"'
