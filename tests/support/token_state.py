"""Access-token state for the TokenStateStore contract suites (memory, Redis, SQLite, PostgreSQL)."""

from __future__ import annotations

from lukhas_id.domain.token import AccessTokenRecord, MarkerKind
from lukhas_id.ports.state import TokenStateStore

T1 = "tenant-one"


def record(
    now: float, *, ttl: int = 300, jti: str = "jti-1", aud: tuple[str, ...] = ("api", "other")
) -> AccessTokenRecord:
    return AccessTokenRecord(
        tenant_id=T1,
        jti=jti,
        client_id="client-1",
        sub="USR-abc",
        lid_type="USR",
        scope="openid profile",
        aud=aud,
        iat=int(now),
        exp=int(now) + ttl,
    )


async def put_short_and_long_lived(s: TokenStateStore, now: int) -> None:
    """Two of each kind of entry: one expiring by now + 100 at the latest, one living past now + 1000.

    Expiry times: opaque "short" now+10, "long" now+1000; jti "short" now+JTI_MARGIN, "long"
    now+1000+JTI_MARGIN; client marker "short" now+100, subject marker "long" now+5000.
    """
    await s.put_opaque("short", record(now, ttl=10))
    await s.put_opaque("long", record(now, ttl=1000))
    await s.revoke_jti(T1, "short", now)
    await s.revoke_jti(T1, "long", now + 1000)
    await s.set_not_before(T1, MarkerKind.CLIENT, "short", now, 100)
    await s.set_not_before(T1, MarkerKind.SUBJECT, "long", now, 5000)
