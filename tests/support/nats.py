"""NATS for the event tests: a stream and subject prefix per test on the shared server, a private
nats-server process that a test may kill and restart, and reading a stream back."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.js.api import DeliverPolicy

from tests.support.ci import IN_CI


@dataclass(frozen=True)
class Names:
    """A stream and subject prefix of one test's own (other tests use the same server at the same time)."""

    stream: str
    prefix: str

    @classmethod
    def unique(cls) -> Names:
        tag = uuid.uuid4().hex[:10]
        return cls(f"T{tag.upper()}", f"t{tag}")

    def settings(self, url: str) -> dict[str, str]:
        return {"nats_url": url, "nats_stream": self.stream, "nats_subject_prefix": self.prefix}

    def env(self, url: str) -> dict[str, str]:
        return {
            "LUKHAS_ID_NATS_URL": url,
            "LUKHAS_ID_NATS_STREAM": self.stream,
            "LUKHAS_ID_NATS_SUBJECT_PREFIX": self.prefix,
        }


async def delete_stream(url: str, stream: str) -> None:
    client = await nats.connect(url)
    try:
        try:
            await client.jetstream().delete_stream(stream)
        except Exception:  # noqa: S110 - never made, or already gone
            pass
    finally:
        await client.close()


@dataclass(frozen=True)
class Message:
    subject: str
    data: dict[str, Any]
    headers: dict[str, str]
    stream_seq: int


async def until(check: Callable[[], Awaitable[bool]], seconds: float, step: float = 0.05) -> None:
    """Poll `check` until it holds; TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - polling another process's state, no event to wait on
            await asyncio.sleep(step)


async def read_stream(url: str, names: Names, *, at_least: int, seconds: float = 20.0) -> list[Message]:
    """Every message of the stream, in stream order, once at least `at_least` are there (or `seconds` passed)."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()

        async def enough() -> bool:
            return bool((await js.stream_info(names.stream)).state.messages >= at_least)

        try:
            await until(enough, seconds, 0.1)
        except TimeoutError:
            pass
        total = (await js.stream_info(names.stream)).state.messages
        sub = await js.subscribe(
            f"{names.prefix}.>", stream=names.stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        out: list[Message] = []
        while len(out) < total:
            msg = await sub.next_msg(timeout=5)
            out.append(
                Message(msg.subject, orjson.loads(msg.data), dict(msg.headers or {}), msg.metadata.sequence.stream)
            )
        await sub.unsubscribe()
        return out
    finally:
        await client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nats_server_binary() -> str:
    found = shutil.which("nats-server") or ("/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None)
    if found is None:
        message = "nats-server is not installed"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: NATS tests must run)")
        pytest.skip(message)
    return found


@dataclass
class PrivateNats:
    """A nats-server of the test's own (JetStream, its own store directory, a fixed port): killed with
    SIGKILL and started again on the same port and store, as an outage of the bus would look."""

    store: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = nats_server_binary()
        self.process = subprocess.Popen(
            [binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the private nats-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None
