"""protocol/oauth2/client_auth.py: client secrets (RFC 6749 §2.3.1) with a rotation's previous secret."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import Client, ClientAuthMethod, ClientStatus, GrantType, TokenFormat
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.protocol.oauth2 import client_auth
from lukhas_id.protocol.oauth2.client_auth import ClientSecretBasic, PresentedCredentials
from lukhas_id.protocol.oauth2.client_secret import hash_secret

NOW = 1_800_000_000.0
CURRENT, PREVIOUS = "current-secret-value", "previous-secret-value"


def _client(**changes: object) -> Client:
    base = Client(
        tenant_id="t1",
        client_id="cl_svc",
        name="svc",
        principal_lid="SVC-x",
        principal_type=PrincipalType.SERVICE,
        secret_hash=hash_secret(CURRENT),
        grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}),
        scopes=frozenset(),
        resources=(),
        token_format=TokenFormat.JWT,
        access_token_ttl=300,
        status=ClientStatus.ACTIVE,
        created_at=0.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _presented(secret: str) -> PresentedCredentials:
    return PresentedCredentials("cl_svc", ClientAuthMethod.CLIENT_SECRET_BASIC, secret)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


async def test_previous_secret_is_accepted_until_its_overlap_ends(clock: FixedClock) -> None:
    auth = ClientSecretBasic(hash_secret("dummy"), clock)
    client = _client(previous_secret_hash=hash_secret(PREVIOUS), previous_secret_expires_at=NOW + 60)
    assert await auth.verify(client, _presented(CURRENT))
    assert await auth.verify(client, _presented(PREVIOUS))
    assert not await auth.verify(client, _presented("wrong"))
    clock.set(NOW + 59.999)
    assert await auth.verify(client, _presented(PREVIOUS))
    clock.set(NOW + 60)
    assert not await auth.verify(client, _presented(PREVIOUS))
    assert await auth.verify(client, _presented(CURRENT))
    # Unknown client: never accepted, whatever is presented.
    assert not await auth.verify(None, _presented("dummy"))


async def test_a_client_without_a_previous_secret_costs_one_comparison(
    clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = client_auth.verify_secret

    def counting(secret: str, stored: str) -> bool:
        calls.append(stored)
        return real(secret, stored)

    monkeypatch.setattr(client_auth, "verify_secret", counting)
    auth = ClientSecretBasic(hash_secret("dummy"), clock)
    plain = _client()
    assert await auth.verify(plain, _presented(CURRENT)) and len(calls) == 1
    assert not await auth.verify(plain, _presented(PREVIOUS)) and len(calls) == 2
    rotated = _client(previous_secret_hash=hash_secret(PREVIOUS), previous_secret_expires_at=NOW + 60)
    assert await auth.verify(rotated, _presented(CURRENT)) and len(calls) == 3  # the current one matched first
    clock.set(NOW + 61)
    assert not await auth.verify(rotated, _presented(PREVIOUS)) and len(calls) == 4  # expired: not compared
