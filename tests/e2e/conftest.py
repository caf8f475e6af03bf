"""Real `lukhas-id serve` processes on free loopback ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lukhas_id.adapters.crypto.kek import new_kek_b64

CLI = [sys.executable, "-m", "lukhas_id"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    env: dict[str, str]
    public_url: str

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"lukhas-id {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def create_client(self, *args: str) -> dict[str, str]:
        out = self.cli(
            "client",
            "create",
            "--scope",
            "api:read api:write",
            "--resource",
            "urn:example:api",
            "--json",
            *args,
        )
        return json.loads(out.stdout)  # type: ignore[no-any-return]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def start_server(dep: Deployment, tmp: Path, workers: int = 1) -> Server:
    port = free_port()
    log = tmp / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--workers", str(workers)],
            env=dep.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return Server(url, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise AssertionError(f"server did not become ready: {log.read_text()[-2000:]}")


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)


@pytest.fixture(params=["production", "embedded"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    public = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUKHAS_ID_")}
    env.update({"LUKHAS_ID_VAR_DIR": str(tmp_path / "var"), "LUKHAS_ID_PUBLIC_URL": public})
    if request.param == "production":
        env.update(
            {
                "LUKHAS_ID_DATABASE_URL": request.getfixturevalue("pg_schema_url"),
                "LUKHAS_ID_REDIS_URL": request.getfixturevalue("redis_url"),
                "LUKHAS_ID_KEK": new_kek_b64(),
            }
        )
    yield Deployment(env, public)
