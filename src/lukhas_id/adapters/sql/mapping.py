"""Row <-> domain mapping for the SQL adapter: column values from the frozen dataclasses, and back.

Sets are stored as sorted JSON lists (a stable representation), tuples as JSON lists in their order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from lukhas_id.adapters.sql.models import ClientRow, PrincipalRow, SigningKeyRow, TenantRow, UserRow
from lukhas_id.domain.client import Client, ClientAuthMethod, ClientStatus, GrantType, SubjectType, TokenFormat
from lukhas_id.domain.keys import KeyState, SigningAlg, SigningKey
from lukhas_id.domain.principal import Principal, PrincipalStatus, PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.token import AccessTokenRecord
from lukhas_id.domain.user import User, UserStatus


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _sorted_list(values: Iterable[str]) -> str:
    return _dump(sorted(values))


def _str_list(text: str) -> list[str]:
    loaded = json.loads(text)
    if not isinstance(loaded, list) or not all(isinstance(v, str) for v in loaded):
        raise ValueError("stored value is not a JSON list of strings")
    return loaded


def tenant_values(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "id_secret_enc": tenant.id_secret_enc,
        "access_token_alg": tenant.access_token_alg,
        "created_at": tenant.created_at,
    }


def tenant_from_row(row: TenantRow) -> Tenant:
    return Tenant(
        id=row.id,
        name=row.name,
        id_secret_enc=bytes(row.id_secret_enc),
        access_token_alg=row.access_token_alg,
        created_at=row.created_at,
    )


def principal_values(principal: Principal) -> dict[str, Any]:
    return {
        "tenant_id": principal.tenant_id,
        "lid": principal.lid,
        "type": principal.type.value,
        "display_name": principal.display_name,
        "status": principal.status.value,
        "created_at": principal.created_at,
    }


def principal_from_row(row: PrincipalRow) -> Principal:
    return Principal(
        tenant_id=row.tenant_id,
        lid=row.lid,
        type=PrincipalType(row.type),
        display_name=row.display_name,
        status=PrincipalStatus(row.status),
        created_at=row.created_at,
    )


def client_values(client: Client) -> dict[str, Any]:
    return {
        "tenant_id": client.tenant_id,
        "client_id": client.client_id,
        "name": client.name,
        "principal_lid": client.principal_lid,
        "principal_type": client.principal_type.value,
        "secret_hash": client.secret_hash,
        "grant_types": _sorted_list(g.value for g in client.grant_types),
        "scopes": _sorted_list(client.scopes),
        "resources": _dump(list(client.resources)),
        "token_format": client.token_format.value,
        "access_token_ttl": client.access_token_ttl,
        "status": client.status.value,
        "created_at": client.created_at,
        "redirect_uris": _dump(list(client.redirect_uris)),
        "post_logout_redirect_uris": _dump(list(client.post_logout_redirect_uris)),
        "token_endpoint_auth_method": client.token_endpoint_auth_method.value,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "subject_type": client.subject_type.value,
        "first_party": client.first_party,
        "refresh_grace_seconds": client.refresh_grace_seconds,
        "registration_token_hash": client.registration_token_hash or None,
        "previous_secret_hash": client.previous_secret_hash or None,
        "previous_secret_expires_at": client.previous_secret_expires_at,
    }


def client_from_row(row: ClientRow) -> Client:
    return Client(
        tenant_id=row.tenant_id,
        client_id=row.client_id,
        name=row.name,
        principal_lid=row.principal_lid,
        principal_type=PrincipalType(row.principal_type),
        secret_hash=row.secret_hash,
        grant_types=frozenset(GrantType(g) for g in _str_list(row.grant_types)),
        scopes=frozenset(_str_list(row.scopes)),
        resources=tuple(_str_list(row.resources)),
        token_format=TokenFormat(row.token_format),
        access_token_ttl=row.access_token_ttl,
        status=ClientStatus(row.status),
        created_at=row.created_at,
        redirect_uris=tuple(_str_list(row.redirect_uris)),
        post_logout_redirect_uris=tuple(_str_list(row.post_logout_redirect_uris)),
        token_endpoint_auth_method=ClientAuthMethod(row.token_endpoint_auth_method),
        id_token_signed_response_alg=row.id_token_signed_response_alg,
        subject_type=SubjectType(row.subject_type),
        first_party=bool(row.first_party),
        refresh_grace_seconds=row.refresh_grace_seconds,
        registration_token_hash=row.registration_token_hash or "",
        previous_secret_hash=row.previous_secret_hash or "",
        previous_secret_expires_at=row.previous_secret_expires_at,
    )


def user_values(user: User) -> dict[str, Any]:
    return {
        "tenant_id": user.tenant_id,
        "lid": user.lid,
        "username": user.username,
        "username_key": user.username_key,
        "email": user.email,
        "email_verified": user.email_verified,
        "display_name": user.display_name,
        "status": user.status.value,
        "password_hash": user.password_hash,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def user_from_row(row: UserRow) -> User:
    return User(
        tenant_id=row.tenant_id,
        lid=row.lid,
        username=row.username,
        username_key=row.username_key,
        email=row.email,
        email_verified=bool(row.email_verified),
        display_name=row.display_name,
        status=UserStatus(row.status),
        password_hash=row.password_hash,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def signing_key_values(key: SigningKey) -> dict[str, Any]:
    """Column values of the key's row (inserts and updates alike)."""
    return {
        "tenant_id": key.tenant_id,
        "kid": key.kid,
        "alg": key.alg.value,
        "state": key.state.value,
        "public_jwk": _dump(key.public_jwk),
        "private_enc": key.private_enc,
        "created_at": key.created_at,
        "activated_at": key.activated_at,
        "retired_at": key.retired_at,
        "remove_after": key.remove_after,
    }


def signing_key_from_row(row: SigningKeyRow) -> SigningKey:
    jwk = json.loads(row.public_jwk)
    if not isinstance(jwk, dict):
        raise ValueError("stored public_jwk is not a JSON object")
    return SigningKey(
        tenant_id=row.tenant_id,
        kid=row.kid,
        alg=SigningAlg(row.alg),
        state=KeyState(row.state),
        public_jwk={str(k): str(v) for k, v in jwk.items()},
        private_enc=bytes(row.private_enc),
        created_at=row.created_at,
        activated_at=row.activated_at,
        retired_at=row.retired_at,
        remove_after=row.remove_after,
    )


def record_to_json(record: AccessTokenRecord) -> str:
    return _dump(
        {
            "tenant_id": record.tenant_id,
            "jti": record.jti,
            "client_id": record.client_id,
            "sub": record.sub,
            "lid_type": record.lid_type,
            "scope": record.scope,
            "aud": list(record.aud),
            "iat": record.iat,
            "exp": record.exp,
            "acr": record.acr,
            "auth_time": record.auth_time,
        }
    )


def record_from_json(text: str) -> AccessTokenRecord:
    data = json.loads(text)
    return AccessTokenRecord(
        tenant_id=str(data["tenant_id"]),
        jti=str(data["jti"]),
        client_id=str(data["client_id"]),
        sub=str(data["sub"]),
        lid_type=str(data["lid_type"]),
        scope=str(data["scope"]),
        aud=tuple(str(a) for a in data["aud"]),
        iat=int(data["iat"]),
        exp=int(data["exp"]),
        acr=data.get("acr"),
        auth_time=data.get("auth_time"),
    )
