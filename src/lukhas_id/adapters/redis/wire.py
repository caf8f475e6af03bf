"""A lean Redis connection for the per-request commands: RESP2 over one asyncio stream per process.

Redis answers the commands of one connection in order, so replies are matched to waiting futures
first-in first-out, and many concurrent requests share one connection with no pool checkout and one
write per batch. hiredis parses the replies. A command that gets no answer within `timeout` seconds
fails, with every other waiting command, and the connection is dropped (the next command reconnects).
Failures of the connection, and the replies that say Redis cannot serve now, are StoreUnavailable (errors.py).
Plain TCP and Unix sockets only; TLS deployments use redis-py's pipeline (see batching.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, cast

import hiredis
from redis.exceptions import NoScriptError, ResponseError

from lukhas_id.adapters.redis.errors import OUTAGE_REPLIES, unavailable
from lukhas_id.errors import StoreUnavailable


def pack(commands: list[tuple[Any, ...]]) -> bytes:
    """RESP2 arrays of bulk strings for a batch of commands."""
    out: list[bytes] = []
    for args in commands:
        out.append(b"*%d\r\n" % len(args))
        for arg in args:
            if isinstance(arg, str):
                data = arg.encode("utf-8")
            elif isinstance(arg, bytes):
                data = arg
            elif isinstance(arg, int):
                data = b"%d" % arg
            else:
                raise TypeError(f"cannot send a {type(arg).__name__} to Redis")
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _error(reply: hiredis.ReplyError) -> ResponseError | StoreUnavailable:
    message = str(reply)
    code = message.split(" ", 1)[0]
    if code == "NOSCRIPT":
        return NoScriptError(message)
    return unavailable(code) if code in OUTAGE_REPLIES else ResponseError(message)


class _Protocol(asyncio.Protocol):
    def __init__(self, timeout: float) -> None:
        self._reader = hiredis.Reader()
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._transport: asyncio.Transport | None = None
        self._timeout = timeout
        self._progress = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (asyncio's or uvloop's, which doesn't subclass asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)

    def send(self, payload: bytes, futures: list[asyncio.Future[Any]]) -> None:
        if self.lost or self._transport is None:
            raise unavailable("the connection is closed")
        if not self._waiting:
            self._progress = time.monotonic()
        self._waiting.extend(futures)
        self._transport.write(payload)
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self._timeout, self._check)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self._waiting
        while True:
            reply = self._reader.gets()
            if reply is False:
                break
            future = waiting.popleft()
            if future.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(_error(reply))
            else:
                future.set_result(reply)
        self._progress = time.monotonic()

    def _check(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        if time.monotonic() - self._progress >= self._timeout:
            self._fail(unavailable(f"no answer within {self._timeout} s"))
            if self._transport is not None:
                self._transport.abort()
            return
        self._watchdog = asyncio.get_running_loop().call_later(self._timeout, self._check)

    def _fail(self, exc: Exception) -> None:
        self.lost = True
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(unavailable("the connection was lost"))
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def sockname(self) -> Any:
        """The local address of the connection (for operators and tests)."""
        return self._transport.get_extra_info("sockname") if self._transport is not None else None


class RedisWire:
    """One connection, made on first use and remade after a failure. Not shared between event loops."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._address = (host, port, path)
        self._handshake: list[tuple[Any, ...]] = []
        if password is not None:
            self._handshake.append(("AUTH", username, password) if username else ("AUTH", password))
        if db:
            self._handshake.append(("SELECT", db))
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def connection(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.lost:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(self._connected)
        return await asyncio.shield(self._connecting)

    def _connected(self, future: asyncio.Future[_Protocol]) -> None:
        self._connecting = None
        if not future.cancelled() and future.exception() is None:
            self._protocol = future.result()

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        host, port, path = self._address

        def factory() -> _Protocol:
            return _Protocol(self._timeout)

        try:
            if path is not None:
                coro = loop.create_unix_connection(factory, path)
            else:
                coro = loop.create_connection(factory, host, port)
            _, protocol = await asyncio.wait_for(coro, self._timeout)
        except (OSError, TimeoutError) as exc:
            raise unavailable(f"cannot connect: {type(exc).__name__}") from exc
        if self._handshake:
            futures = [loop.create_future() for _ in self._handshake]
            protocol.send(pack(self._handshake), futures)
            try:
                for future in futures:
                    await future  # an AUTH or SELECT error raises here
            except BaseException:
                protocol.close()
                raise
        return protocol

    async def close(self) -> None:
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None


def wire_for(client: Any) -> RedisWire | None:
    """A RedisWire to the same server as a client made by `redis_client` (closed with it), or None for
    TLS connections and other clients (those use redis-py pipelines)."""
    from redis.asyncio.connection import Connection, UnixDomainSocketConnection

    lean: list[RedisWire] | None = getattr(client, "lean_connections", None)
    if lean is None:
        return None
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    timeout = float(kwargs.get("socket_timeout") or 5.0)
    common = {
        "db": int(kwargs.get("db") or 0),
        "username": kwargs.get("username"),
        "password": kwargs.get("password"),
        "timeout": timeout,
    }
    if pool.connection_class is Connection:
        wire = RedisWire(host=kwargs.get("host", "127.0.0.1"), port=int(kwargs.get("port", 6379)), **common)
    elif pool.connection_class is UnixDomainSocketConnection:
        wire = RedisWire(path=kwargs["path"], **common)
    else:
        return None
    lean.append(wire)
    return wire
