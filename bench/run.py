"""`make bench`: ΛiD next to node-oidc-provider, same machine, same wrk load, same run.

Scenarios (wrk, 64 connections, 2 threads, BENCH_DURATION seconds each after a discarded warm-up):

1. client_credentials, ES256 JWT access tokens: ΛiD 2 workers vs peer 2 processes (target ratio >= 1.5)
2. client_credentials, opaque tokens: ΛiD 2 workers (one Redis write each) vs peer 2 processes (>= 1.0)
3. introspection of one opaque token: ΛiD 2 workers sharing Redis vs peer 1 process (>= 1.5; with 2 processes
   the peer's in-memory store is not shared); also ΛiD introspecting a JWT (no peer figure)
4. revocation, a different opaque token per request (tokens minted beforehand): ΛiD 2 workers vs peer 1
   process (same reason); no target
5. ΛiD's JWT p99 at the peer's peak rate (scenario 1), offered with a paced wrk (target p99 < 10 ms);
   plus ΛiD with 16 connections, unpaced, for reference
6-8. ΛiD only (the peer's configuration has client_credentials only: "peer: not configured for this flow"), needs
   PostgreSQL + Redis; no target:
6. authorization_code redemption: codes (+ PKCE verifiers) minted through AuthorizationCodes.issue into the shared
   Redis just before each run, one redeemed per request (client_secret_basic); the refresh tokens are kept
7. refresh_token rotation: starting from [6]'s refresh tokens, each answer's successor is presented next
8. sign-in: POST /login (pre-session cookie + CSRF token from GET /login, reused), 8 CLI-made users in turn;
   a 303 is a success: argon2id verification + a new session
9. passkey (WebAuthn) sign-in, ΛiD only (the peer does not do WebAuthn), needs PostgreSQL + Redis: a passkey
   registered over HTTP with the software authenticator of tests/support/authenticator.py, then discoverable
   ceremonies (POST webauthn/authenticate/begin, the authenticator signs, POST .../complete), timed by us
   (bench/passkeys.py): one at a time (50 warm-up, then up to 2,000 or 3 x BENCH_DURATION s; target: p95 of the
   server-side time of begin + complete < 5 ms, read from the answers' Server-Timing headers, which the bench
   server sends with LUKHAS_ID_SERVER_TIMING=true; the client's wall time is reported too), then 8 clients at
   once for BENCH_DURATION s (no target)
10. the same build restarted with the access log and the audit log off (FEATURES_OFF): client_credentials JWT
   (target: scenario 1 at least 0.95x of this) and, when [8] ran, the password sign-in (no target)

Env: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 2), BENCH_PEER=0 (skip the peer),
BENCH_STRICT=1 (exit 1 when a target is missed or a scenario had errors), BENCH_ONLY=flows (scenarios 6-9 only) or
BENCH_ONLY=passkeys (scenario 9 only) or BENCH_ONLY=events (identity events through the outbox to NATS at
1,000 events/s, delivery lag p50/p99, target p99 < 1 s: bench/events.py; needs PostgreSQL and NATS),
BENCH_QUIET_WAIT (s, default 30: how long to wait before a scenario for other work on the machine to stop),
BENCH_PG_URL, BENCH_REDIS_URL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import flows, passkeys, wrk
from bench.http import count_active, mint_token
from bench.lid import LidServer
from bench.peer import CLIENT_ID, CLIENT_SECRET, Peer
from bench.procs import BenchError, Interrupted, install_signal_handlers
from bench.wrk import WrkResult

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / ".cache" / "bench"
# The peer's 2-process ES256 figure in ../shared/peers/README.md: the pace of scenario 5 when the peer
# could not be measured in this run (said so in the output).
PEER_README_JWT_RPS = 3845.0
P99_TARGET_MS = 10.0
BUSY_PCT = 20.0  # CPU in use by others above which the machine is not quiet enough to measure
SAMPLE = 50  # tokens checked by introspection before and after the revocation run
PEER_NA = "peer: not configured for this flow"
# Scenarios 6 and 7: codes minted per second of run (above ΛiD's rate, so that no code is sent twice); a
# code lives 60 s (services/codes.CODE_TTL), so the measured run is at most CODE_RUN_MAX_S long.
CODES_PER_S = 5000
CODE_RUN_MAX_S = 40.0
LOGIN_USERS = 8  # created with the CLI, all at once (one process each: ~1 s of CPU apiece)
LOGIN_FORMS = 128  # pre-session cookie + CSRF token pairs (2 per connection), reused: nothing is stored
# Scenario 9: passkey sign-in ceremonies.
PASSKEY_P95_TARGET_MS = 5.0
PASSKEY_WARMUP = 50  # ceremonies, discarded
PASSKEY_MAX = 2000  # ceremonies measured one at a time, at most ...
PASSKEY_MIN = 200  # ... and at least (for a p99 worth the name), whatever the time budget
PASSKEY_BUDGET = 3.0  # x BENCH_DURATION: the time budget of the sequential run
PASSKEY_CLIENTS = 8  # concurrent clients, each with its own user, passkey, cookies and connection
ONLY = ("flows", "passkeys", "events")
# Scenario 10: the settings turned off for the "features off" run, and the least on/off ratio of issue 11.
FEATURES_OFF = ("LUKHAS_ID_ACCESS_LOG", "LUKHAS_ID_AUDIT_LOG", "LUKHAS_ID_EVENT_OUTBOX")
FEATURES_RATIO = 0.95


def _env_float(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BenchError(f"{name} must be a number of seconds, got {raw!r}") from None
    return max(minimum, value)


@dataclass
class Row:
    """One scenario of the table."""

    key: str
    title: str
    ours: WrkResult | None = None
    peer: WrkResult | None = None
    peer_note: str = ""
    target_ratio: float | None = None
    target_p99_ms: float | None = None
    target_rps: float | None = None  # scenario 5: the offered rate
    target_p95_ms: float | None = None  # scenario 9: a p95 measured by us (passkeys.CeremonyResult)
    error: str = ""  # the scenario failed (result ERR)
    compare: bool = True  # False: the peer columns are context, not the same measurement
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if not self.compare or self.ours is None or self.peer is None or not self.peer.rps:
            return None
        return self.ours.rps / self.peer.rps

    @property
    def flagged(self) -> bool:
        return any(r is not None and _errors(r) for r in (self.ours, self.peer))

    @property
    def target(self) -> str:
        if self.target_ratio is not None:
            return f">= {self.target_ratio:g}x"
        if self.target_p99_ms is not None:
            return f"p99 < {self.target_p99_ms:.0f} ms"
        if self.target_p95_ms is not None:
            return f"server p95 < {self.target_p95_ms:.0f} ms"
        return "-"

    @property
    def result(self) -> str:
        if self.error:
            return "ERR"
        if self.ours is None:
            return "n/a"
        if self.ours is not None and _errors(self.ours):
            return "ERR"
        if self.target_ratio is not None:
            ratio = self.ratio
            if ratio is None:
                return "n/a"
            verdict = "PASS" if ratio >= self.target_ratio else "MISS"
            return verdict + ("!" if self.flagged else "")
        if self.target_p99_ms is not None:
            p99 = self.ours.p99_ms
            rate_ok = self.target_rps is None or self.ours.rps >= 0.95 * self.target_rps
            return "PASS" if p99 is not None and p99 < self.target_p99_ms and rate_ok else "MISS"
        if self.target_p95_ms is not None:
            # The figure is the server-side time (Server-Timing), not the client's wall time.
            p95: float | None = getattr(self.ours, "server_p95_ms", None)
            verdict = "PASS" if p95 is not None and p95 < self.target_p95_ms else "MISS"
            return f"{verdict} (server p95 {_lat(p95)})"
        return "info" + ("!" if self.flagged else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "ours": self.ours.as_dict() if self.ours else None,
            "peer": self.peer.as_dict() if self.peer else None,
            "peer_note": self.peer_note,
            "ratio": self.ratio,
            "target": self.target,
            "target_rps": self.target_rps,
            "result": self.result,
            "error": self.error,
            "notes": self.notes,
        }


def _errors(r: WrkResult) -> int:
    """Non-2xx responses, socket errors, and answers of the wrong kind (inactive introspection, failed mint)."""
    return r.errors + r.extra.get("inactive", 0) + r.extra.get("failed", 0)


# --- machine -------------------------------------------------------------------------------------------


def _command_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else "unavailable"


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": _command_version(["node", "--version"]) if shutil.which("node") else "unavailable",
        "wrk": _command_version(["wrk", "-v"]).split(" [")[0],
    }


def cpu_busy_percent(seconds: float = 1.0) -> float | None:
    """Share of all CPUs' time spent not idle over `seconds` (Linux /proc/stat), before anything starts."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return round(100.0 * (1 - (idle1 - idle0) / (total1 - total0)), 1)


def source_info() -> str:
    """The commit measured, and whether the work tree differed from it (read-only git commands)."""
    if shutil.which("git") is None:
        return "unknown (no git)"
    head = _command_version(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"])
    try:
        status = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return head
    # Changes to the benchmark or the docs do not change what is measured.
    paths = [line[3:].strip() for line in status.splitlines() if line.strip()]
    changed = [p for p in paths if not p.startswith(("bench/", "docs/"))]
    if not changed:
        return f"{head} (no uncommitted changes outside bench/ and docs/)"
    return f"{head} + uncommitted changes in {len(changed)} file(s): {', '.join(changed[:5])}"


# --- formatting ----------------------------------------------------------------------------------------


def _rps(r: WrkResult | None) -> str:
    return f"{r.rps:,.0f}" if r is not None else "-"


def _lat(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def render(rows: list[Row]) -> str:
    header = ["scenario", "ΛiD req/s", "p50", "p99", "peer req/s", "p50", "p99", "ratio", "target", "result"]
    table: list[list[str]] = [header]
    for row in rows:
        ratio = row.ratio
        peer_cells = (
            [_rps(row.peer), _lat(row.peer.p50_ms), _lat(row.peer.p99_ms)]
            if row.peer is not None
            else [row.peer_note or "-", "", ""]
        )
        table.append(
            [
                row.title,
                _rps(row.ours),
                _lat(row.ours.p50_ms if row.ours else None),
                _lat(row.ours.p99_ms if row.ours else None),
                *peer_cells,
                f"{ratio:.2f}x" if ratio is not None else "-",
                row.target,
                row.result,
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    numeric = {1, 2, 3, 4, 5, 6, 7}

    def fmt(line: list[str]) -> str:
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        return " | ".join(cells).rstrip()

    out = [fmt(table[0]), "-+-".join("-" * w for w in widths)]
    out += [fmt(line) for line in table[1:]]
    return "\n".join(out)


def describe(r: WrkResult) -> str:
    parts = [f"{r.requests:,} requests in {r.elapsed_s:.1f} s"]
    if r.non_2xx:
        parts.append(f"{r.non_2xx:,} non-2xx")
    if r.socket_errors:
        parts.append("socket errors " + ", ".join(f"{k} {v}" for k, v in r.socket_errors.items()))
    if "active" in r.extra:
        parts.append(f"active:true {r.extra['active']:,}, otherwise {r.extra.get('inactive', 0):,}")
    if "sent" in r.extra:
        parts.append(f"{r.extra.get('tokens', 0):,} distinct tokens, {r.extra.get('wraps', 0)} extra pass(es)")
    if "ok" in r.extra:
        parts.append(f"{r.extra['ok']:,} answers as expected, {r.extra.get('failed', 0):,} of the wrong kind")
    return "; ".join(parts)


# --- the run -------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, duration: float, warmup: float, use_peer: bool, quiet_wait: float, only: str = "") -> None:
        self.only = only  # "" (everything), "flows" (6-9) or "passkeys" (9)
        self.duration = duration
        self.warmup = warmup
        self.quiet_wait = quiet_wait
        self.work = OUT_DIR / "run"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.scripts = self.work / "scripts"
        self.wrk_logs = self.work / "wrk"
        self.lid = LidServer(REPO, self.work)
        self.peer = Peer(REPO, self.work)
        if only:
            self.peer.unavailable = f"not used: BENCH_ONLY={only}"
        elif not use_peer:
            self.peer.unavailable = "skipped: BENCH_PEER=0"
        self.rows: list[Row] = []
        self.login_run: tuple[Row, Path, str, dict[str, str]] | None = None  # scenario 8, for scenario 10
        self.raw: list[WrkResult] = []

    # helpers

    def script(self, template: str, name: str, authorization: str) -> Path:
        return wrk.write_script(template, self.scripts / f"{name}.lua", authorization=authorization)

    def wrk_run(self, script: Path, url: str, label: str, duration: float, **kw: Any) -> WrkResult:
        result = wrk.run(script, url, label=label, duration=duration, log_dir=self.wrk_logs, **kw)
        self.raw.append(result)
        return result

    def wait_quiet(self) -> float | None:
        """Waits (up to BENCH_QUIET_WAIT s) until the machine is idle apart from us; the CPU % in use at the end.

        Our servers idle between runs, so CPU in use now is someone else's and would skew the next run."""
        deadline = time.monotonic() + self.quiet_wait
        told = False
        while True:
            busy = cpu_busy_percent(0.5)
            if busy is None or busy <= BUSY_PCT or time.monotonic() >= deadline:
                if told and busy is not None:
                    print(f"  (machine now {busy:.0f}% busy)", flush=True)
                return busy
            if not told:
                print(
                    f"  (machine {busy:.0f}% busy with other work: waiting up to {self.quiet_wait:.0f} s for it to be"
                    " quiet)",
                    flush=True,
                )
                told = True

    def measure(self, who: str, what: str, script: Path, url: str, **kw: Any) -> WrkResult:
        """A discarded warm-up run, then the measured one."""
        busy = self.wait_quiet()
        self.wrk_run(script, url, f"{who} {what} (warm-up)", self.warmup, **kw)
        result = self.wrk_run(script, url, f"{who} {what}", self.duration, **kw)
        result.busy_before_pct = busy
        flag = "  << errors" if _errors(result) else ""
        print(
            f"  {who:<5} {what}: {result.rps:,.0f} req/s, p50 {_lat(result.p50_ms)}, p99 {_lat(result.p99_ms)}"
            f"  [{describe(result)}]{flag}",
            flush=True,
        )
        return result

    def peer_up(self, fmt: str, workers: int) -> bool:
        ok = self.peer.start(fmt, workers)
        if not ok:
            print(f"  peer: unavailable ({self.peer.unavailable})", flush=True)
        return ok

    # scenarios

    def run(self) -> None:
        lid = self.lid
        print("ΛiD: preparing store and clients ...", flush=True)
        lid.setup()
        print(f"ΛiD: {lid.backend_note}", flush=True)
        lid.start()
        pids = lid.worker_pids()
        print(f"ΛiD: serving on {lid.base} (main pid {lid.proc.pid if lid.proc else '?'}, workers {pids})")
        if self.only == "flows":
            self.flows()
            return
        if self.only == "passkeys":
            self.passkey_signin()
            return
        assert lid.jwt is not None and lid.opaque is not None
        jwt_auth = wrk.basic_auth(lid.jwt.client_id, lid.jwt.client_secret)
        opaque_auth = wrk.basic_auth(lid.opaque.client_id, lid.opaque.client_secret)
        peer_auth = wrk.basic_auth(CLIENT_ID, CLIENT_SECRET)
        token_url = f"{lid.base}/oauth2/token"
        introspect_url = f"{lid.base}/oauth2/introspect"
        revoke_url = f"{lid.base}/oauth2/revoke"

        # 1. client_credentials, ES256 JWT
        print("\n[1] client_credentials, ES256 JWT access tokens (both sides 2 processes)", flush=True)
        row1 = Row("cc_jwt", "client_credentials ES256 JWT (2 proc)", target_ratio=1.5)
        row1.ours = self.measure("ΛiD", "token JWT", self.script("token_cc.lua", "lid_token_jwt", jwt_auth), token_url)
        if self.peer_up("jwt", 2):
            row1.peer = self.measure(
                "peer", "token JWT", self.script("token_cc.lua", "peer_token", peer_auth), self.peer.token_url
            )
        self.peer.stop()
        self.rows.append(row1)

        # 2. client_credentials, opaque
        print("\n[2] client_credentials, opaque access tokens (both sides 2 processes)", flush=True)
        row2 = Row("cc_opaque", "client_credentials opaque (2 proc)", target_ratio=1.0)
        row2.ours = self.measure(
            "ΛiD", "token opaque", self.script("token_cc.lua", "lid_token_opaque", opaque_auth), token_url
        )
        if self.peer_up("opaque", 2):
            row2.peer = self.measure(
                "peer", "token opaque", self.script("token_cc.lua", "peer_token", peer_auth), self.peer.token_url
            )
        self.peer.stop()
        self.rows.append(row2)

        # 3. introspection (ours: 2 workers; peer: 1 process) and 4. revocation, ours first, then the peer
        print("\n[3] introspection of one token (ΛiD 2 processes sharing Redis; peer 1 process)", flush=True)
        row3 = Row("introspect_opaque", "introspection, opaque (ΛiD 2 / peer 1 proc)", target_ratio=1.5)
        row3b = Row("introspect_jwt", "introspection, JWT (ΛiD 2 proc)", peer_note="(not measured)")
        tok = mint_token(token_url, opaque_auth)
        row3.ours = self.measure(
            "ΛiD",
            "introspect opaque",
            self.script("introspect.lua", "lid_introspect_opaque", opaque_auth),
            introspect_url,
            env={"TOKEN": tok},
        )
        tok = mint_token(token_url, jwt_auth)
        row3b.ours = self.measure(
            "ΛiD",
            "introspect JWT",
            self.script("introspect.lua", "lid_introspect_jwt", jwt_auth),
            introspect_url,
            env={"TOKEN": tok},
        )
        print("\n[4] revocation, a different opaque token per request (ΛiD 2 processes; peer 1 process)", flush=True)
        row4 = Row("revoke_opaque", "revocation, opaque (ΛiD 2 / peer 1 proc)")
        row4.ours = self.revocation("ΛiD", token_url, introspect_url, revoke_url, opaque_auth, row4)

        print("\n[3, 4] peer: introspection and revocation (1 process)", flush=True)
        if self.peer_up("opaque", 1):
            try:
                tok = mint_token(self.peer.token_url, peer_auth)
                row3.peer = self.measure(
                    "peer",
                    "introspect opaque",
                    self.script("introspect.lua", "peer_introspect", peer_auth),
                    self.peer.introspection_url,
                    env={"TOKEN": tok},
                )
                row4.peer = self.revocation(
                    "peer", self.peer.token_url, self.peer.introspection_url, self.peer.revocation_url, peer_auth, row4
                )
            except BenchError as exc:  # the peer misbehaving should not cost ΛiD's figures
                print(f"  peer: failed ({exc})", flush=True)
                row4.notes.append(f"peer failed: {exc}")
        self.peer.stop()
        self.rows += [row3, row3b, row4]

        # 5. p99 at the peer's peak rate
        self.paced(row1, token_url, jwt_auth)

        # 6-8. user-facing flows, ΛiD only
        self.flows()

        # 10. the same build with the observability and durability features off
        self.features_off(row1, jwt_auth, token_url)

        for row in self.rows:
            if row.peer is None and not row.peer_note:
                row.peer_note = "unavailable"

    def revocation(
        self, who: str, token_url: str, introspect_url: str, revoke_url: str, auth: str, row: Row
    ) -> WrkResult:
        """Mint tokens for (warm-up + run) x 1.25 s with wrk, check a sample is active, revoke them (warm-up on
        its own share of the list), check the sample is now inactive."""
        slug = "lid" if who == "ΛiD" else who
        out = self.work / f"tokens-{slug}.txt"
        mint_s = (self.warmup + self.duration) * 1.25
        minted = self.wrk_run(
            self.script("mint.lua", f"{slug}_mint", auth),
            token_url,
            f"{who} mint for revocation",
            mint_s,
            env={"BENCH_TOKENS_OUT": str(out)},
        )
        tokens = [t for t in out.read_text().splitlines() if t]
        if len(tokens) < 10 * wrk.THREADS + SAMPLE:
            raise BenchError(f"{who}: only {len(tokens)} tokens minted for the revocation run")
        n_warm = max(2 * wrk.THREADS, int(len(tokens) * self.warmup / (self.warmup + self.duration)))
        warm_file = self.work / f"{out.stem}-warmup.txt"
        run_file = self.work / f"{out.stem}-run.txt"
        warm_file.write_text("\n".join(tokens[:n_warm]) + "\n")
        run_tokens = tokens[n_warm:]
        run_file.write_text("\n".join(run_tokens) + "\n")
        # wrk calls request() once before the run to check the script (on the first thread's state), so the
        # first token of the first thread is never sent: the sample starts past each thread's first two.
        sample = run_tokens[2 * wrk.THREADS : 2 * wrk.THREADS + SAMPLE]
        before = count_active(introspect_url, auth, sample)
        script = self.script("revoke.lua", f"{slug}_revoke", auth)
        threads_env = {"BENCH_THREADS": str(wrk.THREADS)}
        busy = self.wait_quiet()
        self.wrk_run(
            script,
            revoke_url,
            f"{who} revoke (warm-up)",
            self.warmup,
            env={**threads_env, "BENCH_TOKENS": str(warm_file)},
        )
        result = self.wrk_run(
            script, revoke_url, f"{who} revoke", self.duration, env={**threads_env, "BENCH_TOKENS": str(run_file)}
        )
        result.busy_before_pct = busy
        after = count_active(introspect_url, auth, sample)
        note = (
            f"{who}: {len(tokens):,} tokens minted in {minted.elapsed_s:.0f} s"
            f" ({minted.extra.get('failed', 0)} failed); {n_warm:,} for the warm-up, {len(run_tokens):,} for the"
            f" run; of a sample of {len(sample)} sent early in the run, active before {before[0]}, after {after[0]}"
        )
        if result.extra.get("wraps", 0):
            note += (
                f"; the run went {result.extra['wraps']} time(s) past the end of its list (those requests revoke "
                "tokens already revoked)"
            )
        row.notes.append(note)
        if who == "peer" and before[0] < len(sample):
            row.notes.append(
                "peer: its store (oidc-provider's development MemoryAdapter, a two-generation LRU of 1,000 entries)"
                " keeps only the 1,000 to 2,000 tokens used last, so nearly every revocation it served was of a token"
                " it no longer knew (a lookup miss, answered 200): its figure is not of the same work as ΛiD's"
            )
        if after[0] or (who != "peer" and before[0] < len(sample)):
            result.extra["failed"] = result.extra.get("failed", 0) + (len(sample) - before[0]) + after[0]
            row.notes.append(f"{who}: revocation check failed (sample tokens not active before or still active after)")
        flag = "  << errors" if _errors(result) else ""
        print(
            f"  {who:<5} revoke opaque: {result.rps:,.0f} req/s, p50 {_lat(result.p50_ms)}, p99 {_lat(result.p99_ms)}"
            f"  [{describe(result)}; sample active before {before[0]}/{len(sample)}, after {after[0]}]{flag}",
            flush=True,
        )
        return result

    def paced(self, row1: Row, token_url: str, auth: str) -> None:
        """Scenario 5: offer the peer's peak JWT rate to ΛiD with paced connections; then 16 connections."""
        if row1.peer is not None and row1.peer.rps > 0 and not _errors(row1.peer):
            rate, source = row1.peer.rps, "the peer's peak in scenario 1 of this run"
        else:
            rate, source = PEER_README_JWT_RPS, "the peer's figure in shared/peers/README.md, not measured in this run"
        print(f"\n[5] ΛiD ES256 JWT at the peer's peak rate: {rate:,.0f} req/s ({source})", flush=True)
        row5 = Row("p99_at_peer_peak", "JWT p99 at peer's peak rate (ΛiD 2 proc)", target_p99_ms=P99_TARGET_MS)
        row5.target_rps = rate
        row5.compare = False
        script = self.script("token_paced.lua", "lid_token_paced", auth)
        conns = wrk.CONNECTIONS
        # Closed loop: each connection sends one request, waits for the answer, pauses, repeats. The pause
        # that gives `rate` is conns/rate minus the latency at that load; calibrate it in two short runs.
        pause_ms = 1000.0 * conns / rate
        busy = self.wait_quiet()
        for i in range(2):
            cal = self.wrk_run(
                script,
                token_url,
                f"ΛiD paced calibration {i + 1}",
                self.warmup,
                env={"BENCH_DELAY_MS": f"{pause_ms:.3f}"},
            )
            if cal.rps <= 0:
                break
            pause_ms = max(0.0, pause_ms + 1000.0 * conns * (1 / rate - 1 / cal.rps))
        result = self.wrk_run(
            script, token_url, "ΛiD paced at peer peak", self.duration, env={"BENCH_DELAY_MS": f"{pause_ms:.3f}"}
        )
        result.busy_before_pct = busy
        row5.ours = result
        row5.peer = row1.peer
        row5.peer_note = f"rate {rate:,.0f}/s (README)" if row1.peer is None else ""
        row5.notes.append(
            f"offered {rate:,.0f} req/s ({source}) with {conns} connections pausing {pause_ms:.2f} ms on average"
            f" between a response and the next request; achieved {result.rps:,.0f} req/s"
            f" ({result.rps / rate:.0%} of the offered rate); p99 {_lat(result.p99_ms)} is wrk's latency from"
            " write to response (closed loop, no coordinated-omission correction: wrk2 is not used)."
        )
        if row1.peer is not None:
            row5.notes.append("the peer columns repeat its own run of scenario 1, at its peak rate")
        print(
            f"  ΛiD   paced: {result.rps:,.0f} req/s (offered {rate:,.0f}), p50 {_lat(result.p50_ms)}, "
            f"p99 {_lat(result.p99_ms)}  [{describe(result)}]",
            flush=True,
        )
        self.rows.append(row5)

        row6 = Row("cc_jwt_16conn", "client_credentials JWT, 16 connections (ΛiD)", peer_note="(not measured)")
        row6.ours = self.measure(
            "ΛiD",
            "token JWT, 16 connections",
            self.script("token_cc.lua", "lid_token_jwt", auth),
            token_url,
            connections=16,
        )
        row6.notes.append("unpaced, 16 connections instead of 64: latency at a lower concurrency, for reference")
        self.rows.append(row6)

    # 6-8: ΛiD only (the peer's configuration in ../shared/peers/node-oidc-provider has client_credentials only)

    def flow_run(self, script: Path, url: str, label: str, duration: float, lines: Path, **env: str) -> WrkResult:
        """One wrk run of flows.lua over the prepared lines (one per request)."""
        full = {"BENCH_THREADS": str(wrk.THREADS), "BENCH_LINES": str(lines), **env}
        return self.wrk_run(script, url, label, duration, env=full)

    def report(self, what: str, result: WrkResult, extra: str = "") -> None:
        flag = "  << errors" if _errors(result) else ""
        print(
            f"  ΛiD   {what}: {result.rps:,.0f} req/s, p50 {_lat(result.p50_ms)}, p99 {_lat(result.p99_ms)}"
            f"  [{describe(result)}{extra}]{flag}",
            flush=True,
        )

    def flows(self) -> None:
        lid = self.lid
        rows = [
            Row("code_redeem", "authorization_code redemption (ΛiD 2 proc)", peer_note=PEER_NA),
            Row("refresh_rotate", "refresh_token rotation (ΛiD 2 proc)", peer_note=PEER_NA),
            Row("login_password", "sign-in, password verify (ΛiD 2 proc)", peer_note=PEER_NA),
        ]
        self.rows += rows
        row_code, row_refresh, row_login = rows
        db_url, redis_url = lid.database_url, lid.redis_url
        if db_url is None or redis_url is None:
            for row in rows:
                row.notes.append("not run: needs PostgreSQL + Redis (codes are minted into the shared store)")
            print("\n[6-8] skipped: the flows need PostgreSQL + Redis", flush=True)
            self.passkey_signin()
            return
        token_url, login_url = f"{lid.base}/oauth2/token", f"{lid.base}/login"
        print("\n[6-8] user-facing flows, ΛiD only (2 processes): preparing a client and users ...", flush=True)
        started = time.monotonic()
        client = lid.code_client(flows.REDIRECT_URI, " ".join(flows.CODE_SCOPE))
        auth = wrk.basic_auth(client.client_id, client.client_secret)
        password = "bench-" + os.urandom(12).hex()
        users = [f"bench-user-{i:02d}" for i in range(LOGIN_USERS)]
        user_lids = lid.create_users(users, password, parallel=LOGIN_USERS)
        print(f"  {len(users)} users and a code client created in {time.monotonic() - started:.1f} s", flush=True)
        script = self.script("flows.lua", "lid_flows_code_client", auth)

        # 6. authorization_code redemption: codes minted (service layer -> Redis) just before each run
        print("\n[6] authorization_code redemption, a fresh code + PKCE verifier per request", flush=True)
        run_s = min(self.duration, CODE_RUN_MAX_S)
        if run_s < self.duration:
            row_code.notes.append(f"run shortened to {run_s:.0f} s: codes expire 60 s after minting")
        busy = self.wait_quiet()
        refresh_files: list[Path] = []
        for phase, seconds in (("warm-up", self.warmup), ("run", run_s)):
            t0 = time.monotonic()
            pairs = flows.mint_codes(db_url, redis_url, client.client_id, user_lids, int(CODES_PER_S * seconds))
            mint_s = time.monotonic() - t0
            lines = flows.write_code_bodies(pairs, self.work / f"tokens-codes-{phase}.txt")
            refresh_out = self.work / f"tokens-refresh-{phase}.txt"
            refresh_files.append(refresh_out)
            label = "ΛiD code redemption" + (" (warm-up)" if phase == "warm-up" else "")
            result = self.flow_run(
                script,
                token_url,
                label,
                seconds,
                lines,
                BENCH_CAPTURE="refresh_token",
                BENCH_TOKENS_OUT=str(refresh_out),
            )
            if phase == "run":
                result.busy_before_pct = busy
                row_code.ours = result
                row_code.notes.append(
                    f"{len(pairs):,} codes minted in {mint_s:.1f} s through AuthorizationCodes.issue (not measured);"
                    " each request redeems one (client_secret_basic, PKCE S256, redirect_uri) and gets an ID token"
                    " (the client's default alg, RS256), an ES256 JWT access token and a refresh token"
                )
                if result.extra.get("wraps", 0):
                    row_code.notes.append(
                        "the run went past the end of its codes: those requests are replays (400), and each replay"
                        " revokes the tokens issued from that code, [7]'s starting refresh tokens among them"
                    )
                self.report("code redemption", result)

        # 7. refresh rotation: the refresh tokens of scenario 6's answers, each presented once
        print("\n[7] refresh_token rotation, a different refresh token per request (from [6]'s answers)", flush=True)
        warm_tokens, run_tokens = ([t for t in f.read_text().splitlines() if t] for f in refresh_files)
        if len(warm_tokens) < 4 * wrk.THREADS or len(run_tokens) < 4 * wrk.THREADS:
            row_refresh.notes.append("not run: scenario 6 gave too few refresh tokens")
        else:
            busy = self.wait_quiet()
            for phase, tokens, seconds in (("warm-up", warm_tokens, self.warmup), ("run", run_tokens, self.duration)):
                lines = flows.write_refresh_bodies(tokens, self.work / f"tokens-refresh-bodies-{phase}.txt")
                label = "ΛiD refresh rotation" + (" (warm-up)" if phase == "warm-up" else "")
                result = self.flow_run(
                    script,
                    token_url,
                    label,
                    seconds,
                    lines,
                    BENCH_CAPTURE="refresh_token",
                    BENCH_TOKENS_OUT=str(self.work / f"tokens-refresh2-{phase}.txt"),
                    BENCH_CHAIN="grant_type=refresh_token&refresh_token=",
                )
            result.busy_before_pct = busy
            row_refresh.ours = result
            row_refresh.notes.append(
                f"{len(run_tokens):,} refresh tokens from [6]'s measured run to start from; each successor received"
                " is presented next (a client rotating its own token), so every token is presented once (strict"
                " rotation: a second use would revoke the family and answer 400); each request rotates the token"
                f" and issues a new access token and ID token; {result.extra.get('chained', 0):,} requests"
                " presented a successor"
            )
            if result.extra.get("wraps", 0):
                row_refresh.notes.append(
                    f"the run went {result.extra['wraps']} time(s) past the end of its list: those requests reuse"
                    " rotated tokens (answered 400, counted as errors)"
                )
            self.report("refresh rotation", result)

        # 8. sign-in: POST /login with a valid pre-session cookie + CSRF token and the right password
        print(f"\n[8] sign-in (POST /login, argon2id verify), {len(users)} users in turn", flush=True)
        forms = [flows.login_form(login_url) for _ in range(LOGIN_FORMS)]
        lines = flows.write_login_lines(forms, users, password, self.work / "tokens-login.txt")
        alone = flows.time_logins(login_url, lines, 9)
        print(f"  one sign-in at a time: median {alone:.1f} ms over 9", flush=True)
        login_script = self.script("flows.lua", "lid_flows_login", "")
        busy = self.wait_quiet()
        env = {"BENCH_THREADS": str(wrk.THREADS), "BENCH_LINES": str(lines), "BENCH_HEADER": "Cookie"}
        env["BENCH_EXPECT"] = "303"
        # a timeout above the latency of 64 queued verifications, so that slow answers are measured, not dropped
        self.wrk_run(login_script, login_url, "ΛiD sign-in (warm-up)", self.warmup, env=env, timeout_s=10)
        result = self.wrk_run(login_script, login_url, "ΛiD sign-in", self.duration, env=env, timeout_s=10)
        result.busy_before_pct = busy
        row_login.ours = result
        self.login_run = (row_login, login_script, login_url, env)
        row_login.notes.append(
            f"{LOGIN_FORMS} (pre-session cookie, CSRF token) pairs from GET /login, reused (the token is an HMAC of"
            f" the cookie: nothing is consumed); {len(users)} users; a 303 is a success (session created in"
            f" Redis); argon2id verify in a thread per request; one sign-in at a time (9 sequential requests,"
            f" median): {alone:.1f} ms"
        )
        self.report("sign-in", result)

        # 9. passkey sign-in, with scenario 8's users
        self.passkey_signin(users, password)

    # 10: ΛiD with its issue-11 features off, against the same build with them on (rows 1 and 8)

    def features_off(self, row1: Row, jwt_auth: str, token_url: str) -> None:
        """Restart ΛiD with FEATURES_OFF and measure client_credentials JWT (and the password sign-in when the
        flows ran) again: the 'peer' columns of these rows are the features-off run of the same build."""
        lid = self.lid
        print(f"\n[10] the same build with {', '.join(FEATURES_OFF)} off: JWT and sign-in again", flush=True)
        row_jwt = Row("cc_jwt_features", "cc JWT: features on / off", target_ratio=FEATURES_RATIO)
        row_jwt.ours = row1.ours
        rows = [row_jwt]
        row_login: Row | None = None
        if self.login_run is not None:
            row_login = Row("login_features", "sign-in: audit+events on / off")
            row_login.ours = self.login_run[0].ours
            rows.append(row_login)
        lid.stop()
        saved = dict(lid.env)
        lid.env.update({name: "false" for name in FEATURES_OFF})
        try:
            lid.start()
            script = self.script("token_cc.lua", "lid_token_jwt_off", jwt_auth)
            row_jwt.peer = self.measure("ΛiD", "token JWT, features off", script, token_url)
            if row_login is not None and self.login_run is not None:
                _, login_script, login_url, env = self.login_run
                busy = self.wait_quiet()
                self.wrk_run(login_script, login_url, "ΛiD sign-in, off (warm-up)", self.warmup, env=env, timeout_s=10)
                result = self.wrk_run(login_script, login_url, "ΛiD sign-in, off", self.duration, env=env, timeout_s=10)
                result.busy_before_pct = busy
                row_login.peer = result
                self.report("sign-in, features off", result)
        finally:
            lid.stop()
            lid.env = saved
        for row in rows:
            row.notes.append(
                "peer columns: the same ΛiD build restarted with "
                + ", ".join(f"{n}=false" for n in FEATURES_OFF)
                + " (metrics stay on: multiprocess metrics are part of serve); the ratio is on / off"
            )
        self.rows += rows

    # 9: ΛiD only (the peer's configuration has no WebAuthn)

    def passkey_signin(self, users: list[str] | None = None, password: str | None = None) -> None:
        """Scenario 9: passkey sign-in ceremonies, one at a time (the target), then PASSKEY_CLIENTS at once.
        `users`/`password`: CLI-made users to reuse (scenario 8's); else PASSKEY_CLIENTS are made here."""
        lid = self.lid
        title = "passkey sign-in ceremony"
        row_seq = Row(
            "passkey_signin",
            f"{title}, one at a time (ΛiD 2 proc)",
            peer_note=PEER_NA,
            target_p95_ms=PASSKEY_P95_TARGET_MS,
        )
        row_conc = Row(
            "passkey_signin_concurrent", f"passkey sign-ins, {PASSKEY_CLIENTS} clients (ΛiD 2 proc)", peer_note=PEER_NA
        )
        rows = [row_seq, row_conc]
        self.rows += rows
        if lid.database_url is None or lid.redis_url is None:
            for row in rows:
                row.notes.append("not run: measured with the production store, PostgreSQL + Redis (unreachable)")
            print("\n[9] skipped: the passkey scenario is measured with PostgreSQL + Redis", flush=True)
            return
        try:
            self._passkey_signin(row_seq, row_conc, users or [], password)
        except BenchError as exc:  # ΛiD failing here is an error of this scenario, not of the whole run
            for row in rows:
                if row.ours is None:
                    row.error = str(exc)
                    row.notes.append(f"failed: {exc}")
            print(f"  ΛiD   passkey sign-in failed: {exc}  << errors", flush=True)

    def _passkey_signin(self, row_seq: Row, row_conc: Row, users: list[str], password: str | None) -> None:
        lid = self.lid
        print(
            f"\n[9] passkey sign-in (WebAuthn, discoverable: authenticate/begin + complete), ΛiD only: registering"
            f" {PASSKEY_CLIENTS} passkeys ...",
            flush=True,
        )
        started = time.monotonic()
        if password is None or len(users) < PASSKEY_CLIENTS:
            password = "bench-" + os.urandom(12).hex()
            users = [f"bench-passkey-{i:02d}" for i in range(PASSKEY_CLIENTS)]
            lid.create_users(users, password, parallel=PASSKEY_CLIENTS)
        signers = [passkeys.enrol(lid.base, user, password) for user in users[:PASSKEY_CLIENTS]]
        first = signers[0]
        print(
            f"  {len(signers)} passkeys registered in {time.monotonic() - started:.1f} s (origin"
            f" {first.browser.origin}, rp id {first.rp_id})",
            flush=True,
        )
        url = f"{lid.base}/webauthn/authenticate/{{begin,complete}}"
        pids = ([lid.proc.pid] if lid.proc else []) + lid.worker_pids()
        how = (
            "two figures per ceremony: server-side time = the Server-Timing app durations of the begin and complete"
            " answers, summed (from the request's arrival in the ASGI application to the start of its answer; the"
            " target applies to this one), and the client's wall time = the begin request's time + the complete"
            " request's, each around one request on a kept-alive loopback connection (server time + HTTP"
            " parsing + loopback + the client's own work); the authenticator's signing in between (the pre-made"
            " assertion) is in neither; every ceremony presents the same"
            " pre-session cookie + CSRF token and drops the session and pre-session cookies complete sets (a"
            " signed-out browser each time: no previous session to end); from the 33rd sign-in of a user on, each"
            " also evicts the user's oldest session (MAX_SESSIONS_PER_USER); the req/s column is ceremonies/s"
            " (2 requests each), the authenticator's signing included"
        )

        # one at a time: the latency figure (and the target)
        budget = self.duration * PASSKEY_BUDGET
        busy = self.wait_quiet()
        passkeys.warm_up([first], PASSKEY_WARMUP)
        floor = passkeys.floor_ms(first.browser)
        cpu0 = passkeys.cpu_seconds(pids)
        seq = passkeys.sequential(first, url, PASSKEY_MAX, PASSKEY_MIN, budget)
        cpu = self._cpu_ms(pids, cpu0, seq)
        seq.busy_before_pct = busy
        self.raw.append(seq)
        row_seq.ours = seq
        row_seq.notes.append(
            f"{seq.requests:,} ceremonies one after another (after {PASSKEY_WARMUP} discarded), at most"
            f" {PASSKEY_MAX:,} or {budget:.0f} s; one user, one passkey (ES256, attestation none, user verified);"
            f" {how}; server-side p50 {_lat(seq.server_p50_ms)}, p95 {_lat(seq.server_p95_ms)}, p99"
            f" {_lat(seq.server_p99_ms)}; client wall time p50 {_lat(seq.p50_ms)}, p95 {_lat(seq.p95_ms)}, p99"
            f" {_lat(seq.p99_ms)}, max {_lat(seq.max_ms)}; of which begin p50 {_lat(seq.begin_p50_ms)}, complete"
            f" p50 {_lat(seq.complete_p50_ms)}{cpu}"
        )
        if floor is not None:
            seq.extra["healthz_p50_us"] = round(1000 * floor)
            row_seq.notes.append(
                f"for scale: GET /healthz on the same connection just before, p50 {_lat(floor)} (the client, loopback"
                " and the server's HTTP stack: a ceremony is two requests)"
            )
        self.report_ceremonies("one at a time", seq, cpu + (f"; GET /healthz p50 {_lat(floor)}" if floor else ""))

        # several clients at once: ceremonies per second (no target)
        passkeys.warm_up(signers[1:], 5)
        busy = self.wait_quiet()
        warm = passkeys.concurrent(signers, url, self.warmup)
        warm.label += " (warm-up)"
        self.raw.append(warm)
        cpu0 = passkeys.cpu_seconds(pids)
        conc = passkeys.concurrent(signers, url, self.duration)
        cpu = self._cpu_ms(pids, cpu0, conc)
        conc.busy_before_pct = busy
        self.raw.append(conc)
        row_conc.ours = conc
        row_conc.notes.append(
            f"{PASSKEY_CLIENTS} clients (threads of the benchmark process, each with its own user, passkey, cookies"
            f" and connection), each running ceremonies back to back for {self.duration:.0f} s after a"
            f" {self.warmup:.0f} s warm-up; {how}; the clients share the machine's CPUs with the server;"
            f" server-side p50 {_lat(conc.server_p50_ms)}, p95 {_lat(conc.server_p95_ms)}; client wall time"
            f" p50 {_lat(conc.p50_ms)}, p95 {_lat(conc.p95_ms)}, p99 {_lat(conc.p99_ms)}{cpu}"
        )
        self.report_ceremonies(f"{PASSKEY_CLIENTS} clients", conc, cpu)

    @staticmethod
    def _cpu_ms(pids: list[int], cpu0: float | None, result: passkeys.CeremonyResult) -> str:
        """ "; ΛiD CPU x ms per ceremony" (its processes' user + system time over the run), or ""."""
        cpu1 = passkeys.cpu_seconds(pids)
        if cpu0 is None or cpu1 is None or not result.requests:
            return ""
        per = 1000 * (cpu1 - cpu0) / result.requests
        result.extra["lid_cpu_us_per_ceremony"] = round(1000 * per)
        return f"; ΛiD's processes used {per:.2f} ms of CPU per ceremony (not counting PostgreSQL and Redis)"

    def report_ceremonies(self, what: str, r: passkeys.CeremonyResult, extra: str) -> None:
        flag = "  << errors" if _errors(r) else ""
        failed = r.extra.get("failed", 0)
        print(
            f"  ΛiD   passkey sign-in, {what}: {r.rps:,.1f} ceremonies/s; server-side p50 {_lat(r.server_p50_ms)},"
            f" p95 {_lat(r.server_p95_ms)}, p99 {_lat(r.server_p99_ms)}; client wall time p50 {_lat(r.p50_ms)},"
            f" p95 {_lat(r.p95_ms)}, p99 {_lat(r.p99_ms)}, max {_lat(r.max_ms)}  [{r.requests:,} ceremonies in"
            f" {r.elapsed_s:.1f} s,"
            f" {failed:,} failed; begin p50 {_lat(r.begin_p50_ms)}, complete p50 {_lat(r.complete_p50_ms)}"
            f"{extra}]{flag}",
            flush=True,
        )
        if failed and r.output:
            print("  " + r.output.replace("\n", "\n    "), flush=True)

    def close(self) -> None:
        self.peer.stop()
        self.lid.close()
        for tokens in self.work.glob("tokens-*.txt"):  # bearer tokens of a schema that is gone: megabytes
            tokens.unlink(missing_ok=True)


def main() -> int:
    if os.environ.get("BENCH_ONLY", "").strip().lower() == "events":
        from bench import events

        return events.main()
    started = time.monotonic()
    install_signal_handlers()
    try:
        duration = _env_float("BENCH_DURATION", 10.0, 1.0)
        warmup = _env_float("BENCH_WARMUP", 2.0, 1.0)
        quiet_wait = _env_float("BENCH_QUIET_WAIT", 30.0, 0.0)
        wrk.ensure_wrk()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    use_peer = os.environ.get("BENCH_PEER", "1") not in ("0", "no", "false")
    when = dt.datetime.now(dt.UTC)
    machine = machine_info()
    source = source_info()
    print(
        f"ΛiD benchmark, {when:%Y-%m-%d %H:%M} UTC: {machine['nproc']} CPUs ({machine['cpu']}), Python "
        f"{machine['python']}, node {machine['node']}, {machine['wrk']}; everything on this machine over loopback"
    )
    print(
        f"wrk: {wrk.CONNECTIONS} connections, {wrk.THREADS} threads, {duration:.0f} s per run after a "
        f"{warmup:.0f} s warm-up that is discarded; ΛiD source {source}",
        flush=True,
    )
    busy_pct = cpu_busy_percent()
    busy = busy_pct is not None and busy_pct > 20
    if busy:
        print(
            f"WARNING: the machine is busy ({busy_pct:.0f}% of its CPU time in use just before the run): both sides"
            " share the CPUs with whatever else runs, so the figures will be lower and noisier",
            flush=True,
        )
    only = os.environ.get("BENCH_ONLY", "").strip().lower()
    if only and only not in ONLY:
        print(f"error: BENCH_ONLY must be one of {', '.join(ONLY)}, got {only!r}", file=sys.stderr)
        return 1
    bench = Bench(duration, warmup, use_peer, quiet_wait, only)
    if bench.peer.unavailable:
        print(f"peer: unavailable ({bench.peer.unavailable}); ΛiD's figures only", flush=True)
    status = 0
    try:
        bench.run()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 1
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"\ninterrupted ({type(exc).__name__}): stopping servers", file=sys.stderr)
        status = 130
    finally:
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            bench.close()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
    if status:
        return status

    elapsed = time.monotonic() - started
    print("\n" + render(bench.rows))
    print("\nNotes:")
    if bench.peer.unavailable:
        print(f"- peer: unavailable ({bench.peer.unavailable})")
    print(f"- ΛiD store: {bench.lid.backend_note}")
    if busy:
        print(f"- the machine was busy just before the run ({busy_pct:.0f}% CPU in use): figures are noisier")
    for row in bench.rows:
        for r, who in ((row.ours, "ΛiD"), (row.peer if row.compare else None, "peer")):
            if r is not None and _errors(r):
                print(f"- {row.title}: {who} had errors: {describe(r)}")
            if r is not None and r.busy_before_pct is not None and r.busy_before_pct > BUSY_PCT:
                print(f"- {row.title}: {who}'s run started with the machine {r.busy_before_pct:.0f}% busy (noisy)")
        for note in row.notes:
            print(f"- {row.title}: {note}")
    print("- ratio = ΛiD req/s / peer req/s; '!' after a result: a side had errors (see above)")
    print(f"- whole run {elapsed:.0f} s; raw results in {(OUT_DIR / 'results.json').relative_to(REPO)}")

    results = {
        "date": when.isoformat(timespec="seconds"),
        "command": "make bench",
        "machine": machine,
        "source": source,
        "config": {
            "duration_s": duration,
            "warmup_s": warmup,
            "connections": wrk.CONNECTIONS,
            "threads": wrk.THREADS,
            "quiet_wait_s": quiet_wait,
            "only": only or None,
            "lid_workers": bench.lid.workers,
            "lid_store": bench.lid.backend,
            "lid_store_note": bench.lid.backend_note,
            "peer": bench.peer.unavailable or "node-oidc-provider via shared/peers/node-oidc-provider/run.sh",
        },
        "elapsed_s": round(elapsed, 1),
        "cpu_busy_before_pct": busy_pct,
        "rows": [row.as_dict() for row in bench.rows],
        "runs": [r.as_dict() for r in bench.raw],
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    strict = os.environ.get("BENCH_STRICT", "") not in ("", "0")
    if strict and any(row.result.startswith(("MISS", "ERR")) for row in bench.rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
