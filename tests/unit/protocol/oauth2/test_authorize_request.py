"""protocol/oauth2/authorize.py: RFC 6749 §4.1.1/§4.1.2.1, OAuth 2.1 §4.1.1, RFC 9700 §4.11, OIDC Core §3.1.2.1."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from urllib.parse import parse_qs, urlsplit

import pytest

from lukhas_id.domain.client import Client, ClientAuthMethod, ClientStatus, GrantType, TokenFormat
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.protocol.oauth2 import pkce
from lukhas_id.protocol.oauth2.authorize import (
    AuthorizationRequest,
    AuthorizeErrorCode,
    AuthorizeFatal,
    AuthorizeRedirectError,
    Prompt,
    error_redirect_location,
    error_redirect_params,
    parse_authorization_request,
    requested_client_id,
)

E = AuthorizeErrorCode
CB = "https://app.example.com/cb"
CB2 = "https://app.example.com/other"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = pkce.s256(VERIFIER)
ODD_STATE = "a b+c&d=e%25f\"'<>\\/?#é\u00a0~"
ISSUER = "https://id.example.com"


def _client(**changes: object) -> Client:
    base = Client(
        tenant_id="t1",
        client_id="cl_app",
        name="App",
        principal_lid="SVC-x",
        principal_type=PrincipalType.SERVICE,
        secret_hash="",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN}),
        scopes=frozenset({"openid", "profile", "email", "read"}),
        resources=(),
        token_format=TokenFormat.JWT,
        access_token_ttl=300,
        status=ClientStatus.ACTIVE,
        created_at=0.0,
        redirect_uris=(CB,),
        token_endpoint_auth_method=ClientAuthMethod.NONE,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


CLIENT = _client()


def _params(**overrides: str | list[str] | None) -> dict[str, list[str]]:
    """A valid request; `name=None` drops a parameter, a list gives repeats."""
    values: dict[str, str | list[str] | None] = {
        "client_id": "cl_app",
        "response_type": "code",
        "redirect_uri": CB,
        "scope": "openid profile",
        "state": "st-1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    values.update(overrides)
    return {k: (v if isinstance(v, list) else [v]) for k, v in values.items() if v is not None}


def _parse(client: Client | None = CLIENT, /, **overrides: str | list[str] | None) -> AuthorizationRequest:
    return parse_authorization_request(_params(**overrides), client)


def _fatal(client: Client | None = CLIENT, /, **overrides: str | list[str] | None) -> AuthorizeFatal:
    with pytest.raises(AuthorizeFatal) as info:
        _parse(client, **overrides)
    assert not isinstance(info.value, AuthorizeRedirectError)
    return info.value


def _redirect(client: Client | None = CLIENT, /, **overrides: str | list[str] | None) -> AuthorizeRedirectError:
    with pytest.raises(AuthorizeRedirectError) as info:
        _parse(client, **overrides)
    return info.value


# --- the happy path ------------------------------------------------------------------------------------


def test_valid_request() -> None:
    req = _parse(nonce="n-0S6_WzA2Mj", login_hint="alice", ui_locales="fr-CA fr en", acr_values="urn:a urn:b")
    assert req == AuthorizationRequest(
        client_id="cl_app",
        redirect_uri=CB,
        redirect_uri_in_request=True,
        response_type="code",
        response_mode="query",
        scope=("openid", "profile"),
        state="st-1",
        nonce="n-0S6_WzA2Mj",
        code_challenge=CHALLENGE,
        code_challenge_method="S256",
        prompt=frozenset(),
        max_age=None,
        login_hint="alice",
        id_token_hint=None,
        display=None,
        ui_locales=("fr-CA", "fr", "en"),
        acr_values=("urn:a", "urn:b"),
    )
    assert req.openid


def test_request_is_frozen() -> None:
    req = _parse()
    with pytest.raises(FrozenInstanceError):
        req.state = "x"  # type: ignore[misc]


def test_unknown_parameters_are_ignored() -> None:
    assert _parse(foo="bar", claims='{"id_token":{"acr":null}}', resource="https://api.example").state == "st-1"


def test_empty_values_count_as_absent() -> None:
    req = _parse(state="", nonce="", prompt="", max_age="", response_mode="", login_hint="")
    assert (req.state, req.nonce, req.prompt, req.max_age, req.login_hint) == (None, None, frozenset(), None, None)


def test_state_is_kept_byte_for_byte() -> None:
    assert _parse(state=ODD_STATE).state == ODD_STATE


def test_without_openid_it_is_plain_oauth() -> None:
    req = _parse(scope="read")
    assert not req.openid and req.scope == ("read",)


def test_scope_keeps_order_and_drops_duplicates() -> None:
    assert _parse(scope="profile openid profile").scope == ("profile", "openid")


def test_optional_oidc_values_are_carried() -> None:
    req = _parse(id_token_hint="eyJ.a.b", display="popup")
    assert (req.id_token_hint, req.display) == ("eyJ.a.b", "popup")


def test_requested_client_id() -> None:
    assert requested_client_id(_params()) == "cl_app"
    with pytest.raises(AuthorizeFatal) as info:
        requested_client_id(_params(client_id=None))
    assert info.value.code is E.INVALID_REQUEST
    with pytest.raises(AuthorizeFatal):
        requested_client_id(_params(client_id=["cl_app", "cl_app"]))


# --- fatal: client --------------------------------------------------------------------------------------


def test_missing_client_id_is_fatal() -> None:
    assert _fatal(client_id=None).code is E.INVALID_REQUEST


def test_empty_client_id_is_fatal() -> None:
    assert _fatal(client_id="").code is E.INVALID_REQUEST


def test_repeated_client_id_is_fatal() -> None:
    assert _fatal(client_id=["cl_app", "cl_app"]).code is E.INVALID_REQUEST


def test_unknown_client_is_fatal() -> None:
    assert _fatal(None).code is E.INVALID_CLIENT


def test_client_that_does_not_belong_to_the_client_id_is_fatal() -> None:
    assert _fatal(client_id="cl_other").code is E.INVALID_CLIENT


def test_disabled_client_is_fatal() -> None:
    err = _fatal(_client(status=ClientStatus.DISABLED))
    assert err.code is E.INVALID_CLIENT and "disabled" in err.description


# --- fatal: redirect_uri --------------------------------------------------------------------------------


def test_redirect_uri_may_be_omitted_with_one_registered() -> None:
    req = _parse(redirect_uri=None, scope="read")
    assert (req.redirect_uri, req.redirect_uri_in_request) == (CB, False)


def test_missing_redirect_uri_with_several_registered_is_fatal() -> None:
    err = _fatal(_client(redirect_uris=(CB, CB2)), redirect_uri=None, scope="read")
    assert err.code is E.INVALID_REQUEST and "several" in err.description


def test_missing_redirect_uri_in_an_openid_request_is_fatal() -> None:
    assert _fatal(redirect_uri=None, scope="profile openid").code is E.INVALID_REQUEST


def test_client_without_registered_redirect_uris_is_fatal() -> None:
    assert _fatal(_client(redirect_uris=())).code is E.INVALID_REQUEST
    assert _fatal(_client(redirect_uris=()), redirect_uri=None, scope="read").code is E.INVALID_REQUEST


@pytest.mark.parametrize("uri", [CB + "/", CB + "?x=1", "https://evil.example/cb", CB.upper(), CB + "#f"])
def test_mismatching_redirect_uri_is_fatal(uri: str) -> None:
    assert "does not match" in _fatal(redirect_uri=uri).description


def test_repeated_redirect_uri_is_fatal() -> None:
    assert _fatal(redirect_uri=[CB, CB]).code is E.INVALID_REQUEST


def test_registered_but_invalid_redirect_uri_is_fatal() -> None:
    # A URI registered before the rules tightened is still refused, never redirected to.
    legacy = "http://app.example.com/cb"
    err = _fatal(_client(redirect_uris=(legacy,)), redirect_uri=legacy)
    assert err.code is E.INVALID_REQUEST and "invalid redirect_uri" in err.description


def test_several_registered_the_requested_one_is_used() -> None:
    assert _parse(_client(redirect_uris=(CB, CB2)), redirect_uri=CB2).redirect_uri == CB2


def test_loopback_redirect_uri_with_another_port_is_the_effective_one() -> None:
    client = _client(redirect_uris=("http://127.0.0.1/cb",))
    req = _parse(client, redirect_uri="http://127.0.0.1:49152/cb")
    assert req.redirect_uri == "http://127.0.0.1:49152/cb"


def test_localhost_redirect_uri_with_another_port_is_fatal() -> None:
    client = _client(redirect_uris=("http://localhost:3000/cb",))
    _fatal(client, redirect_uri="http://localhost:3001/cb")


def test_fatal_errors_win_over_every_other_error() -> None:
    # Everything else is wrong too, but nothing may be redirected while the redirect_uri is bad.
    err = _fatal(redirect_uri="https://evil.example/cb", response_type="token", scope=None, code_challenge=None)
    assert "does not match" in err.description


def test_unsupported_response_mode_is_fatal() -> None:
    for mode in ("fragment", "form_post", "query.jwt", "QUERY"):
        assert _fatal(response_mode=mode).code is E.INVALID_REQUEST


def test_query_response_mode_is_accepted() -> None:
    assert _parse(response_mode="query").response_mode == "query"


# --- redirect errors ---------------------------------------------------------------------------------------


def _assert_redirect(err: AuthorizeRedirectError, code: AuthorizeErrorCode, state: str | None = ODD_STATE) -> None:
    assert err.code is code
    assert err.redirect_uri == CB
    assert err.state == state
    assert err.response_mode == "query"


def test_missing_response_type() -> None:
    _assert_redirect(_redirect(response_type=None, state=ODD_STATE), E.INVALID_REQUEST)


@pytest.mark.parametrize("rt", ["token", "id_token", "code id_token", "code token", "none", "Code", "code "])
def test_other_response_types_are_unsupported(rt: str) -> None:
    _assert_redirect(_redirect(response_type=rt, state=ODD_STATE), E.UNSUPPORTED_RESPONSE_TYPE)


def test_repeated_response_type() -> None:
    _assert_redirect(_redirect(response_type=["code", "code"], state=ODD_STATE), E.INVALID_REQUEST)


def test_client_without_the_code_grant_is_unauthorized() -> None:
    client = _client(grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}))
    _assert_redirect(_redirect(client, state=ODD_STATE), E.UNAUTHORIZED_CLIENT)


def test_missing_scope_is_invalid_scope() -> None:
    _assert_redirect(_redirect(redirect_uri=None, scope=None, state=ODD_STATE), E.INVALID_SCOPE)


def test_scope_not_allowed_for_the_client() -> None:
    _assert_redirect(_redirect(scope="openid admin", state=ODD_STATE), E.INVALID_SCOPE)


def test_openid_must_be_allowed_too() -> None:
    client = _client(scopes=frozenset({"read"}))
    _assert_redirect(_redirect(client, scope="openid read", state=ODD_STATE), E.INVALID_SCOPE)


def test_malformed_scope() -> None:
    _assert_redirect(_redirect(scope='openid "profile"', state=ODD_STATE), E.INVALID_SCOPE)


def test_missing_code_challenge() -> None:
    err = _redirect(code_challenge=None, code_challenge_method=None, state=ODD_STATE)
    _assert_redirect(err, E.INVALID_REQUEST)
    assert "code_challenge" in err.description


def test_pkce_is_required_of_confidential_clients_too() -> None:
    client = _client(token_endpoint_auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC)
    _assert_redirect(_redirect(client, code_challenge=None, state=ODD_STATE), E.INVALID_REQUEST)


def test_plain_pkce_is_refused() -> None:
    err = _redirect(code_challenge=VERIFIER, code_challenge_method="plain", state=ODD_STATE)
    _assert_redirect(err, E.INVALID_REQUEST)
    assert "S256" in err.description


def test_absent_challenge_method_is_refused() -> None:
    _assert_redirect(_redirect(code_challenge_method=None, state=ODD_STATE), E.INVALID_REQUEST)


def test_malformed_code_challenge() -> None:
    _assert_redirect(_redirect(code_challenge="short", state=ODD_STATE), E.INVALID_REQUEST)


def test_request_object_is_not_supported() -> None:
    _assert_redirect(_redirect(request="eyJ.x.y", state=ODD_STATE), E.REQUEST_NOT_SUPPORTED)


def test_request_uri_is_not_supported() -> None:
    err = _redirect(request_uri="urn:ietf:params:oauth:request_uri:x", state=ODD_STATE)
    _assert_redirect(err, E.REQUEST_URI_NOT_SUPPORTED)


def test_registration_is_not_supported() -> None:
    _assert_redirect(_redirect(registration="{}", state=ODD_STATE), E.REGISTRATION_NOT_SUPPORTED)


def test_request_object_is_reported_before_missing_parameters() -> None:
    # With JAR the outer request may carry only client_id and request.
    err = _redirect(request="eyJ.x.y", response_type=None, scope=None, code_challenge=None, state=ODD_STATE)
    _assert_redirect(err, E.REQUEST_NOT_SUPPORTED)


def test_repeated_state_redirects_without_state() -> None:
    _assert_redirect(_redirect(state=["a", "b"]), E.INVALID_REQUEST, state=None)


def test_absent_state_is_none_on_errors() -> None:
    _assert_redirect(_redirect(state=None, response_type="token"), E.UNSUPPORTED_RESPONSE_TYPE, state=None)


@pytest.mark.parametrize("name", ["scope", "nonce", "prompt", "max_age", "code_challenge", "login_hint", "ui_locales"])
def test_repeated_parameters_are_invalid_request(name: str) -> None:
    _assert_redirect(_redirect(state=ODD_STATE, **{name: ["x", "y"]}), E.INVALID_REQUEST)


def test_redirect_errors_use_the_effective_loopback_uri() -> None:
    client = _client(redirect_uris=("http://127.0.0.1/cb",))
    err = _redirect(client, redirect_uri="http://127.0.0.1:5555/cb", response_type="token")
    assert err.redirect_uri == "http://127.0.0.1:5555/cb"


# --- prompt and max_age ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("none", {Prompt.NONE}),
        ("login", {Prompt.LOGIN}),
        ("consent", {Prompt.CONSENT}),
        ("login consent", {Prompt.LOGIN, Prompt.CONSENT}),
        ("select_account", {Prompt.LOGIN}),
        ("select_account consent", {Prompt.LOGIN, Prompt.CONSENT}),
        ("login create", {Prompt.LOGIN}),  # unknown values are ignored
        ("consent  login", {Prompt.LOGIN, Prompt.CONSENT}),
    ],
)
def test_prompt_values(prompt: str, expected: set[Prompt]) -> None:
    assert _parse(prompt=prompt).prompt == frozenset(expected)


@pytest.mark.parametrize("prompt", ["none login", "consent none", "none select_account", "none create"])
def test_prompt_none_with_anything_else(prompt: str) -> None:
    _assert_redirect(_redirect(prompt=prompt, state=ODD_STATE), E.INVALID_REQUEST)


def test_prompt_none_twice_is_just_none() -> None:
    assert _parse(prompt="none none").prompt == frozenset({Prompt.NONE})


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("3600", 3600), ("0042", 42), ("9999999999", 9999999999)])
def test_max_age(text: str, value: int) -> None:
    assert _parse(max_age=text).max_age == value


@pytest.mark.parametrize("text", ["-1", "+5", "1.5", " 5", "5 ", "abc", "1e3", "٣", "12345678901"])
def test_bad_max_age(text: str) -> None:
    _assert_redirect(_redirect(max_age=text, state=ODD_STATE), E.INVALID_REQUEST)


# --- the error response --------------------------------------------------------------------------------


def test_error_redirect_params() -> None:
    err = AuthorizeRedirectError(E.ACCESS_DENIED, "the user said no", CB, ODD_STATE)
    assert error_redirect_params(err, ISSUER) == {
        "error": "access_denied",
        "error_description": "the user said no",
        "state": ODD_STATE,
        "iss": ISSUER,
    }


def test_error_redirect_params_without_state() -> None:
    err = AuthorizeRedirectError(E.SERVER_ERROR, "oops", CB, None)
    assert error_redirect_params(err, ISSUER) == {"error": "server_error", "error_description": "oops", "iss": ISSUER}


def test_error_description_is_restricted_to_the_allowed_characters() -> None:
    err = AuthorizeRedirectError(E.INVALID_REQUEST, 'bad "x"\\ é\n\x7f ok!', CB, None)
    assert error_redirect_params(err, ISSUER)["error_description"] == "bad x  ok!"


def test_an_empty_description_is_left_out() -> None:
    err = AuthorizeRedirectError(E.INVALID_REQUEST, '"é"', CB, None)
    assert "error_description" not in error_redirect_params(err, ISSUER)


def test_error_location_keeps_the_registered_query_and_state_round_trips() -> None:
    client = _client(redirect_uris=("https://app.example.com/cb?tenant=t1",))
    err = _redirect(client, redirect_uri="https://app.example.com/cb?tenant=t1", response_type="token", state=ODD_STATE)
    location = error_redirect_location(err, ISSUER)
    assert location.startswith("https://app.example.com/cb?tenant=t1&error=unsupported_response_type&")
    assert parse_qs(urlsplit(location).query) == {
        "tenant": ["t1"],
        "error": ["unsupported_response_type"],
        "error_description": [err.description],
        "state": [ODD_STATE],
        "iss": [ISSUER],
    }


def test_later_errors_come_from_the_parsed_request() -> None:
    req = _parse(state=ODD_STATE, prompt="none")
    err = req.error(E.LOGIN_REQUIRED, "no session")
    assert isinstance(err, AuthorizeRedirectError)
    _assert_redirect(err, E.LOGIN_REQUIRED)


def test_every_built_in_description_is_in_the_allowed_charset() -> None:
    # Descriptions are sent unchanged: none of ours should need sanitizing.
    cases: list[dict[str, str | list[str] | None]] = [
        {"response_type": None},
        {"response_type": "token"},
        {"scope": None},
        {"scope": "admin"},
        {"scope": 'a"b'},
        {"code_challenge": None},
        {"code_challenge_method": "plain"},
        {"code_challenge": "x"},
        {"prompt": "none login"},
        {"max_age": "x"},
        {"request": "x"},
        {"request_uri": "x"},
        {"registration": "x"},
        {"state": ["a", "b"]},
    ]
    for overrides in cases:
        err = _redirect(**overrides)
        assert error_redirect_params(err, ISSUER)["error_description"] == err.description
