"""Preparation of the user-facing flows (ΛiD only): authorization codes minted through the service layer into
the server's shared store, and sign-in forms (pre-session cookie + CSRF token) fetched over HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from bench.procs import BenchError

REDIRECT_URI = "https://rp.bench.example/cb"
CODE_SCOPE = ("openid", "offline_access")
_CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"|value="([^"]+)"\s+name="csrf_token"')
_PRE_COOKIE = "lid_pre"


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def _mint_codes(
    db_url: str, redis_url: str, client_id: str, user_lids: list[str], n: int, replay_window: int
) -> list[tuple[str, str]]:
    from lukhas_id.adapters.redis import RedisKeyValueStore, redis_client
    from lukhas_id.adapters.sql import Database, SqlTenantRepository
    from lukhas_id.services.codes import AuthorizationCodes, CodeGrant

    database = Database.from_url(db_url)
    redis = redis_client(redis_url)
    try:
        tenant = await SqlTenantRepository(database).get_by_name("default")
        if tenant is None:
            raise BenchError("no default tenant in the benchmark's schema")
        codes = AuthorizationCodes(RedisKeyValueStore(redis), replay_window=replay_window)
        now = int(time.time())

        async def one(i: int) -> tuple[str, str]:
            verifier = secrets.token_urlsafe(48)
            code = await codes.issue(
                CodeGrant(
                    tenant_id=tenant.id,
                    client_id=client_id,
                    redirect_uri=REDIRECT_URI,
                    redirect_uri_sent=True,
                    user_lid=user_lids[i % len(user_lids)],
                    scope=CODE_SCOPE,
                    code_challenge=_challenge(verifier),
                    nonce=f"n{i}",
                    auth_time=now,
                    amr=("pwd",),
                    acr=None,
                    sid=f"bench-sid-{i}",  # as if each code came from its own sign-in
                )
            )
            return code, verifier

        out: list[tuple[str, str]] = []
        for start in range(0, n, 500):
            out += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 500))))
        return out
    finally:
        await redis.aclose()
        await database.dispose()


def mint_codes(
    db_url: str, redis_url: str, client_id: str, user_lids: list[str], n: int, replay_window: int = 3600
) -> list[tuple[str, str]]:
    """n fresh (code, PKCE verifier) pairs in the shared store (CODE_TTL: each lives 60 s)."""
    return asyncio.run(_mint_codes(db_url, redis_url, client_id, user_lids, n, replay_window))


def write_code_bodies(pairs: list[tuple[str, str]], out: Path) -> Path:
    redirect = urllib.parse.quote(REDIRECT_URI, safe="")
    out.write_text(
        "".join(
            f"grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier={verifier}\n"
            for code, verifier in pairs
        )
    )
    return out


def write_refresh_bodies(tokens: list[str], out: Path) -> Path:
    out.write_text(
        "".join(f"grant_type=refresh_token&refresh_token={urllib.parse.quote(t, safe='')}\n" for t in tokens)
    )
    return out


def login_form(login_url: str, timeout: float = 10.0) -> tuple[str, str]:
    """GET the sign-in page once: (the Cookie header value of its pre-session cookie, its CSRF token)."""
    with urllib.request.urlopen(login_url, timeout=timeout) as resp:
        cookies = resp.headers.get_all("Set-Cookie") or []
        html = resp.read().decode()
    pre = next((c.split(";", 1)[0] for c in cookies if c.split("=", 1)[0].strip() == _PRE_COOKIE), None)
    m = _CSRF.search(html)
    if pre is None or m is None:
        raise BenchError(f"GET {login_url}: no {_PRE_COOKIE} cookie or csrf_token field in the answer")
    return pre, m.group(1) or m.group(2)


def write_login_lines(forms: list[tuple[str, str]], users: list[str], password: str, out: Path) -> Path:
    """Lines "Cookie<TAB>body": form i with user i mod len(users), the right password."""
    pw = urllib.parse.quote(password, safe="")
    out.write_text(
        "".join(
            f"{cookie}\tcsrf_token={urllib.parse.quote(csrf, safe='')}"
            f"&username={urllib.parse.quote(users[i % len(users)], safe='')}&password={pw}\n"
            for i, (cookie, csrf) in enumerate(forms)
        )
    )
    return out


def time_logins(login_url: str, lines: Path, n: int, timeout: float = 10.0) -> float:
    """The median time of n sequential sign-ins (the first n lines of `lines`), in ms; a non-303 answer fails."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    times: list[float] = []
    for line in lines.read_text().splitlines()[:n]:
        cookie, body = line.split("\t", 1)
        req = urllib.request.Request(
            login_url,
            data=body.encode(),
            method="POST",
            headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        t0 = time.perf_counter()
        try:
            with opener.open(req, timeout=timeout) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        times.append((time.perf_counter() - t0) * 1000)
        if status != 303:
            raise BenchError(f"sign-in probe: POST {login_url} answered {status}, not 303")
    return sorted(times)[len(times) // 2]
