"""Automatic pipelining: commands issued in the same event-loop turn go to Redis as one write.

Under load a worker has many requests in flight; sending each command on its own costs a pool checkout,
a write syscall and a read per command. Batching them per loop turn costs one of each per batch and
measured about 3× less CPU per command (SET, 32 concurrent callers). Each caller still gets its own
result or its own error; a connection failure fails every command of that batch.

Over plain TCP or a Unix socket the batch is written on one lean connection (wire.py), whose replies
resolve the callers' futures as they arrive; over TLS it runs as a redis-py pipeline.
Replies are Redis's own (a status reply such as SET's is b"OK"). An outage reaches the callers as
StoreUnavailable (errors.py), never as a redis-py error. With tracing on, each command is a span
(`_traced`), a child of the caller's span, from its queueing to its reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from lukhas_id.adapters.redis.errors import store_error
from lukhas_id.adapters.redis.wire import pack, wire_for
from lukhas_id.observability import tracing

MAX_BATCH = 512

_Pending = tuple[tuple[Any, ...], "asyncio.Future[Any]"]


def _traced(command: object, future: asyncio.Future[Any]) -> None:
    """A span for one command (observability/tracing.py), from its queueing to its reply: the command's
    name only, never a key or value."""
    name = command.upper() if isinstance(command, str) else "COMMAND"
    span = tracing.start_span(name, {"db.system": "redis", "db.operation": name}, child_only=True)
    if span is None:
        return

    def done(finished: asyncio.Future[Any]) -> None:
        if finished.cancelled():
            span.fail("CancelledError")
        elif (error := finished.exception()) is not None:
            span.fail(type(error).__name__)
        span.end()

    future.add_done_callback(done)


class AutoPipeline:
    __slots__ = ("_client", "_pending", "_scheduled", "_tasks", "_wire")

    def __init__(self, client: redis.asyncio.Redis, *, lean: bool = True) -> None:
        self._client = client
        self._wire = wire_for(client) if lean else None
        self._pending: list[_Pending] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def execute(self, *args: Any) -> asyncio.Future[Any]:
        """Queue one command (e.g. "SET", key, value, "PX", ms); the future resolves to its reply."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if tracing.enabled():
            _traced(args[0], future)
        self._pending.append((args, future))
        if len(self._pending) >= MAX_BATCH:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    async def evalsha(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a registered script in the batch; when Redis doesn't know it (NOSCRIPT: restarted, or its
        scripts flushed), send it whole with EVAL, which also caches it for the next EVALSHA. (Loading it
        and then calling EVALSHA again could meet a second flush in between.)"""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.execute("EVAL", script.script, len(keys), *keys, *args)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        if self._wire is not None:
            await self._wire.close()

    async def _run(self, batch: list[_Pending]) -> None:
        if self._wire is not None:
            try:
                connection = await self._wire.connection()
                connection.send(pack([args for args, _ in batch]), [future for _, future in batch])
            except Exception as exc:
                error = store_error(exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            return
        try:
            if len(batch) == 1:
                args, future = batch[0]
                results: list[Any] = [await self._client.execute_command(*args)]  # type: ignore[no-untyped-call]
            else:
                pipe = self._client.pipeline(transaction=False)
                for args, _ in batch:
                    pipe.execute_command(*args)
                results = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # connection errors, cancellation: every caller hears of it
            error = store_error(exc if isinstance(exc, Exception) else ConnectionError("cancelled"))
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(store_error(result))
            else:
                future.set_result(result)
