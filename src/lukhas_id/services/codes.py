"""Authorization codes: single use, 60 s, bound to client, redirect URI, PKCE challenge and nonce.

RFC 6749 §4.1.2 and §10.5, OAuth 2.1 §4.1.3, RFC 9700 §4.8. A code is a 256-bit random value; the
store holds only its SHA-256 (a read of the store yields no usable code). Redemption is an atomic
get-and-delete (`KeyValueStore.pop`), so of two processes redeeming the same code at the same moment
exactly one gets it. A redeemed code leaves a marker, so a second redemption is recognised as a replay
and the tokens issued from the code can be revoked: their identifiers derive from the code's hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass

import orjson

from lukhas_id.ports.state import KeyValueStore

CODE_TTL = 60


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """What the user authorized, carried from the authorization endpoint to the token endpoint."""

    tenant_id: str
    client_id: str
    redirect_uri: str
    # Whether the authorization request carried redirect_uri (then the token request must repeat it).
    redirect_uri_sent: bool
    user_lid: str
    scope: tuple[str, ...]
    code_challenge: str
    nonce: str | None
    auth_time: int
    amr: tuple[str, ...]
    acr: str | None
    sid: str | None
    resources: tuple[str, ...] = ()
    # The `acr_values` the client asked for (OIDC Core §3.1.2.1), recorded with the grant; the `acr`
    # claim states what the sign-in achieved (step-up to satisfy them comes with the MFA issue).
    acr_values: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> CodeGrant:
        data = orjson.loads(raw)
        for name in ("scope", "amr", "resources", "acr_values"):
            data[name] = tuple(data.get(name, ()))
        return cls(**data)


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode("ascii", "replace")).hexdigest()


def grant_id(digest: str) -> str:
    """The identifier of everything issued from one code (derivable again on a replay)."""
    return hashlib.sha256(b"lukhas-id/grant\x00" + digest.encode()).hexdigest()[:32]


class AuthorizationCodes:
    def __init__(self, kv: KeyValueStore, *, replay_window: int) -> None:
        self._kv = kv
        self._replay_window = replay_window

    @staticmethod
    def _key(tenant_id: str, digest: str) -> str:
        return f"code:{tenant_id}:{digest}"

    @staticmethod
    def _used_key(tenant_id: str, digest: str) -> str:
        return f"code-used:{tenant_id}:{digest}"

    async def issue(self, grant: CodeGrant) -> str:
        code = secrets.token_urlsafe(32)
        await self._kv.set(self._key(grant.tenant_id, code_digest(code)), grant.to_json(), CODE_TTL)
        return code

    async def redeem(self, tenant_id: str, code: str) -> Redemption:
        """The first redemption wins an atomic SET NX on the code's marker and then takes the code;
        any later one (another process at the same moment included) is a replay."""
        digest = code_digest(code)
        first = await self._kv.set_if_absent(self._used_key(tenant_id, digest), b"1", self._replay_window)
        if not first:
            return Redemption(None, digest, replay=True)
        raw = await self._kv.pop(self._key(tenant_id, digest))
        return Redemption(CodeGrant.from_json(raw) if raw is not None else None, digest, replay=False)


@dataclass(frozen=True, slots=True)
class Redemption:
    grant: CodeGrant | None  # None: unknown, expired or already redeemed
    digest: str
    replay: bool  # the code had been redeemed before

    @property
    def grant_id(self) -> str:
        return grant_id(self.digest)
