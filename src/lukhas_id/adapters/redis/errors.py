"""Redis errors as the typed errors of errors.py: an outage becomes StoreUnavailable.

Every command of the Redis stores goes through the automatic pipeline (batching.py), which hands its callers
`store_error(exc)` in place of a failure; the lean connection (wire.py) raises StoreUnavailable itself. So no
store method lets a redis-py error out when Redis is down, and the web edge needs no driver import.

Outages: a refused, lost or timed-out connection (redis-py's ConnectionError, with its subclasses for a full
pool, a refused AUTH and a server still loading its data set, and its TimeoutError; OSError and TimeoutError),
and the replies that say the server cannot serve now (`OUTAGE_REPLIES`: loading, busy with a script, out of
memory, a read-only replica or a cluster that lost its primary). Other replies (a wrong type, a script error)
stay redis-py's ResponseError: those are bugs.
"""

from __future__ import annotations

from typing import Final

from redis import exceptions as r

from lukhas_id.errors import StoreUnavailable

STORE: Final = "Redis"

# The first word of an error reply that means "not now" rather than "wrong".
OUTAGE_REPLIES: Final = frozenset({"LOADING", "BUSY", "OOM", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"})

_OUTAGES: Final = (
    r.ConnectionError,
    r.TimeoutError,
    r.ReadOnlyError,
    r.ClusterDownError,
    r.TryAgainError,
    r.OutOfMemoryError,
    OSError,
    TimeoutError,
)


def unavailable(reason: str) -> StoreUnavailable:
    return StoreUnavailable(STORE, reason)


def store_error(exc: Exception) -> Exception:
    """StoreUnavailable (chained to `exc`) when `exc` is an outage, else `exc` itself."""
    if isinstance(exc, _OUTAGES) or (isinstance(exc, r.ResponseError) and str(exc).split(" ", 1)[0] in OUTAGE_REPLIES):
        typed = unavailable(type(exc).__name__)
        typed.__cause__ = exc
        return typed
    return exc
