"""Authorization server metadata (RFC 8414, OIDC Discovery 1.0) and the JWKS (RFC 7517).

Documents are built once per tenant and served from memory; the JWKS carries an ETag that changes
with the key set, and both carry Cache-Control max-age.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.domain.tenant import Tenant
from lukhas_id.protocol.oauth2.pkce import CODE_CHALLENGE_METHODS_SUPPORTED
from lukhas_id.services.keys import KeyService
from lukhas_id.services.tenants import TenantService
from lukhas_id.web.providers import Provider

Endpoint = Callable[[Request], Awaitable[Response]]

# Metadata and keys are public: browsers' relying parties may read them cross-origin (RFC 9700 §2.6 MAY).
PUBLIC = {"access-control-allow-origin": "*"}

ID_TOKEN_ALGS = [alg.value for alg in SigningAlg]
CLAIMS = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "sid",
    "azp",
    "at_hash",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
]
# What the authorization endpoint supports (OIDC Discovery §3, RFC 8414 §2), beside its URL.
AUTHORIZATION_SUPPORT: dict[str, Any] = {
    "scopes_supported": ["openid", "profile", "email", "offline_access"],
    "response_types_supported": ["code"],
    "response_modes_supported": ["query"],
    "code_challenge_methods_supported": list(CODE_CHALLENGE_METHODS_SUPPORTED),
    "authorization_response_iss_parameter_supported": True,
    "subject_types_supported": ["public", "pairwise"],
    "id_token_signing_alg_values_supported": ID_TOKEN_ALGS,
    "prompt_values_supported": ["none", "login", "consent", "select_account"],
    "claims_supported": CLAIMS,
    "claims_parameter_supported": False,
    "request_parameter_supported": False,
    "request_uri_parameter_supported": False,
}
# The members of every document, whatever the endpoints (RFC 8414 §2: response_types_supported is REQUIRED).
BASE_SUPPORT: dict[str, Any] = {"response_types_supported": []}


def metadata_document(issuer: str, members: dict[str, Any]) -> dict[str, Any]:
    """Only what is implemented is listed (RFC 8414 §2, OIDC Discovery §3): `members` are the endpoints'
    contributions (web/registry.py), which say which endpoints exist and what they support."""
    return {"issuer": issuer, **BASE_SUPPORT, **members}


def _not_modified(request: Request, etag: str) -> bool:
    match = request.headers.get("if-none-match")
    if match is None:
        return False
    tags = {m.strip().removeprefix("W/") for m in match.split(",")}
    return "*" in tags or etag in tags


def _cache_control(max_age: int) -> dict[str, str]:
    return {**PUBLIC, "cache-control": f"public, max-age={max_age}"}


def metadata(tenants: Provider[TenantService], members: Callable[[str], dict[str, Any]], max_age: int) -> Endpoint:
    """The tenant's metadata document, built once from `members` (the registry's contributions), served
    with Cache-Control max-age `max_age` (Settings.jwks_max_age)."""
    cache: dict[str, tuple[bytes, str]] = {}
    public = _cache_control(max_age)

    def document(tenant: Tenant) -> tuple[bytes, str]:
        hit = cache.get(tenant.id)
        if hit is None:
            issuer = tenants().issuer(tenant)
            body = orjson.dumps(metadata_document(issuer, members(issuer)))
            hit = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
            cache[tenant.id] = hit
        return hit

    async def endpoint(request: Request) -> Response:
        tenant = await tenants().resolve(request.path_params.get("tenant"))
        body, etag = document(tenant)
        headers = {**public, "etag": etag}
        if _not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        return Response(body, 200, headers=headers, media_type="application/json")

    return endpoint


def jwks(tenants: Provider[TenantService], keys: Provider[KeyService], max_age: int) -> Endpoint:
    """The tenant's key set, as `keys` holds it (built when the key set changes)."""
    public = _cache_control(max_age)

    async def endpoint(request: Request) -> Response:
        tenant = await tenants().resolve(request.path_params.get("tenant"))
        ks = await keys().get(tenant.id)
        headers = {**public, "etag": ks.jwks_etag}
        if _not_modified(request, ks.jwks_etag):
            return Response(status_code=304, headers=headers)
        return Response(ks.jwks_body, 200, headers=headers, media_type="application/jwk-set+json")

    return endpoint
