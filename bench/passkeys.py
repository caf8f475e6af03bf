"""Scenario 9 (ΛiD only): the server-side time of a complete passkey (WebAuthn) sign-in ceremony.

Setup (not measured), per signer: GET /login (pre-session cookie + CSRF token), POST /login with a CLI-made
user's password (a session), GET /login again (the CSRF token of the pre-session cookie the sign-in set),
register one passkey (POST {base}/webauthn/register/begin + /complete) with the software authenticator of
tests/support/authenticator.py (origin: the server's public origin, rp id: the one the server's options
name), then drop the session cookie: the browser is signed out.

A ceremony: POST /webauthn/authenticate/begin `{}` (discoverable: no username), the authenticator signs an
assertion over the returned challenge (client work, not timed: the "pre-made assertion"; its counter goes
up by one each time, as a real authenticator's does), POST /webauthn/authenticate/complete with the
credential JSON. Its figure is the wall time of the begin request plus that of the complete request, each
taken around one HTTP request on a kept-alive loopback connection (write, server, read of the whole
answer): the server's time plus loopback, without the client's signing in between.

Cookies: every ceremony presents the same pre-session cookie and CSRF token (the token is an HMAC of the
cookie: the server checks the pair, stores nothing for it, and binds the ceremony state to the cookie's
id, which begin writes and complete consumes). complete answers with a session cookie and a new
pre-session cookie; both are ignored, so each ceremony starts from a signed-out browser (no previous
session to end), as a sign-in usually does. The sessions made stay in the store: the user's index keeps the
newest MAX_SESSIONS_PER_USER (32), so from the 33rd sign-in on each one also evicts its oldest session
(a read-modify-write of the index plus one delete, part of the measured work).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.procs import BenchError
from bench.wrk import WrkResult

if TYPE_CHECKING:
    from tests.support.authenticator import SoftAuthenticator

USER_AGENT = "lid-bench/passkeys"
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
PRE_COOKIE = "lid_pre"
SESSION_COOKIE = "lid_session"
_CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"|value="([^"]+)"\s+name="csrf_token"')
_RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass
class CeremonyResult(WrkResult):
    """Ceremonies timed by us (not wrk): `requests` counts ceremonies, `rps` ceremonies per second, the
    latencies are per ceremony (begin + complete), and `non_2xx` counts failed ceremonies."""

    p95_ms: float | None = None
    # Server-side time per ceremony: the two answers' Server-Timing app durations, summed.
    server_p50_ms: float | None = None
    server_p95_ms: float | None = None
    server_p99_ms: float | None = None
    begin_p50_ms: float | None = None
    complete_p50_ms: float | None = None
    clients: int = 1


@dataclass
class Answer:
    status: int
    body: bytes
    elapsed_ms: float
    set_cookies: dict[str, str]
    server_ms: float | None = None  # Server-Timing: app;dur=...


class Browser:
    """One browser over one kept-alive HTTP/1.1 connection: its cookies by name (no path/expiry logic; the
    server sets only Path=/ cookies on one host)."""

    def __init__(self, base: str, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(base)
        if parts.scheme != "http" or parts.hostname is None:
            raise BenchError(f"the passkey scenario needs an http:// base URL, got {base!r}")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.timeout = timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self.cookies: dict[str, str] = {}

    def reconnect(self) -> None:
        """A fresh connection (opened by the next request), e.g. after a long pause between phases."""
        self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def close(self) -> None:
        self.conn.close()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        keep_cookies: bool = True,
    ) -> Answer:
        """One request; the time from the first byte written to the last byte of the answer read."""
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            sent["Origin"] = self.origin  # as a browser's fetch() POST sends it
        url = self.prefix + path
        for attempt in (0, 1):
            t0 = time.perf_counter()
            try:
                self.conn.request(method, url, body=body, headers=sent)
                resp = self.conn.getresponse()
                data = resp.read()
            except _RETRYABLE:
                # The server closed an idle kept-alive connection: once more on a new one.
                self.reconnect()
                if attempt:
                    raise
                continue
            elapsed = (time.perf_counter() - t0) * 1000
            break
        set_cookies: dict[str, str] = {}
        for header in resp.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            set_cookies[name.strip()] = rest.split(";", 1)[0].strip()
        if keep_cookies:
            for name, value in set_cookies.items():
                if value:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
        return Answer(resp.status, data, elapsed, set_cookies, _server_ms(resp.getheader("Server-Timing")))

    def post_json(self, path: str, payload: Any, csrf: str, *, keep_cookies: bool = True) -> Answer:
        body = json.dumps(payload).encode()
        return self.request(
            "POST", path, body, {"Content-Type": JSON_TYPE, "X-CSRF-Token": csrf}, keep_cookies=keep_cookies
        )

    def csrf_token(self) -> str:
        """GET /login: the CSRF token of this browser's pre-session cookie (set by the page when missing)."""
        page = self.request("GET", "/login")
        m = _CSRF.search(page.body.decode(errors="replace"))
        if page.status != 200 or m is None or PRE_COOKIE not in self.cookies:
            raise BenchError(f"GET /login answered {page.status} without a {PRE_COOKIE} cookie or a csrf_token field")
        return m.group(1) or m.group(2)


def _json(answer: Answer, what: str, status: int) -> dict[str, Any]:
    if answer.status != status:
        raise BenchError(f"{what}: {answer.status} {answer.body[:300].decode(errors='replace')}")
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise BenchError(f"{what}: the answer is not JSON") from None
    if not isinstance(data, dict):
        raise BenchError(f"{what}: the answer is not a JSON object")
    return data


@dataclass
class Signer:
    """A signed-out browser whose authenticator holds one passkey registered to `username`."""

    username: str
    browser: Browser
    authenticator: SoftAuthenticator
    csrf: str
    rp_id: str


def enrol(base: str, username: str, password: str) -> Signer:
    """Sign in with the password, register a passkey, sign out (drop the session cookie). Not measured."""
    from tests.support.authenticator import SoftAuthenticator  # the tests' software authenticator

    browser = Browser(base)
    token = browser.csrf_token()
    form = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": password}).encode()
    signed_in = browser.request("POST", "/login", form, {"Content-Type": FORM_TYPE})
    if signed_in.status != 303 or SESSION_COOKIE not in browser.cookies:
        raise BenchError(f"password sign-in of {username}: {signed_in.status}, not 303 with a session cookie")
    token = browser.csrf_token()  # the sign-in replaced the pre-session cookie
    begin = _json(browser.post_json("/webauthn/register/begin", {}, token), "passkey register/begin", 200)
    rp = begin.get("publicKey", {}).get("rp", {})
    rp_id = rp.get("id") or browser.host
    authenticator = SoftAuthenticator(origin=browser.origin, rp_id=rp_id)
    credential = authenticator.register(begin)
    _json(
        browser.post_json("/webauthn/register/complete", {**credential, "name": "bench"}, token),
        "passkey register/complete",
        201,
    )
    del browser.cookies[SESSION_COOKIE]  # signed out: the session stays in the store, unused, until it idles out
    return Signer(username, browser, authenticator, token, rp_id)


def _server_ms(header: str | None) -> float | None:
    """The `app;dur=` of a Server-Timing header (ms), None when absent or malformed."""
    for metric in (header or "").split(","):
        name, _, params = metric.strip().partition(";")
        if name == "app" and params.startswith("dur="):
            try:
                return float(params[4:])
            except ValueError:
                return None
    return None


def ceremony(signer: Signer) -> tuple[float, float, float | None] | str:
    """One discoverable sign-in: (begin ms, complete ms, server-side ms of both), or why it failed (the
    answer's status and error)."""
    browser = signer.browser
    begin = browser.post_json("/webauthn/authenticate/begin", {}, signer.csrf, keep_cookies=False)
    if begin.status != 200:
        return f"begin {begin.status} {begin.body[:200].decode(errors='replace')}"
    options = json.loads(begin.body)
    # The client's part, outside the figure: the authenticator signs (counter + 1), the JSON is made.
    body = json.dumps(signer.authenticator.assertion(options)).encode()
    headers = {"Content-Type": JSON_TYPE, "X-CSRF-Token": signer.csrf}
    done = browser.request("POST", "/webauthn/authenticate/complete", body, headers, keep_cookies=False)
    if done.status != 200 or SESSION_COOKIE not in done.set_cookies:
        return f"complete {done.status} {done.body[:200].decode(errors='replace')}"
    server = None if begin.server_ms is None or done.server_ms is None else begin.server_ms + done.server_ms
    return begin.elapsed_ms, done.elapsed_ms, server


def _attempt(signer: Signer) -> tuple[float, float, float | None] | str:
    """A ceremony; a broken connection is a failure (and the next one starts on a new connection)."""
    try:
        return ceremony(signer)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        signer.browser.reconnect()
        return f"{type(exc).__name__}: {exc}"


def cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU time of these processes so far (Linux /proc), None when unreadable."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    except (OSError, ValueError, IndexError):
        return None
    return total / tick


def _percentile(sorted_ms: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return None
    rank = max(1, min(len(sorted_ms), int(-(-pct * len(sorted_ms) // 100))))
    return sorted_ms[rank - 1]


@dataclass
class _Tally:
    begin_ms: list[float] = field(default_factory=list)
    complete_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, outcome: tuple[float, float, float | None] | str) -> None:
        if isinstance(outcome, str):
            self.failures.append(outcome)
        else:
            self.begin_ms.append(outcome[0])
            self.complete_ms.append(outcome[1])
            if outcome[2] is not None:
                self.server_ms.append(outcome[2])


def _result(label: str, url: str, tallies: list[_Tally], elapsed_s: float, budget_s: float) -> CeremonyResult:
    begin = [t for tally in tallies for t in tally.begin_ms]
    complete = [t for tally in tallies for t in tally.complete_ms]
    totals = sorted(b + c for tally in tallies for b, c in zip(tally.begin_ms, tally.complete_ms, strict=True))
    failures = [f for tally in tallies for f in tally.failures]
    server = sorted(t for tally in tallies for t in tally.server_ms)
    ceremonies = len(totals) + len(failures)
    result = CeremonyResult(
        label=label,
        url=url,
        connections=len(tallies),
        threads=len(tallies),
        duration_s=round(budget_s, 1),
        requests=ceremonies,
        elapsed_s=round(elapsed_s, 3),
        rps=ceremonies / elapsed_s if elapsed_s > 0 else 0.0,
        p50_ms=_percentile(totals, 50),
        p75_ms=_percentile(totals, 75),
        p90_ms=_percentile(totals, 90),
        p95_ms=_percentile(totals, 95),
        p99_ms=_percentile(totals, 99),
        max_ms=totals[-1] if totals else None,
        server_p50_ms=_percentile(server, 50),
        server_p95_ms=_percentile(server, 95),
        server_p99_ms=_percentile(server, 99),
        begin_p50_ms=statistics.median(begin) if begin else None,
        complete_p50_ms=statistics.median(complete) if complete else None,
        clients=len(tallies),
    )
    result.extra = {"ok": len(totals), "failed": len(failures)}
    if failures:
        result.output = "first failures:\n" + "\n".join(failures[:5])
    return result


def warm_up(signers: list[Signer], n: int) -> None:
    """n ceremonies per signer, in turn, on fresh connections; a failure ends the benchmark (setup is wrong)."""
    for signer in signers:
        signer.browser.reconnect()
        for _ in range(n):
            outcome = _attempt(signer)
            if isinstance(outcome, str):
                raise BenchError(f"passkey sign-in of {signer.username} failed in the warm-up: {outcome}")


def floor_ms(browser: Browser, n: int = 200) -> float | None:
    """The median of n GET /healthz on this connection: the client, loopback and the server's HTTP stack,
    for scale (a ceremony is two requests)."""
    times = []
    for _ in range(n):
        try:
            answer = browser.request("GET", "/healthz", keep_cookies=False)
        except (OSError, http.client.HTTPException):
            browser.reconnect()
            return None
        if answer.status == 200:
            times.append(answer.elapsed_ms)
    return statistics.median(times) if times else None


def sequential(signer: Signer, url: str, max_n: int, min_n: int, budget_s: float) -> CeremonyResult:
    """One ceremony at a time until max_n are done, or budget_s is spent and at least min_n are."""
    tally = _Tally()
    started = time.perf_counter()
    while True:
        tally.add(_attempt(signer))
        done = len(tally.begin_ms) + len(tally.failures)
        spent = time.perf_counter() - started
        if done >= max_n or (spent >= budget_s and done >= min_n):
            break
    return _result("ΛiD passkey sign-in, sequential", url, [tally], time.perf_counter() - started, budget_s)


def concurrent(signers: list[Signer], url: str, seconds: float) -> CeremonyResult:
    """Each signer (its own credential, cookies and connection) in its own thread, back to back, for
    `seconds`: closed loop, one ceremony in flight per signer."""
    tallies = [_Tally() for _ in signers]
    start = threading.Barrier(len(signers) + 1)
    deadline = [0.0]

    def loop(signer: Signer, tally: _Tally) -> None:
        start.wait()
        while time.perf_counter() < deadline[0]:
            tally.add(_attempt(signer))

    threads = [
        threading.Thread(target=loop, args=(s, t), name=f"passkey-{i}", daemon=True)
        for i, (s, t) in enumerate(zip(signers, tallies, strict=True))
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + seconds
    start.wait()
    for thread in threads:
        thread.join(seconds + 60)
    elapsed = time.perf_counter() - started
    return _result(f"ΛiD passkey sign-in, {len(signers)} clients", url, tallies, elapsed, seconds)
