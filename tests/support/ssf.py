"""An SSF receiver's side of the tests (OpenID SSF 1.0, RFC 8935/8936): stream creation, polling, and SETs
verified with PyJWT (not ΛiD's jose/) against the JWKS the app serves."""

from __future__ import annotations

from typing import Any

import jwt

from tests.support.harness import BASE, Harness, RegisteredClient

SSF = "https://schemas.openid.net/secevent/ssf/event-type/"
CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"


async def receiver_token(h: Harness, rc: RegisteredClient) -> dict[str, str]:
    return {"Authorization": "Bearer " + await h.access_token(rc, scope="ssf")}


async def new_receiver(h: Harness, tenant: str | None = None) -> tuple[RegisteredClient, dict[str, str]]:
    rc = await h.client(tenant=tenant, scopes="ssf", resources=())
    return rc, await receiver_token(h, rc)


async def create(h: Harness, auth: dict[str, str], body: dict[str, Any], base: str = "") -> dict[str, Any]:
    resp = await h.http.post(f"{base}/ssf/streams", json=body, headers=auth)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def verified(h: Harness, token: str, client_id: str, base: str = "", *, leeway: float = 0) -> dict[str, Any]:
    """The SET's claims, checked by PyJWT against the JWKS served by the app (`leeway`: for a server on a
    fixed clock ahead of this one)."""
    jwks = (await h.http.get(f"{base}/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "secevent+jwt"
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key=key,
        algorithms=[header["alg"]],
        audience=client_id,
        issuer=BASE + base,
        options={"require": ["iat", "jti"]},
        leeway=leeway,
    )
    assert "sub" not in claims and "exp" not in claims
    return claims


async def poll(h: Harness, auth: dict[str, str], stream: dict[str, Any], **body: Any) -> dict[str, Any]:
    path = stream["delivery"]["endpoint_url"].removeprefix(BASE)
    resp = await h.http.post(path, json=body, headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def drain(
    h: Harness, auth: dict[str, str], stream: dict[str, Any], client_id: str, *, leeway: float = 0
) -> list[dict[str, Any]]:
    """Every SET waiting on a poll stream, verified, in order; acknowledged (RFC 8936 §2.4.2)."""
    out: list[dict[str, Any]] = []
    while True:
        got = await poll(h, auth, stream, returnImmediately=True, maxEvents=100)
        out += [await verified(h, token, client_id, leeway=leeway) for token in got["sets"].values()]
        if got["sets"]:
            await poll(h, auth, stream, ack=list(got["sets"]), maxEvents=0)
        if not got["moreAvailable"]:
            return out
