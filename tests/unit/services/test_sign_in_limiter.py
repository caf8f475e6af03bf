"""SignInLimiter: per-account and per-client-address token buckets of failed sign-ins (memory adapter, fixed
clock)."""

from __future__ import annotations

import inspect
import re

import pytest

from lukhas_id.adapters.memory.rate_limit import MemoryRateLimiter
from lukhas_id.clock import FixedClock
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.ids import InvalidLid, generate
from lukhas_id.metrics import Metrics
from lukhas_id.services.keyring import TenantKeyring
from lukhas_id.services.rate_limit import SignInLimiter

IP = "203.0.113.77"
USERNAME = "Alice.Smith"


class _PlainBox:
    """A SecretBox whose "encryption" is the identity (the keyring only needs decrypt)."""

    def encrypt(self, plaintext: bytes) -> bytes:
        return plaintext

    def decrypt(self, blob: bytes) -> bytes:
        return blob


def _tenant(name: str, secret: bytes) -> Tenant:
    return Tenant(id=f"tnt-{name}", name=name, id_secret_enc=secret, access_token_alg="ES256", created_at=0.0)


ACME = _tenant("acme", b"a" * 32)
OTHER = _tenant("other", b"b" * 32)


class Env:
    def __init__(self) -> None:
        self.clock = FixedClock()
        self.store = MemoryRateLimiter()
        self.metrics = Metrics()
        self.limiter = SignInLimiter(
            self.store, TenantKeyring(_PlainBox()), self.clock, self.metrics, limit=5, window=60
        )

    def blocks(self) -> float:
        value = self.metrics.registry.get_sample_value("identity_rate_limit_blocks_total", {"limit": "sign_in"})
        return value or 0.0

    def fp(self, ip: str | None = IP, tenant: Tenant = ACME) -> str:
        return self.limiter.client(tenant, ip)

    def acct(self, username: str = USERNAME, tenant: Tenant = ACME) -> str:
        return self.limiter.account(tenant, username)


@pytest.fixture
def env() -> Env:
    return Env()


async def test_five_failures_block_for_twelve_seconds(env: Env) -> None:
    limiter, account, fp = env.limiter, env.acct(), env.fp()
    for _ in range(4):
        await limiter.failed(ACME, account=account, client=fp)
        assert await limiter.retry_after(ACME, account=account, client=fp) is None
    assert env.blocks() == 0
    await limiter.failed(ACME, account=account, client=fp)
    assert await limiter.retry_after(ACME, account=account, client=fp) == 12
    assert env.blocks() == 1
    env.clock.advance(5)
    assert await limiter.retry_after(ACME, account=account, client=fp) == 7
    env.clock.advance(6.5)
    assert await limiter.retry_after(ACME, account=account, client=fp) == 1  # 0.5 s: at least 1
    assert env.blocks() == 3
    env.clock.advance(0.5)
    assert await limiter.retry_after(ACME, account=account, client=fp) is None
    # One token came back: the next failure empties the bucket again.
    await limiter.failed(ACME, account=account, client=fp)
    assert await limiter.retry_after(ACME, account=account, client=fp) == 12
    assert env.blocks() == 4


async def test_failures_while_blocked_do_not_extend_the_block(env: Env) -> None:
    limiter, account, fp = env.limiter, env.acct(), env.fp()
    for _ in range(20):
        await limiter.failed(ACME, account=account, client=fp)
    assert await limiter.retry_after(ACME, account=account, client=fp) == 12


async def test_a_steady_attacker_gets_the_limit_per_window(env: Env) -> None:
    limiter, account, fp = env.limiter, env.acct(), env.fp()
    tries = 0
    for _ in range(600):  # ten minutes, one attempt a second
        if await limiter.retry_after(ACME, account=account, client=fp) is None:
            tries += 1
            await limiter.failed(ACME, account=account, client=fp)
        env.clock.advance(1)
    assert tries == 5 + 49  # the burst, then one every 12 s (at 12, 24, ..., 588 s)


async def test_account_is_limited_whatever_the_client(env: Env) -> None:
    limiter, account = env.limiter, env.acct()
    for i in range(5):
        await limiter.failed(ACME, account=account, client=env.fp(ip=f"198.51.100.{i}"))
    assert await limiter.retry_after(ACME, account=account, client=env.fp(ip="192.0.2.1")) == 12
    # Each of those clients is still allowed for another account.
    other = env.acct("bob")
    assert await limiter.retry_after(ACME, account=other, client=env.fp(ip="198.51.100.0")) is None


async def test_client_is_limited_whatever_the_account(env: Env) -> None:
    limiter, fp = env.limiter, env.fp()
    for i in range(5):
        await limiter.failed(ACME, account=env.acct(f"user{i}"), client=fp)
    assert await limiter.retry_after(ACME, account=env.acct("someone-else"), client=fp) == 12
    assert await limiter.retry_after(ACME, account=None, client=fp) == 12
    # Those accounts from another client: one failure each, far from their limit.
    assert await limiter.retry_after(ACME, account=env.acct("user0"), client=env.fp(ip="192.0.2.1")) is None


async def test_without_an_account_only_the_client_counts(env: Env) -> None:
    limiter, fp = env.limiter, env.fp()
    for _ in range(5):
        await limiter.failed(ACME, account=None, client=fp)
    assert await limiter.retry_after(ACME, account=None, client=fp) == 12
    assert await limiter.retry_after(ACME, account=env.acct(), client=env.fp(ip="192.0.2.1")) is None
    assert all(":c:" in key for key in env.store.keys())


async def test_tenants_are_independent(env: Env) -> None:
    limiter = env.limiter
    acme = (env.acct(), env.fp())
    other = (env.acct(tenant=OTHER), env.fp(tenant=OTHER))
    assert acme[0] != other[0] and acme[1] != other[1]
    for _ in range(5):
        await limiter.failed(ACME, account=acme[0], client=acme[1])
    assert await limiter.retry_after(ACME, account=acme[0], client=acme[1]) == 12
    assert await limiter.retry_after(OTHER, account=other[0], client=other[1]) is None
    # Even when a caller mixes them up, the tenant id in the key keeps tenants apart.
    assert await limiter.retry_after(OTHER, account=acme[0], client=acme[1]) is None


async def test_success_refills_the_account_but_not_the_client(env: Env) -> None:
    limiter, account, fp = env.limiter, env.acct(), env.fp()
    for _ in range(4):
        await limiter.failed(ACME, account=account, client=fp)
    await limiter.succeeded(ACME, account=account)
    # The account has its 5 tokens again; the client has 1 left, which this failure takes.
    await limiter.failed(ACME, account=account, client=fp)
    assert await limiter.retry_after(ACME, account=account, client=fp) == 12
    other_client = env.fp(ip="192.0.2.1")
    for _ in range(3):  # the account's 4 remaining tokens, from another client
        await limiter.failed(ACME, account=account, client=other_client)
        assert await limiter.retry_after(ACME, account=account, client=other_client) is None
    await limiter.failed(ACME, account=account, client=other_client)
    assert await limiter.retry_after(ACME, account=account, client=other_client) == 12
    await limiter.succeeded(ACME, account=None)  # nothing to refill


def test_the_client_is_its_address_alone(env: Env) -> None:
    base = env.fp()
    assert re.fullmatch(r"[0-9a-f]{32}", base)
    assert env.fp() == base  # stable
    assert Env().fp() == base  # stable across processes: derived from the tenant's secret only
    assert env.fp(ip="203.0.113.78") != base
    # Nothing but the address is taken: there is no user agent or route to vary.
    assert list(inspect.signature(env.limiter.client).parameters) == ["tenant", "address"]
    # A peer the server could not name is one client, "unknown".
    assert env.fp(ip=None) == env.fp(ip="unknown") != base


async def test_a_bucket_given_as_none_is_not_looked_at(env: Env) -> None:
    limiter, account, fp = env.limiter, env.acct(), env.fp()
    for _ in range(5):
        await limiter.failed(ACME, account=None, client=fp)
    assert await limiter.retry_after(ACME, account=account, client=None) is None
    assert await limiter.retry_after(ACME, account=None, client=None) is None
    for _ in range(5):
        await limiter.failed(ACME, account=account, client=None)
    assert await limiter.retry_after(ACME, account=account, client=None) == 12
    assert await limiter.retry_after(ACME, account=None, client=env.fp(ip="192.0.2.1")) is None
    await limiter.failed(ACME, account=None, client=None)  # nothing to count
    assert len(env.store.keys()) == 2


def test_ipv6_clients_are_counted_by_their_64(env: Env) -> None:
    assert env.fp(ip="2001:db8:1:2::1") == env.fp(ip="2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert env.fp(ip="2001:db8:1:2::1") == env.fp(ip="2001:0db8:0001:0002:0000:0000:0000:0001")
    assert env.fp(ip="2001:db8:1:2::1") != env.fp(ip="2001:db8:1:3::1")
    assert env.fp(ip="::ffff:203.0.113.77") == env.fp(ip=IP)
    assert env.fp(ip="unix:/run/lid.sock") != env.fp(ip="unknown")  # not an address: hashed as given


def test_account_hash(env: Env) -> None:
    limiter = env.limiter
    alice = env.acct()
    assert re.fullmatch(r"[0-9a-f]{32}", alice)
    assert env.acct("alice.smith") == alice  # the username's lookup key: case-folded, NFKC
    assert env.acct("ＡＬＩＣＥ.smith") == alice
    assert env.acct("bob") != alice
    # No valid username, no such user: still a bucket, case-insensitive.
    assert env.acct("Not A Username!") == env.acct("not a username!")
    # A ΛID names the account when the caller knows the user; it never shares a username's bucket.
    lid = generate(PrincipalType.USER)
    assert limiter.account(ACME, lid, lid=True) == limiter.account(ACME, lid, lid=True)
    assert limiter.account(ACME, lid, lid=True) != env.acct(lid)
    with pytest.raises(InvalidLid):
        limiter.account(ACME, "alice", lid=True)
    # The two purposes have different subkeys: an account never hashes like a client.
    assert env.acct() not in {env.fp(), env.fp(ip=USERNAME)}


async def test_nothing_raw_is_stored(env: Env) -> None:
    limiter = env.limiter
    for ip in (IP, "2001:db8:1:2::1"):
        for username in (USERNAME, "Not A Username!"):
            fp, account = env.fp(ip=ip), env.acct(username)
            await limiter.failed(ACME, account=account, client=fp)
            await limiter.retry_after(ACME, account=account, client=fp)
            await limiter.succeeded(ACME, account=account)
            await limiter.failed(ACME, account=account, client=fp)
    keys = env.store.keys()
    assert len(keys) == 2 + 2  # two clients, two accounts
    for key in keys:
        assert re.fullmatch(rf"rl:si:[ac]:{ACME.id}:[0-9a-f]{{32}}", key), key
    raw = ["203.0.113", "2001:db8", "db8", "alice", "Alice", "smith", "Username"]
    for fragment in raw:
        assert not any(fragment.lower() in key.lower() for key in keys), fragment
    # The stored values are numbers only (tokens, times).
    for bucket in env.store._buckets.values():
        assert all(isinstance(v, float) for v in bucket)


def test_invalid_configuration_is_rejected() -> None:
    env = Env()
    with pytest.raises(ValueError, match="limit"):
        SignInLimiter(env.store, env.limiter.keyring, env.clock, env.metrics, limit=0, window=60)
    with pytest.raises(ValueError, match="window"):
        SignInLimiter(env.store, env.limiter.keyring, env.clock, env.metrics, limit=5, window=0)
