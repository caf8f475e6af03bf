"""The reference peer, node-oidc-provider, run by ../shared/peers/node-oidc-provider/run.sh."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bench.procs import BenchError, Proc, free_port, wait_ready

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
INSTALL_TIMEOUT = 600.0
START_TIMEOUT = 60.0


def peers_dir(repo: Path) -> Path:
    """shared/peers beside the checkout (the repository sits next to shared/)."""
    return repo.parent / "shared" / "peers"


class Peer:
    """One configuration of the peer at a time: `start(fmt, workers)` stops the previous one first."""

    def __init__(self, repo: Path, work: Path) -> None:
        self.script = peers_dir(repo) / "node-oidc-provider" / "run.sh"
        self.peer_dir = repo / ".cache" / "bench-peer"
        self.work = work
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: Proc | None = None
        self.config: tuple[str, int] | None = None
        self.unavailable = self._why_unavailable()

    def _why_unavailable(self) -> str | None:
        if not self.script.is_file():
            return f"{self.script} not found (the checkout should sit beside shared/)"
        missing = [tool for tool in ("node", "npm", "bash") if shutil.which(tool) is None]
        if missing:
            return f"{' and '.join(missing)} not on PATH"
        return None

    @property
    def token_url(self) -> str:
        return f"{self.base}/token"

    @property
    def introspection_url(self) -> str:
        return f"{self.base}/token/introspection"

    @property
    def revocation_url(self) -> str:
        return f"{self.base}/token/revocation"

    def start(self, fmt: str, workers: int) -> bool:
        """Starts the peer with FORMAT=fmt, WORKERS=workers (ES256); False (and `unavailable` says why) if not."""
        if self.unavailable:
            return False
        if self.config == (fmt, workers) and self.proc is not None and self.proc.alive():
            return True
        self.stop()
        installing = not (self.peer_dir / "node_modules" / "oidc-provider").is_dir()
        if installing:
            print(f"  peer: first start, npm install into {self.peer_dir} (can take a few minutes) ...", flush=True)
        env = {
            **os.environ,
            "ALG": "ES256",
            "FORMAT": fmt,
            "WORKERS": str(workers),
            "PEER_DIR": str(self.peer_dir),
        }
        self.proc = Proc(
            f"peer (node-oidc-provider, {fmt}, {workers} process(es))",
            ["bash", str(self.script), str(self.port)],
            env=env,
            cwd=self.work,
            log=self.work / f"peer-{fmt}-{workers}.log",
        )
        try:
            wait_ready(
                self.proc,
                f"{self.base}/.well-known/openid-configuration",
                INSTALL_TIMEOUT if installing else START_TIMEOUT,
                progress=lambda s: print(f"  peer: still starting ({s:.0f} s) ...", flush=True),
            )
        except BenchError as exc:
            self.stop()
            self.unavailable = f"could not be started: {exc}"
            return False
        self.config = (fmt, workers)
        return True

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
            self.config = None
