"""Real `lukhas-id serve` processes on free loopback ports, and the CLI of their deployment."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

CLI = [sys.executable, "-m", "lukhas_id"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    env: dict[str, str]
    public_url: str

    def cli(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:  # noqa: A002
        proc = subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, timeout=60, input=input)
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


@dataclass
class IdP:
    """An embedded deployment whose public URL (the default tenant's issuer) is http://localhost:PORT.

    Register clients and users with `deployment.cli` first, then `start()` the server: a client whose
    ID token algorithm is new to the tenant, registered while the server runs, gets 503 from the token
    endpoint until the server reloads its cached key set (up to 30 s).
    """

    deployment: Deployment
    port: int
    log: Path
    server: Server | None = None

    @property
    def issuer(self) -> str:
        return self.deployment.public_url

    def start(self) -> None:
        assert self.server is None
        with self.log.open("wb") as out:
            proc = subprocess.Popen(
                [*CLI, "serve", "--port", str(self.port)], env=self.deployment.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.server = Server(self.issuer, proc, self.log)
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not become ready: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
