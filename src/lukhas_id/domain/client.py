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

    @property
    def default_resource(self) -> str | None:
        return self.resources[0] if self.resources else None
