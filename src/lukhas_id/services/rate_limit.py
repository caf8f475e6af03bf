"""Rate limits of failed authentications, as token buckets: sign-ins per account and per client address
(SignInLimiter), and OAuth client authentications per client address (ClientAuthLimiter, at the end).

Each tenant has two kinds of sign-in bucket (ports/rate_limit.py), both of capacity `limit` refilled at
`limit / window` tokens per second (settings sign_in_rate_limit, 5, and sign_in_rate_window, 60 s):

- per account: ``rl:si:a:<tenant id>:<hash of the account>``
- per client:  ``rl:si:c:<tenant id>:<hash of the client's network address>``

services/sign_in.py is the only caller: every sign-in entry (password, second factor, account recovery
code, passkey, the account page's step-up code) names the same client bucket for one address, so a
client's failures on one page count on the others too. A failed sign-in takes a token from both; an
attempt while either is empty is refused (HTTP 429 with Retry-After, metric
identity_rate_limit_blocks_total{limit="sign_in"}) without checking the factor. So 5 failures in a row
block for 12 s, and a steady attacker gets 5 tries a minute per account and per client, never a lock-out:
a bucket always refills by itself.

The client is its network address and nothing else it sends: a key that mixed in a header the client
chooses (such as User-Agent) would give a fresh bucket to every new value. The address is the peer's,
or, when the peer is one of the configured trusted proxies (LUKHAS_ID_TRUSTED_PROXIES), the one those
proxies forwarded (protocol/forwarded.py, read by web/http_io.py `peer_address`); a client can never
choose it. IPv6 clients are counted by their /64 network (one host commonly holds a whole /64) and
IPv4-mapped IPv6 addresses as the IPv4 address.

Privacy: no raw IP address or username is stored, put in a key or logged. Accounts and addresses are
HMAC-SHA256 (128 bits kept, hex) under per-tenant subkeys ("sign-in-account", "sign-in-client")
derived from the tenant's ΛID secret, which is stored encrypted under the KEK (TenantKeyring). The
hashes are therefore stable across workers and restarts (every process derives the same subkey),
differ between tenants, and cannot be reversed by hashing every IPv4 address or a dictionary of
usernames without the key.

Limitations:
- The embedded default keeps buckets in process (adapters/memory/rate_limit.py): each worker process
  has its own, so with N workers an attacker gets up to N times the limit. With several workers or
  processes, configure Redis (LUKHAS_ID_REDIS_URL), where one atomic script serves them all.
- Clients behind one address (a NAT, or a proxy that is not configured as trusted) share its bucket;
  the per-account limit is what bounds guesses at one account whatever the client does.
- Someone who knows a username, or a passkey's credential id, can keep that account's bucket empty (a
  12 s wait per try for its owner, never a lock-out).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import math
from collections.abc import Sequence
from typing import ClassVar, Final

from lukhas_id.clock import Clock
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import InvalidUser, username_key
from lukhas_id.ids import parse
from lukhas_id.metrics import Metrics
from lukhas_id.ports.rate_limit import RateLimiter
from lukhas_id.services.keyring import TenantKeyring

ACCOUNT_PURPOSE: Final = "sign-in-account"
CLIENT_PURPOSE: Final = "sign-in-client"
METRIC_LIMIT: Final = "sign_in"
_HEX_CHARS: Final = 32  # 128 bits
# A returned wait within this of a whole second is that second (12.000000000000002 s waits 12 s).
_WAIT_SLACK: Final = 1e-6


def _field(value: str) -> bytes:
    data = value.encode("utf-8", "surrogatepass")  # header text may hold anything; never fail on it
    return len(data).to_bytes(4, "big") + data


def _client_address(ip: str) -> str:
    """The address a client bucket counts: IPv4 as is, IPv6 as its /64; anything else verbatim."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip  # e.g. "unknown" or a Unix socket peer: still hashed, still limited
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _refill_rate(limit: int, window: float) -> float:
    """Tokens per second of a bucket allowing `limit` failures per `window` seconds; ValueError when either
    is out of range."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit!r}")
    if not (math.isfinite(window) and window > 0):
        raise ValueError(f"window must be positive, got {window!r}")
    return limit / float(window)


class _BucketLimiter:
    """What both limiters share: token buckets of capacity `limit` refilled at `limit / window` per second
    on the RateLimiter port, keyed hashes under a tenant subkey, and a refusal counted in the blocks
    metric (labelled with the subclass's `_metric_limit`) with its wait given as whole seconds."""

    _metric_limit: ClassVar[str]

    def __init__(
        self,
        limiter: RateLimiter,
        keyring: TenantKeyring,
        clock: Clock,
        metrics: Metrics,
        *,
        limit: int,
        window: float,
    ) -> None:
        rate = _refill_rate(limit, window)
        self._limiter = limiter
        self.keyring = keyring
        self._clock = clock
        self._blocks = metrics.rate_limit_blocks.labels(self._metric_limit)
        self.limit = limit
        self.window = float(window)
        self._rate = rate

    def _keyed_hash(self, tenant: Tenant, purpose: str, message: bytes) -> str:
        """Hex HMAC-SHA256 (128 bits kept) of `message` under the tenant's `purpose` subkey."""
        key = self.keyring.key(tenant, purpose)
        return hmac.new(key, message, hashlib.sha256).hexdigest()[:_HEX_CHARS]

    async def _check(self, keys: Sequence[str], now: float) -> float:
        """Seconds until every bucket of `keys` holds a token (0 or less: now)."""
        if len(keys) == 1:
            return await self._limiter.check(keys[0], self.limit, self._rate, now)
        waits = await asyncio.gather(*(self._limiter.check(k, self.limit, self._rate, now) for k in keys))
        return max(waits)

    async def _consume(self, keys: Sequence[str], now: float) -> float:
        """Take one token from each bucket of `keys` (from none that is already empty); the longest wait
        until they hold a token again (0 or less: none is empty)."""
        if len(keys) == 1:
            return await self._limiter.consume(keys[0], self.limit, self._rate, now)
        waits = await asyncio.gather(*(self._limiter.consume(k, self.limit, self._rate, now) for k in keys))
        return max(waits)

    def _refused(self, wait: float) -> int:
        """Count a refusal in the metric; `wait` as whole seconds, at least 1."""
        self._blocks.inc()
        return max(1, math.ceil(wait - _WAIT_SLACK))


class SignInLimiter(_BucketLimiter):
    """Per-account and per-client token buckets of failed sign-ins (see the module docstring).

    services/sign_in.py calls, for one sign-in attempt: `client` and `account` to name the buckets;
    `retry_after` before checking the factor (a number: refuse with that Retry-After); then `failed` or
    `succeeded`.
    """

    _metric_limit = METRIC_LIMIT

    def client(self, tenant: Tenant, address: str | None) -> str:
        """The client's bucket name: hex HMAC-SHA256 (128 bits) of its network address (IPv6 as its /64;
        None, a peer the server could not name, as "unknown") under the tenant's "sign-in-client" subkey."""
        return self._keyed_hash(tenant, CLIENT_PURPOSE, _field(_client_address(address or "unknown")))

    def account(self, tenant: Tenant, identifier: str, *, lid: bool = False) -> str:
        """The account's hash (hex HMAC-SHA256, 128 bits) under the tenant's "sign-in-account" subkey.

        `identifier` is what the user typed: its username lookup key (so "Alice" and "alice" share a
        bucket), or its case-folded text when it is no valid username (no such user exists, but it is
        limited all the same). With `lid=True` it is the user's ΛID, for callers that know the user
        (raises InvalidLid, a ValueError, otherwise); ΛIDs and usernames never share a bucket, so a
        caller uses one or the other for a given flow.
        """
        if lid:
            parse(identifier)  # strict: a ΛID that parses is in its one canonical form
            material = b"l\x00" + identifier.encode("ascii")
        else:
            try:
                name = username_key(identifier)
            except InvalidUser:
                name = identifier.casefold()
            material = b"u\x00" + name.encode("utf-8", "surrogatepass")
        return self._keyed_hash(tenant, ACCOUNT_PURPOSE, material)

    @staticmethod
    def _keys(tenant: Tenant, account: str | None, client: str | None) -> list[str]:
        keys = []
        if client is not None:
            keys.append(f"rl:si:c:{tenant.id}:{client}")
        if account is not None:
            keys.append(f"rl:si:a:{tenant.id}:{account}")
        return keys

    async def retry_after(self, tenant: Tenant, *, account: str | None, client: str | None) -> int | None:
        """Whole seconds (at least 1) until an attempt is allowed when the account's or the client's
        bucket is empty, counting the refusal in the metric; None when an attempt is allowed now.
        A bucket given as None is not looked at (no username yet; a client already checked)."""
        keys = self._keys(tenant, account, client)
        if not keys:
            return None
        wait = await self._check(keys, self._clock.now())
        if wait <= 0:
            return None
        return self._refused(wait)

    async def failed(self, tenant: Tenant, *, account: str | None, client: str | None) -> bool:
        """A failed attempt takes one token from each bucket (from none that is already empty); True when
        a bucket is empty after it: this failure tripped the limit (attempts are refused from now on, and
        a refused attempt never gets here), the once-per-trip `rate_limit.tripped` event."""
        keys = self._keys(tenant, account, client)
        if not keys:
            return False
        return await self._consume(keys, self._clock.now()) > 0

    async def succeeded(self, tenant: Tenant, *, account: str | None) -> None:
        """A correct password refills the account's bucket; the client's bucket is left as it is.

        Only someone who knows the password can trigger this, so it gives a guesser nothing, and it
        spares the owner who mistyped a few times a tighter budget for the next minute (the old
        fixed-window throttle cleared the account's counter the same way). The client's bucket is
        not refilled: otherwise an attacker holding one valid account could sign in to it between
        tries at other accounts and so escape the per-client limit.
        """
        if account is not None:
            await self._limiter.reset(f"rl:si:a:{tenant.id}:{account}")


CLIENT_AUTH_PURPOSE: Final = "client-auth-pair"
CLIENT_AUTH_METRIC_LIMIT: Final = "client_auth"
BLOCKED_PAIRS_CAP: Final = 10_000  # blocked (address, client id) pairs remembered per process


class ClientAuthLimiter(_BucketLimiter):
    """Failed client authentications per client address and client id (RFC 6749 §2.3.1: endpoints that
    check client passwords MUST be protected against brute force; RFC 7009 §5, RFC 7662 §4 ask the same).

    A token bucket per tenant, client address (IPv4, or the IPv6 /64, as for sign-in) and presented
    client id, of capacity `limit` refilled at `limit / window` per second (settings
    client_auth_rate_limit, 20, and client_auth_rate_window, 60 s), under ``rl:ca:<tenant id>:<keyed hash
    of (address, client id)>``: no raw address is stored or logged. Only presented credentials that fail
    count (a request without any is not a guess). The failure that empties the bucket blocks that pair in
    this process until a token is back: from then on that client's authentication from that address is
    refused (HTTP 429, Retry-After, metric identity_rate_limit_blocks_total{limit="client_auth"}) before
    any secret is checked, the right one included, since answering a right guess would keep the guessing
    going.

    Why the pair: what is guessed is one client's secret, so its guesses are what is bounded; keying on
    the address alone would let 20 bad requests a minute lock every client out of the tenant when the
    address is a shared one (a NAT, or a reverse proxy in front of ΛiD that is not listed in
    `trusted_proxies`, so that every address is the proxy's). With the pair, a guesser at one client from
    behind the same address as that client can still make it wait; other clients are not affected. Behind
    the listed proxies the address is the one they forwarded (protocol/forwarded.py).

    The check is a lookup in this process's memory, so requests pay no round trip to the store for it;
    the bucket itself is shared (Redis with several processes). Another process learns of the block at
    its own next failure from that pair (which finds the shared bucket empty), so a guesser spread over N
    processes gets at most `limit + N - 1` tries per refill of the bucket. Secrets are 256-bit random
    values, so this bounds noise and cost rather than a feasible search.
    """

    _metric_limit = CLIENT_AUTH_METRIC_LIMIT

    def __init__(
        self,
        limiter: RateLimiter,
        keyring: TenantKeyring,
        clock: Clock,
        metrics: Metrics,
        *,
        limit: int,
        window: float,
    ) -> None:
        super().__init__(limiter, keyring, clock, metrics, limit=limit, window=window)
        self._blocked: dict[tuple[str, str], float] = {}  # (tenant id, pair hash) -> blocked until
        self._last_until = 0.0  # the latest end of any block: past it, nothing is blocked

    def _pair(self, tenant: Tenant, ip: str, client_id: str) -> str:
        return self._keyed_hash(tenant, CLIENT_AUTH_PURPOSE, _field(_client_address(ip)) + _field(client_id))

    def retry_after(self, tenant: Tenant, ip: str, client_id: str) -> int | None:
        """Whole seconds (at least 1) this client id must wait to authenticate from this address, counting
        the refusal in the metric; None when it may. No I/O."""
        if not self._blocked:
            return None  # the common case: no hash computed
        now = self._clock.now()
        if now >= self._last_until:
            self._blocked.clear()  # every block has ended
            return None
        key = (tenant.id, self._pair(tenant, ip, client_id))
        until = self._blocked.get(key)
        if until is None:
            return None
        if until <= now:
            del self._blocked[key]
            return None
        return self._refused(until - now)

    async def failed(self, tenant: Tenant, ip: str, client_id: str) -> bool:
        """Credentials presented for `client_id` did not authenticate: take a token; an empty bucket blocks.
        True when this failure started a block in this process (the limit tripped)."""
        pair = self._pair(tenant, ip, client_id)
        now = self._clock.now()
        wait = await self._consume([f"rl:ca:{tenant.id}:{pair}"], now)
        if wait <= 0:
            return False
        self._block((tenant.id, pair), now + wait, now)
        return True

    def _block(self, key: tuple[str, str], until: float, now: float) -> None:
        self._blocked.pop(key, None)
        self._blocked[key] = until  # newest last
        self._last_until = max(self._last_until, until)
        if len(self._blocked) > BLOCKED_PAIRS_CAP:
            for stale in [k for k, t in self._blocked.items() if t <= now]:
                del self._blocked[stale]
            while len(self._blocked) > BLOCKED_PAIRS_CAP:
                del self._blocked[next(iter(self._blocked))]  # the oldest block goes first
