"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).

Initial access tokens (RFC 7591 §3) are made by an operator (`lukhas-id client registration-token`). Each
is a 256-bit random value, stored in the KeyValueStore under `iat:{tenant_id}:{sha256 hex}` as a keyed hash
and its expiry; it may register any number of clients until it expires (a token handed to a deployment
pipeline registers its clients; revoke one early by letting it expire, or with a short --ttl).

A registered client gets a registration access token (RFC 7592 §1.1), stored only as a keyed hash on the
client. Deleting a client disables it and forgets that token: its secret and tokens stop working and the
record (and its ΛID) stays for audit.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, replace
from typing import Any

from lukhas_id.clock import Clock
from lukhas_id.domain.client import Client, ClientStatus, GrantType
from lukhas_id.domain.keys import SigningAlg
from lukhas_id.domain.tenant import Tenant
from lukhas_id.ports.state import KeyValueStore
from lukhas_id.protocol.oauth2.client_secret import hash_secret, verify_secret
from lukhas_id.protocol.oauth2.registration import ClientMetadata, RegistrationError, RegistrationErrorCode
from lukhas_id.services.clients import ClientService, InvalidClientSettings
from lukhas_id.services.keys import KeyService

MAX_INITIAL_TOKEN_TTL = 366 * 86400
_DUMMY_HASH = hash_secret(secrets.token_urlsafe(32))


class InvalidRegistrationToken(Exception):
    """The initial or registration access token is missing, unknown, expired or not this client's."""


@dataclass(frozen=True, slots=True)
class Registration:
    client: Client
    client_secret: str | None
    registration_access_token: str


def _iat_key(tenant_id: str, token: str) -> str:
    return f"iat:{tenant_id}:{hashlib.sha256(token.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _settings_error(exc: InvalidClientSettings) -> RegistrationError:
    message = str(exc)
    if message.startswith(("redirect URI", "the authorization_code grant needs redirect URIs")):
        return RegistrationError(RegistrationErrorCode.INVALID_REDIRECT_URI, message)
    return RegistrationError(RegistrationErrorCode.INVALID_CLIENT_METADATA, message)


class RegistrationService:
    def __init__(self, kv: KeyValueStore, clients: ClientService, keys: KeyService, clock: Clock) -> None:
        self._kv = kv
        self._clients = clients
        self._keys = keys
        self._clock = clock

    # --- initial access tokens -------------------------------------------------------------------

    async def issue_initial_token(self, tenant: Tenant, ttl: int) -> str:
        if not 60 <= ttl <= MAX_INITIAL_TOKEN_TTL:
            raise ValueError(f"the lifetime must be between 60 and {MAX_INITIAL_TOKEN_TTL} seconds")
        token = secrets.token_urlsafe(32)
        record = {"hash": hash_secret(token), "exp": self._clock.now() + ttl}
        await self._kv.set(_iat_key(tenant.id, token), json.dumps(record).encode(), ttl)
        return token

    async def check_initial_token(self, tenant: Tenant, token: str) -> None:
        raw = await self._kv.get(_iat_key(tenant.id, token))
        record: dict[str, Any] = json.loads(raw) if raw is not None else {"hash": _DUMMY_HASH, "exp": 0}
        ok = verify_secret(token, str(record["hash"]))
        if raw is None or not ok or float(record["exp"]) <= self._clock.now():
            raise InvalidRegistrationToken()

    # --- RFC 7591 ---------------------------------------------------------------------------------

    async def register(self, tenant: Tenant, meta: ClientMetadata) -> Registration:
        token = secrets.token_urlsafe(32)
        try:
            client, secret = await self._clients.create(
                tenant,
                name=meta.client_name,
                grant_types=meta.grant_types,
                scopes=meta.scopes,
                redirect_uris=meta.redirect_uris,
                post_logout_redirect_uris=meta.post_logout_redirect_uris,
                public=meta.public,
                subject_type=meta.subject_type,
                id_token_signed_response_alg=meta.id_token_signed_response_alg,
                auth_method=meta.token_endpoint_auth_method,
                registration_token_hash=hash_secret(token),
            )
        except InvalidClientSettings as exc:
            raise _settings_error(exc) from None
        if GrantType.AUTHORIZATION_CODE in client.grant_types:
            # As the CLI does: ID token keys are published before they sign.
            await self._keys.ensure(tenant.id, SigningAlg(client.id_token_signed_response_alg))
        return Registration(client, secret, token)

    # --- RFC 7592 ---------------------------------------------------------------------------------

    async def authorize(self, tenant: Tenant, client_id: str, token: str) -> Client:
        """The client whose registration access token `token` is; the same error whether the client
        is unknown, has no such token or the token is another's (RFC 7592 §2: never tell which)."""
        client = await self._clients.get(tenant.id, client_id) if len(client_id) <= 256 else None
        stored = client.registration_token_hash if client is not None and client.registration_token_hash else ""
        ok = verify_secret(token, stored or _DUMMY_HASH)
        if client is None or not stored or not ok or client.status is not ClientStatus.ACTIVE:
            raise InvalidRegistrationToken()
        return client

    async def update(self, client: Client, meta: ClientMetadata, client_secret: str | None) -> Client:
        if client_secret is not None and not verify_secret(client_secret, client.secret_hash or _DUMMY_HASH):
            raise RegistrationError(RegistrationErrorCode.INVALID_CLIENT_METADATA, "client_secret does not match")
        if meta.public != client.public:
            raise RegistrationError(
                RegistrationErrorCode.INVALID_CLIENT_METADATA,
                "a client cannot change between public (none) and confidential authentication",
            )
        changed = replace(
            client,
            name=meta.client_name,
            grant_types=meta.grant_types,
            scopes=meta.scopes,
            redirect_uris=meta.redirect_uris,
            post_logout_redirect_uris=meta.post_logout_redirect_uris,
            token_endpoint_auth_method=meta.token_endpoint_auth_method,
            subject_type=meta.subject_type,
            id_token_signed_response_alg=meta.id_token_signed_response_alg,
        )
        try:
            updated = await self._clients.update(changed)
        except InvalidClientSettings as exc:
            raise _settings_error(exc) from None
        if GrantType.AUTHORIZATION_CODE in updated.grant_types:
            await self._keys.ensure(updated.tenant_id, SigningAlg(updated.id_token_signed_response_alg))
        return updated

    async def delete(self, client: Client) -> None:
        """Disable the client and forget its registration access token (see the module docstring)."""
        try:
            await self._clients.update(replace(client, status=ClientStatus.DISABLED, registration_token_hash=""))
        except InvalidClientSettings:
            pass  # already gone
