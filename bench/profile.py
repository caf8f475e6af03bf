"""Profile ΛiD's workers under the bench load: `python -m bench.profile [SCENARIO ...]`.

Starts ΛiD as `make bench` does (2 workers, PostgreSQL + Redis when reachable), drives one scenario with wrk
(64 connections) and samples every worker with py-spy (`pip install py-spy` into the venv first) for the
same time, then prints the functions with the most samples of their own (own time) and the lukhas_id
functions with the most samples in total (own + callees). Scenarios: token_jwt (default), token_opaque,
introspect_opaque, introspect_jwt, revoke_opaque, passkey (one passkey sign-in ceremony after another, as
scenario 9 of `make bench` runs them, instead of wrk). Env: BENCH_DURATION (seconds per scenario, default 10),
PROFILE_RATE (samples/s, default 250). Raw collapsed stacks go to .cache/bench/profile/.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import passkeys, wrk
from bench.http import mint_token
from bench.lid import LidServer
from bench.procs import BenchError, Interrupted, install_signal_handlers

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".cache" / "bench" / "profile"
SCENARIOS = ("token_jwt", "token_opaque", "introspect_opaque", "introspect_jwt", "revoke_opaque", "passkey")
TOP = 25


def _py_spy() -> str:
    for candidate in (Path(sys.executable).parent / "py-spy", shutil.which("py-spy")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise BenchError("py-spy is not installed: `.venv/bin/pip install py-spy`")


def _frame_name(frame: str) -> str:
    """py-spy raw frames look like `function (path/to/module.py:123)`: keep the function and a short path."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def summarize(stack_files: list[Path]) -> str:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = frameless = 0
    for path in stack_files:
        for line in path.read_text().splitlines():
            stack, _, count_s = line.rpartition(" ")
            if not count_s.isdigit():
                continue
            count = int(count_s)
            frames = [_frame_name(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
            if not frames:  # a thread (granian's own) sampled outside any Python frame
                frameless += count
                continue
            samples += count
            own[frames[-1]] += count
            for name in set(frames):
                total[name] += count
    if not samples:
        return "no samples (is ptrace allowed? py-spy needs it)"
    lines = [
        f"{samples:,} samples with Python frames over the workers (percentages below are of these; {frameless:,}"
        " samples of threads outside any Python frame are left out)",
        "",
        "own time (samples in the function itself):",
    ]
    for name, count in own.most_common(TOP):
        lines.append(f"  {100 * count / samples:5.1f}%  {name}")
    lines += ["", "total time, lukhas_id and starlette functions (samples with the function on the stack):"]
    shown = 0
    for name, count in total.most_common():
        if "lukhas_id/" in name or "starlette/" in name:
            lines.append(f"  {100 * count / samples:5.1f}%  {name}")
            shown += 1
            if shown >= TOP:
                break
    return "\n".join(lines)


Spies = list[subprocess.Popen[bytes]]


def _spy(lid: LidServer, scenario: str, duration: float, rate: int, work: Path) -> tuple[Spies, list[Path]]:
    """py-spy recording every worker for `duration` seconds, and the files it writes."""
    spies = []
    files = []
    for pid in lid.worker_pids():
        out = work / f"{scenario}-{pid}.txt"
        files.append(out)
        spies.append(
            subprocess.Popen(
                [_py_spy(), "record", "--pid", str(pid), "--rate", str(rate), "--duration", str(round(duration))]
                + ["--format", "raw", "--output", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    time.sleep(0.5)
    return spies, files


def _stop(spies: Spies, duration: float) -> None:
    for spy in spies:
        try:
            spy.wait(duration + 30)
        except subprocess.TimeoutExpired:
            spy.send_signal(signal.SIGINT)
            spy.wait(10)


def profile_passkeys(lid: LidServer, duration: float, rate: int, work: Path) -> str:
    """Passkey sign-in ceremonies one after another (bench/passkeys.py) for `duration` seconds."""
    password = "bench-passkey-" + os.urandom(6).hex()
    user = "pk-profile-" + os.urandom(3).hex()
    lid.create_users([user], password, parallel=1)
    signer = passkeys.enrol(lid.base, user, password)
    passkeys.warm_up([signer], 50)
    spies, files = _spy(lid, "passkey", duration, rate, work)
    count = failed = 0
    try:
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            outcome = passkeys.ceremony(signer)
            count += 1
            failed += isinstance(outcome, str)
    finally:
        _stop(spies, duration)
    head = f"== passkey: {count:,} ceremonies ({failed} failed) under py-spy ({rate}/s per worker)"
    return head + "\n" + summarize([f for f in files if f.exists()])


def profile(lid: LidServer, scenario: str, duration: float, rate: int, work: Path) -> str:
    if scenario == "passkey":
        return profile_passkeys(lid, duration, rate, work)
    assert lid.jwt is not None and lid.opaque is not None
    client = lid.opaque if scenario.endswith("opaque") else lid.jwt
    auth = wrk.basic_auth(client.client_id, client.client_secret)
    env: dict[str, str] = {}
    if scenario.startswith("token"):
        script, url = "token_cc.lua", f"{lid.base}/oauth2/token"
    elif scenario.startswith("introspect"):
        script, url = "introspect.lua", f"{lid.base}/oauth2/introspect"
        env["TOKEN"] = mint_token(f"{lid.base}/oauth2/token", auth)
    else:
        tokens = work / "tokens.txt"
        wrk.run(
            wrk.write_script("mint.lua", work / "mint.lua", authorization=auth),
            f"{lid.base}/oauth2/token",
            label="mint",
            duration=duration * 1.3,
            env={"BENCH_TOKENS_OUT": str(tokens)},
        )
        script, url = "revoke.lua", f"{lid.base}/oauth2/revoke"
        env.update({"BENCH_TOKENS": str(tokens), "BENCH_THREADS": str(wrk.THREADS)})
    lua = wrk.write_script(script, work / f"{scenario}.lua", authorization=auth)
    wrk.run(lua, url, label=f"{scenario} warm-up", duration=2, env=env)
    spies, files = _spy(lid, scenario, duration, rate, work)
    try:
        result = wrk.run(lua, url, label=scenario, duration=duration, env=env)
    finally:
        _stop(spies, duration)
    head = (
        f"== {scenario}: {result.rps:,.0f} req/s, p50 {result.p50_ms} ms, p99 {result.p99_ms} ms under py-spy"
        f" ({rate}/s per worker; sampling slows the server)"
    )
    return head + "\n" + summarize([f for f in files if f.exists()])


def main(argv: list[str]) -> int:
    install_signal_handlers()
    scenarios = argv or ["token_jwt"]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        print(f"error: unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    duration = float(os.environ.get("BENCH_DURATION", "10"))
    rate = int(os.environ.get("PROFILE_RATE", "250"))
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    lid = LidServer(REPO, OUT)
    try:
        _py_spy()
        wrk.ensure_wrk()
        lid.setup()
        print(f"ΛiD: {lid.backend_note}", flush=True)
        lid.start()
        for scenario in scenarios:
            report = profile(lid, scenario, duration, rate, OUT)
            (OUT / f"{scenario}-summary.txt").write_text(report + "\n")
            print(report + "\n", flush=True)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted):
        print("interrupted: stopping ΛiD", file=sys.stderr)
        return 130
    finally:
        lid.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
