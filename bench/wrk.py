"""wrk: finding (or installing) it, writing request scripts from bench/lua templates, running it, parsing it."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import BenchError

LUA_DIR = Path(__file__).resolve().parent / "lua"

CONNECTIONS = 64
THREADS = 2


def ensure_wrk() -> str:
    """The path of wrk; installs the Debian package when we are root with apt-get, else explains and fails."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("wrk is not installed: apt-get install -y wrk ...", flush=True)
        quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT}
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run([apt, "install", "-y", "wrk"], env=env, check=False, **quiet).returncode != 0:
            subprocess.run([apt, "update"], env=env, check=False, **quiet)
            subprocess.run([apt, "install", "-y", "wrk"], env=env, check=False, **quiet)
        found = shutil.which("wrk")
        if found:
            return found
    raise BenchError(
        "wrk is needed and not installed: `sudo apt-get install wrk` (Debian/Ubuntu), `brew install wrk` "
        "(macOS), or build it from its source release (https://github.com/wg/wrk)"
    )


def basic_auth(client_id: str, secret: str) -> str:
    """client_secret_basic (RFC 6749 §2.3.1): both parts form-urlencoded; ours and the peer's are URL-safe."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def write_script(template: str, out: Path, *, authorization: str) -> Path:
    text = (LUA_DIR / template).read_text()
    if '"' in authorization or "\\" in authorization:
        raise ValueError("authorization header value must not need Lua escaping")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text.replace("@AUTHORIZATION@", authorization))
    return out


@dataclass
class WrkResult:
    """One wrk run. Latencies in milliseconds."""

    label: str
    url: str
    connections: int
    threads: int
    duration_s: float
    requests: int = 0
    elapsed_s: float = 0.0
    rps: float = 0.0
    p50_ms: float | None = None
    p75_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    extra: dict[str, int] = field(default_factory=dict)
    busy_before_pct: float | None = None  # CPU in use on the machine just before the run (warm-up included)
    output: str = ""

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["errors"] = self.errors
        return out


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")
_PERCENTILE = re.compile(r"^\s+(50|75|90|99)(?:\.0+)?%\s+(\S+)\s*$", re.M)
_LATENCY_ROW = re.compile(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", re.M)
_REQUESTS = re.compile(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.M)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_EXTRA = re.compile(r"^([A-Z]+) (\d+)(?: ([A-Z]+) (\d+))?(?: ([A-Z]+) (\d+))?\s*$", re.M)


def _ms(value: str) -> float:
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"unexpected wrk duration {value!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse(output: str, result: WrkResult) -> WrkResult:
    """Fills result from wrk's --latency text output (and the KEY n lines our Lua done() hooks print)."""
    result.output = output
    if m := _RPS.search(output):
        result.rps = float(m.group(1))
    if m := _REQUESTS.search(output):
        result.requests = int(m.group(1))
        result.elapsed_s = _ms(m.group(2) + m.group(3)) / 1000
    for pct, value in _PERCENTILE.findall(output):
        setattr(result, f"p{pct}_ms", _ms(value))
    if m := _LATENCY_ROW.search(output):
        result.max_ms = _ms(m.group(3))
    if m := _NON2XX.search(output):
        result.non_2xx = int(m.group(1))
    if m := _SOCKET.search(output):
        result.socket_errors = {
            k: int(v) for k, v in zip(("connect", "read", "write", "timeout"), m.groups(), strict=True) if int(v)
        }
    for m in _EXTRA.finditer(output):
        groups = [g for g in m.groups() if g is not None]
        for key, value in zip(groups[::2], groups[1::2], strict=True):
            result.extra[key.lower()] = int(value)
    return result


def run(
    script: Path,
    url: str,
    *,
    label: str,
    duration: float,
    connections: int = CONNECTIONS,
    threads: int = THREADS,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
    timeout_s: int = 2,
) -> WrkResult:
    """Runs wrk once (closed loop, `connections` connections over `threads` threads) and parses its output."""
    wrk = ensure_wrk()
    seconds = max(1, round(duration))
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(
        argv,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    output = proc.stdout + (("\n" + proc.stderr) if proc.stderr.strip() else "")
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label.replace("ΛiD", "lid")).strip("_")
        (log_dir / f"{safe}.txt").write_text(" ".join(argv) + "\n\n" + output)
    if proc.returncode != 0 or not _RPS.search(output):
        print(output, file=sys.stderr)
        raise BenchError(f"wrk failed for {label} (exit status {proc.returncode})")
    result = parse(output, WrkResult(label, url, connections, threads, float(seconds)))
    if result.elapsed_s < 0.8 * seconds:
        # wrk prints its partial figures when it gets SIGINT (a Ctrl-C in the terminal reaches it too)
        raise BenchError(f"wrk stopped after {result.elapsed_s:.1f} s of {seconds} s for {label} (interrupted?)")
    return result
