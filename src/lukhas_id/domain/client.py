"""OAuth clients: each acts as a principal of type SVC, AGT or SYS with its own ΛID."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lukhas_id.domain.principal import PrincipalType


class GrantType(StrEnum):
    CLIENT_CREDENTIALS = "client_credentials"
    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"


class TokenFormat(StrEnum):
    JWT = "jwt"
    OPAQUE = "opaque"


class ClientAuthMethod(StrEnum):
    CLIENT_SECRET_BASIC = "client_secret_basic"
    CLIENT_SECRET_POST = "client_secret_post"
    NONE = "none"


class SubjectType(StrEnum):
    """OIDC Core §8: the `sub` a client sees for a user."""

    PUBLIC = "public"
    PAIRWISE = "pairwise"


class ClientStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


# Token endpoint auth methods a confidential client may use (both are supported; RFC 6749 §2.3.1,
# OAuth 2.1 §2.4.1).
SECRET_AUTH_METHODS = frozenset({ClientAuthMethod.CLIENT_SECRET_BASIC, ClientAuthMethod.CLIENT_SECRET_POST})


@dataclass(frozen=True, slots=True)
class Client:
    tenant_id: str
    client_id: str
    name: str
    principal_lid: str
    principal_type: PrincipalType
    # Keyed hash of the secret (see adapters/crypto/secrets.py); never the secret itself.
    secret_hash: str
    grant_types: frozenset[GrantType]
    scopes: frozenset[str]
    # RFC 8707 resources this client may ask for; the first is the default audience.
    resources: tuple[str, ...]
    token_format: TokenFormat
    access_token_ttl: int
    status: ClientStatus
    created_at: float
    # --- clients that sign people in (issue 3); defaults keep machine clients unchanged -------------
    # Exact redirect URIs (OAuth 2.1 §2.3.1); loopback URIs match on any port (§8.4.2).
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    # `none` marks a public client (no secret; PKCE and refresh rotation protect it).
    token_endpoint_auth_method: ClientAuthMethod = ClientAuthMethod.CLIENT_SECRET_BASIC
    id_token_signed_response_alg: str = "RS256"
    subject_type: SubjectType = SubjectType.PUBLIC
    # First-party clients skip the consent page.
    first_party: bool = False
    # Seconds during which a just-rotated refresh token may be presented again and gets the same successor.
    refresh_grace_seconds: int = 0
    # Keyed hash of the RFC 7592 registration access token of a dynamically registered client; "" when none.
    registration_token_hash: str = ""
    # Secret rotation: the keyed hash of the secret before the last rotation ("" when none) and the time
    # (seconds since the epoch) until which it is still accepted. Only one previous secret is kept.
    previous_secret_hash: str = ""
    previous_secret_expires_at: float | None = None

    @property
    def public(self) -> bool:
        return self.token_endpoint_auth_method is ClientAuthMethod.NONE

    def previous_secret_accepted(self, now: float) -> bool:
        """Whether the secret before the last rotation is still accepted at `now` (its overlap has not ended)."""
        return (
            bool(self.previous_secret_hash)
            and self.previous_secret_expires_at is not None
            and now < self.previous_secret_expires_at
        )

    @property
    def default_resource(self) -> str | None:
        return self.resources[0] if self.resources else None
