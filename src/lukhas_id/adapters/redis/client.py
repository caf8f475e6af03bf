"""Redis client factory: one asyncio client (and connection pool) per server worker process.

The client is made once at start (the composition root keeps it in the Container) and closed at
shutdown with ``await client.aclose()``, which also closes its pool.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio

DEFAULT_MAX_CONNECTIONS = 64


class LukhasRedis(redis.asyncio.Redis):
    """redis-py's asyncio client that also closes the lean connections made beside it (wire.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lean_connections: list[Any] = []

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        for connection in self.lean_connections:
            await connection.close()
        self.lean_connections.clear()
        await super().aclose(close_connection_pool)


def redis_client(
    url: str,
    *,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    pool_timeout: float = 5.0,
    socket_timeout: float = 5.0,
) -> redis.asyncio.Redis:
    """An asyncio Redis client for the state stores, from a ``redis://`` / ``rediss://`` / ``unix://`` URL.

    - ``decode_responses=False``: values come back as ``bytes``; the stores rely on it (and refuse a
      client that decodes).
    - A blocking pool of at most ``max_connections`` connections (64 suits one server worker): when
      every connection is busy a request waits up to ``pool_timeout`` seconds for one instead of failing
      at once with "Too many connections", so a burst of concurrent requests queues rather than errors.
    - ``health_check_interval=0``: no extra PING before a command on an idle connection. A dead
      connection shows up as an error on the next command, which redis-py's default retry policy
      handles by reconnecting; this keeps every store call at one round trip.
    - ``socket_timeout`` / ``socket_connect_timeout``: a stuck server fails a request instead of hanging it.

    Query-string options in the URL (for example ``?socket_timeout=1``) override these keyword values.
    """
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        decode_responses=False,
        max_connections=max_connections,
        timeout=pool_timeout,
        health_check_interval=0,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
    )
    return LukhasRedis.from_pool(pool)
