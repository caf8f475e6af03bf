"""A relying party's side of the authorization code flow, for feature tests.

The client registration (`rp`), PKCE pairs (RFC 7636), authorization request URLs, reading the
redirect back at the RP, hidden form fields of the pages, and codes minted through the service layer
and redeemed at the token endpoint (RFC 6749 §4.1, OAuth 2.1 §4.1, OIDC Core §3.1).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlencode, urlsplit

from lukhas_id.domain.client import Client, GrantType, SubjectType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.services.codes import CodeGrant
from tests.support.harness import BASE, Harness, basic

REDIRECT = "https://rp.example.com/cb"
STATE = "xyz &=é"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def authorize_url(client: Client, challenge: str, base: str = "", **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": STATE,
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{base}/oauth2/authorize?{urlencode(params)}"


def path_of(location: str) -> str:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == BASE
    return parts.path + (f"?{parts.query}" if parts.query else "")


def rp_params(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}


@dataclass
class RP:
    client: Client
    secret: str | None
    tenant: Tenant


async def rp(
    h: Harness, *, public: bool = False, subject_type: SubjectType = SubjectType.PUBLIC, alg: str = "RS256"
) -> RP:
    tenant = await h.tenant()
    client, secret = await h.c.clients.create(
        tenant,
        name="relying party",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset({"openid", "profile", "email", "offline_access"}),
        # A pairwise client's sector is its one redirect host (OIDC Core §8.1).
        redirect_uris=(REDIRECT,) if subject_type is SubjectType.PAIRWISE else (REDIRECT, "http://127.0.0.1/cb"),
        public=public,
        subject_type=subject_type,
        id_token_signed_response_alg=alg,
    )
    return RP(client, secret, tenant)


async def mint(h: Harness, rp: RP, challenge: str, **overrides: object) -> tuple[str, CodeGrant]:
    """A code issued straight into the code store, as the authorization endpoint would (for a new real
    user unless `user_lid` is given: the code grant looks its user up)."""
    if "user_lid" not in overrides:
        overrides["user_lid"] = (await h.c.users.create(rp.tenant, "code-" + secrets.token_hex(6))).lid
    grant = CodeGrant(
        tenant_id=rp.tenant.id,
        client_id=rp.client.client_id,
        redirect_uri=REDIRECT,
        redirect_uri_sent=True,
        user_lid="",
        scope=("openid", "profile"),
        code_challenge=challenge,
        nonce="n-0S6_WzA2Mj",
        auth_time=int(time.time()) - 5,
        amr=("pwd",),
        acr="urn:lukhas-id:acr:password",
        sid="sid-1",
    )
    grant = replace(grant, **overrides)  # type: ignore[arg-type]
    return await h.c.codes.issue(grant), grant


async def redeem(h: Harness, rp: RP, code: str, verifier: str | None, **form: str) -> tuple[int, dict[str, object]]:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **form}
    if verifier is not None:
        data["code_verifier"] = verifier
    headers = {}
    if rp.secret is None:
        data["client_id"] = rp.client.client_id
    else:
        headers = basic(rp.client.client_id, rp.secret)
    data = {k: v for k, v in data.items() if v is not None}
    resp = await h.http.post("/oauth2/token", data=data, headers=headers)
    return resp.status_code, resp.json()
