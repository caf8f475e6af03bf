"""The token endpoint below the web layer (services/oauth_endpoints.py): driven without HTTP, its two slots
(sender constraint, policy), and the typed token response."""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx
import jwt
import pytest

from lukhas_id.clock import SystemClock
from lukhas_id.domain.client import Client, GrantType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import ErrorCode, KeyUnavailable, OAuthError
from lukhas_id.protocol.oauth2.grants import Confirmation, GrantContext, IssuedTokens, token_response
from lukhas_id.protocol.oauth2.request import HttpMessage, OAuthRequest
from lukhas_id.services.oauth_endpoints import OAuthEndpoints, PolicyCheck, SenderConstraint
from lukhas_id.services.revocation import RevocationService
from lukhas_id.settings import Settings
from tests.support.harness import BASE, Harness, RegisteredClient, running

FORM = {"content-type": ("application/x-www-form-urlencoded",)}


def message(rc: RegisteredClient, body: bytes, *, path: str = "/oauth2/token", peer: str = "192.0.2.1") -> HttpMessage:
    basic = "Basic " + base64.b64encode(f"{rc.client_id}:{rc.secret}".encode()).decode()
    return HttpMessage(
        method="POST",
        path=path,
        tenant=None,
        headers={**FORM, "authorization": (basic,)},
        query=b"",
        body=body,
        peer=peer,
    )


def endpoints(
    h: Harness, *, sender: tuple[SenderConstraint, ...] = (), policy: tuple[PolicyCheck, ...] = ()
) -> OAuthEndpoints:
    c = h.c
    return OAuthEndpoints(
        c.tenants,
        c.client_authentication,
        c.grant_handlers,
        c.tokens,
        RevocationService(c.tokens, c.refresh),
        sender_constraints=sender,
        policy=policy,
    )


async def test_the_token_endpoint_runs_without_http(h: Harness) -> None:
    rc = await h.client()
    answer = await h.c.oauth.token(message(rc, b"grant_type=client_credentials&scope=api%3Aread"))
    assert answer.body is not None
    assert answer.body["token_type"] == "Bearer" and answer.body["scope"] == "api:read"
    info = await h.introspect(rc, answer.body["access_token"])
    assert info["active"] is True and info["client_id"] == rc.client_id
    # The steps' errors come out as OAuthError, whatever edge called.
    with pytest.raises(OAuthError) as refused:
        await h.c.oauth.token(message(rc, b"grant_type=password"))
    assert refused.value.code is ErrorCode.UNSUPPORTED_GRANT_TYPE
    revoked = await h.c.oauth.revoke(
        message(rc, f"token={answer.body['access_token']}".encode(), path="/oauth2/revoke")
    )
    assert revoked.body is None
    assert (await h.introspect(rc, answer.body["access_token"]))["active"] is False


async def test_the_target_uri_comes_from_the_issuer_never_from_the_host(h: Harness) -> None:
    rc = await h.client()
    seen: list[OAuthRequest] = []

    async def record(tenant: Tenant, client: Client, request: OAuthRequest) -> Confirmation | None:
        seen.append(request)
        return None

    resp = await h.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={**rc.auth, "host": "attacker.example", "dpop": "proof"},
    )
    assert resp.status_code == 200
    await endpoints(h, sender=(record,)).token(message(rc, b"grant_type=client_credentials"))
    assert seen[0].target_uri == f"{BASE}/oauth2/token"
    assert seen[0].method == "POST" and seen[0].peer == "192.0.2.1" and seen[0].client_cert is None
    # Over HTTP, the request carries the same derived URI and the DPoP header (the slot sees both).
    h.c.oauth = endpoints(h, sender=(record,))
    resp = await h.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={**rc.auth, "host": "attacker.example", "dpop": "proof"},
    )
    assert resp.status_code == 200, resp.text
    assert seen[1].target_uri == f"{BASE}/oauth2/token" and seen[1].dpop == "proof"


async def test_repeated_dpop_header_is_invalid_request(h: Harness) -> None:
    rc = await h.client()
    resp = await h.http.post(
        "/oauth2/token",
        content=b"grant_type=client_credentials",
        headers=[
            ("authorization", rc.auth["Authorization"]),
            ("content-type", "application/x-www-form-urlencoded"),
            ("dpop", "a"),
            ("dpop", "b"),
        ],
    )
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_request", "error_description": "repeated Dpop header"}


async def test_the_sender_constraint_slot_binds_the_token(h: Harness) -> None:
    """A check in the slot that returns a confirmation: `cnf` in the token, token_type DPoP, set once each."""
    rc = await h.client()

    async def bind(tenant: Tenant, client: Client, request: OAuthRequest) -> Confirmation | None:
        return Confirmation(jkt="0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")

    answer = await endpoints(h, sender=(bind,)).token(message(rc, b"grant_type=client_credentials"))
    assert answer.body is not None and answer.body["token_type"] == "DPoP"
    claims = jwt.decode(answer.body["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}

    async def other_key(tenant: Tenant, client: Client, request: OAuthRequest) -> Confirmation | None:
        return Confirmation(x5t_s256="bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2")

    with pytest.raises(OAuthError) as refused:
        await endpoints(h, sender=(bind, other_key)).token(message(rc, b"grant_type=client_credentials"))
    assert refused.value.code is ErrorCode.INVALID_REQUEST


async def test_the_policy_slot_sees_the_grant_and_can_refuse_it(h: Harness) -> None:
    rc = await h.client()
    decided: list[tuple[str, GrantType]] = []

    async def deny_agents(ctx: GrantContext, grant: GrantType) -> None:
        decided.append((ctx.client.client_id, grant))
        raise OAuthError(ErrorCode.UNAUTHORIZED_CLIENT, "policy: not now")

    with pytest.raises(OAuthError) as refused:
        await endpoints(h, policy=(deny_agents,)).token(message(rc, b"grant_type=client_credentials"))
    assert refused.value.code is ErrorCode.UNAUTHORIZED_CLIENT
    assert decided == [(rc.client_id, GrantType.CLIENT_CREDENTIALS)]
    # A refused client authentication never reaches the policy.
    wrong = RegisteredClient(rc.client, "wrong secret", rc.tenant)
    with pytest.raises(OAuthError) as refused:
        await endpoints(h, policy=(deny_agents,)).token(message(wrong, b"grant_type=client_credentials"))
    assert refused.value.code is ErrorCode.INVALID_CLIENT and len(decided) == 1


async def test_no_signing_key_is_503_at_every_endpoint(h: Harness) -> None:
    """KeyUnavailable from any step (here the policy slot of the token endpoint, and the token lookup of
    introspection and revocation) is 503 temporarily_unavailable, never a 500."""
    rc = await h.client()

    async def no_key(*_: object) -> None:
        raise KeyUnavailable("no key")

    with pytest.raises(OAuthError) as refused:
        await endpoints(h, policy=(no_key,)).token(message(rc, b"grant_type=client_credentials"))
    assert (refused.value.code, refused.value.status) == (ErrorCode.TEMPORARILY_UNAVAILABLE, 503)

    class KeylessTokens:
        async def introspect(self, *_: object) -> None:
            raise KeyUnavailable("no key")

        async def revoke_access_token(self, *_: object) -> bool:
            raise KeyUnavailable("no key")

    c = h.c
    keyless = OAuthEndpoints(
        c.tenants,
        c.client_authentication,
        c.grant_handlers,
        KeylessTokens(),  # type: ignore[arg-type]
        RevocationService(KeylessTokens(), c.refresh),  # type: ignore[arg-type]
    )
    for call, path in ((keyless.introspect, "/oauth2/introspect"), (keyless.revoke, "/oauth2/revoke")):
        with pytest.raises(OAuthError) as refused:
            await call(message(rc, b"token=abc", path=path))
        assert (refused.value.code, refused.value.status) == (ErrorCode.TEMPORARILY_UNAVAILABLE, 503), path


def test_token_type_is_set_in_one_place() -> None:
    issued = IssuedTokens("at", 60, scope="a")
    assert token_response(issued, None) == {
        "access_token": "at",
        "token_type": "Bearer",
        "expires_in": 60,
        "scope": "a",
    }
    assert token_response(issued, Confirmation(x5t_s256="x"))["token_type"] == "Bearer"
    assert token_response(issued, Confirmation(jkt="k"))["token_type"] == "DPoP"
    assert "scope" not in token_response(IssuedTokens("at", 60), None)


async def test_the_client_certificate_header_is_read_only_from_a_trusted_proxy(prepared: Settings) -> None:
    """LUKHAS_ID_CLIENT_CERT_HEADER: the certificate a TLS-terminating proxy forwards (URL-encoded PEM)
    reaches the request only when the peer is a trusted proxy; from anyone else the header is ignored."""
    settings = prepared.model_copy(update={"trusted_proxies": ("192.0.2.10",), "client_cert_header": "x-client-cert"})
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    async with running(settings, SystemClock()) as h:
        rc = await h.client()
        seen: list[OAuthRequest] = []

        async def record(tenant: Tenant, client: Client, request: OAuthRequest) -> Confirmation | None:
            seen.append(request)
            return None

        h.c.oauth = endpoints(h, sender=(record,))
        for peer in ("192.0.2.10", "203.0.113.5"):
            transport = httpx.ASGITransport(app=h.app, client=(peer, 4711))
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
                resp = await http.post(
                    "/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    headers={**rc.auth, "x-client-cert": quote(pem)},
                )
            assert resp.status_code == 200, resp.text
    assert [r.client_cert for r in seen] == [pem, None]
