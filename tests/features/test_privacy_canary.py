"""The privacy canary (issue 11): drive the public endpoints and the CLI with canary values (an e-mail address,
passwords, a consent string, a TOTP secret and code, and the real access token, refresh token, ID token and
authorization code ΛiD issued), then scan everything ΛiD wrote where an operator or another system can read it:
the logs (the access log included), `/metrics`, the identity events, every row of every database table and
every Redis value. A hit fails the test, except the one column meant to hold the value (`users.email` for the
user's current address). Both deployments.

Not yet scanned here (they are added with their features): events on NATS, Shared Signals SETs and the audit
log; their own tests run the same event guard."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyotp
import pytest
import redis.asyncio
import sqlalchemy as sa

from lukhas_id.domain.client import GrantType
from lukhas_id.domain.events import IdentityEvent
from lukhas_id.settings import Settings
from tests.support.cli import make_cli
from tests.support.harness import Harness, basic, running
from tests.support.rp import REDIRECT, authorize_url, hidden, path_of, pkce_pair, rp_params


class Canaries:
    def __init__(self) -> None:
        tag = secrets.token_hex(6)
        self.email = f"canary.{tag}@example.org"
        self.new_email = f"canary.new.{tag}@example.org"
        self.password = f"Canary-Password-{tag}"
        self.new_password = f"Canary-New-Password-{tag}"
        self.wrong_password = f"Canary-Wrong-{tag}"
        self.consent = f"CONSENT-STRING-{tag}"
        self.found: dict[str, str] = {}  # values ΛiD issued during the test, by name

    def values(self) -> dict[str, str]:
        base = {
            "email": self.email,
            "new_email": self.new_email,
            "password": self.password,
            "new_password": self.new_password,
            "wrong_password": self.wrong_password,
            "consent": self.consent,
        }
        return {**base, **self.found}


def cli_env(settings: Settings) -> dict[str, str]:
    env = {}
    if settings.database_url is not None:
        env["LUKHAS_ID_DATABASE_URL"] = settings.database_url
    if settings.redis_url is not None:
        env["LUKHAS_ID_REDIS_URL"] = settings.redis_url
    if settings.kek is not None:
        env["LUKHAS_ID_KEK"] = settings.kek.get_secret_value()
    return env


async def drive(h: Harness, settings: Settings, c: Canaries) -> None:
    """Every public endpoint and the CLI, with the canaries where a caller can put them."""
    cli = make_cli(settings.var_dir, never_printed=[c.password, c.new_password, c.wrong_password, c.consent])
    env = cli_env(settings)
    tenant = await h.tenant()
    username = f"canary{secrets.token_hex(3)}"
    cli("user", "create", username, "--email", c.email, "--password-stdin", extra=env, stdin=c.password + "\n")
    cli("user", "list", extra=env)
    client, secret = await h.c.clients.create(
        tenant,
        name="Canary RP",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN}),
        scopes=frozenset({"openid", "profile", "email", "offline_access"}),
        redirect_uris=(REDIRECT,),
    )
    assert secret is not None
    for path in ("/.well-known/openid-configuration", "/.well-known/jwks.json", "/healthz", "/readyz"):
        assert (await h.http.get(path)).status_code == 200

    # Sign in: a wrong password, then the right one; consent with a consent string the form does not expect.
    verifier, challenge = pkce_pair()
    first = await h.http.get(authorize_url(client, challenge, scope="openid profile email offline_access"))
    login = path_of(first.headers["location"])
    page = await h.http.get(login)
    form = {"csrf_token": hidden(page.text, "csrf_token"), "return_to": hidden(page.text, "return_to")}
    refused = await h.http.post("/login", data={**form, "username": c.email, "password": c.wrong_password})
    assert refused.status_code == 200
    signed = await h.http.post("/login", data={**form, "username": username, "password": c.password})
    assert signed.status_code == 303, signed.text
    consent = await h.http.get(path_of(signed.headers["location"]))
    decided = await h.http.post(
        "/oauth2/consent",
        data={
            "csrf_token": hidden(consent.text, "csrf_token"),
            "interaction": hidden(consent.text, "interaction"),
            "decision": "allow",
            "consent_string": c.consent,
        },
    )
    code = rp_params(decided.headers["location"])["code"]
    c.found["code"] = code
    form_code = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    tokens = (await h.http.post("/oauth2/token", data=form_code, headers=basic(client.client_id, secret))).json()
    c.found |= {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"]}
    c.found["id_token"] = tokens["id_token"]
    # The refresh token rotated and reused, introspection, UserInfo, the code again, revocation.
    active = await h.http.post(
        "/oauth2/introspect", data={"token": tokens["access_token"]}, headers=basic(client.client_id, secret)
    )
    assert active.status_code == 200
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}
    assert (await h.http.get("/oauth2/userinfo", headers=bearer)).status_code == 200
    rotated = await h.http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(client.client_id, secret),
    )
    assert rotated.status_code == 200, rotated.text
    c.found["rotated_refresh_token"] = rotated.json()["refresh_token"]
    c.found["rotated_access_token"] = rotated.json()["access_token"]
    reuse = await h.http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(client.client_id, secret),
    )
    assert reuse.status_code == 400  # reuse detected: the family is revoked
    wrong = {"authorization": f"Bearer {tokens['refresh_token']}"}  # a refresh token presented as a bearer token
    assert (await h.http.get("/oauth2/userinfo", headers=wrong)).status_code == 401
    bad_client = basic(client.client_id, c.wrong_password)
    assert (await h.http.post("/oauth2/token", data=form_code, headers=bad_client)).status_code == 401
    again = await h.http.post("/oauth2/token", data=form_code, headers=basic(client.client_id, secret))
    assert again.status_code == 400  # a code used twice: refused, and what it issued is revoked
    revoked = await h.http.post(
        "/oauth2/revoke", data={"token": tokens["access_token"]}, headers=basic(client.client_id, secret)
    )
    assert revoked.status_code == 200
    registration = await h.http.post(
        "/oauth2/register",
        json={"redirect_uris": [REDIRECT], "contacts": [c.email]},
        headers={"authorization": f"Bearer {tokens['access_token']}"},
    )
    assert registration.status_code in (400, 401, 403, 404)
    recover = await h.http.get("/login/recover")
    if recover.status_code == 200:
        await h.http.post(
            "/login/recover",
            data={"csrf_token": hidden(recover.text, "csrf_token"), "username": c.email, "code": c.consent},
        )

    # The factors and the profile (through the services the account pages use).
    user = await h.c.users.get(tenant, username)
    assert user is not None
    enrolment = await h.c.totp.begin_enrolment(tenant, user)
    totp_code = pyotp.TOTP(enrolment.secret).now()
    assert await h.c.totp.confirm(tenant, user.lid, totp_code)
    c.found["totp_secret"] = enrolment.secret  # (a six-digit code is not scanned for: digits match by chance)
    await h.c.users.change_email(tenant, user.lid, c.new_email)
    cli("user", "set-password", username, "--password-stdin", extra=env, stdin=c.new_password + "\n")
    cli("user", "sessions", username, extra=env)
    account = await h.http.get("/account")
    assert account.status_code == 200
    logout = await h.http.get("/oauth2/logout", params={"id_token_hint": tokens["id_token"]})
    assert logout.status_code in (200, 303)
    cli("user", "sign-out", username, extra=env)
    cli("user", "disable", username, extra=env)
    cli("revoke", "--subject", user.lid, extra=env)
    cli("user", "delete", username, "--yes", extra=env)
    c.found["metrics"] = (await h.http.get("/metrics")).text  # scanned below, not a canary


def hits(where: str, text: str, canaries: dict[str, str]) -> list[str]:
    return [f"{name} in {where}" for name, value in canaries.items() if value in text]


async def database_rows(h: Harness) -> Iterable[tuple[str, str, str]]:
    """(table, column, text) for every non-empty value of every table."""
    engine = h.c.database.engine
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        out: list[tuple[str, str, str]] = []
        for table in tables:
            result = await conn.execute(sa.text(f'SELECT * FROM "{table}"'))  # noqa: S608 - names from the schema
            columns = list(result.keys())
            for row in result:
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text = value.decode("latin-1") if isinstance(value, bytes | memoryview) else str(value)
                    out.append((table, column, text))
    return out


async def redis_values(url: str) -> list[str]:
    client = redis.asyncio.Redis.from_url(url)
    out: list[str] = []
    try:
        async for key in client.scan_iter(match="lid:*", count=1000):
            kind = (await client.type(key)).decode()
            if kind == "string":
                value: Any = await client.get(key)
            elif kind == "hash":
                value = await client.hgetall(key)
            elif kind == "set":
                value = await client.smembers(key)
            elif kind == "zset":
                value = await client.zrange(key, 0, -1, withscores=True)
            elif kind == "list":
                value = await client.lrange(key, 0, -1)
            else:
                value = kind
            out.append(f"{key!r} {value!r}")
    finally:
        await client.aclose()
    return out


async def test_no_canary_reaches_logs_metrics_events_or_storage(
    prepared: Settings, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    c = Canaries()
    seen: list[IdentityEvent] = []

    async def record(event: IdentityEvent) -> None:
        seen.append(event)

    async with running(prepared) as h:
        h.c.events.subscribe(record)
        await drive(h, prepared, c)
        rows = list(await database_rows(h))
    metrics = c.found.pop("metrics")
    canaries = c.values()
    encoded = {f"{k} (base64)": base64.b64encode(v.encode()).decode() for k, v in canaries.items() if "token" not in k}
    logs = capfd.readouterr()
    problems = hits("the logs", logs.out + logs.err, canaries | encoded)
    problems += hits("/metrics", metrics, canaries)
    problems += hits("the events", repr(seen), canaries)
    for table, column, text in rows:
        allowed = {"new_email"} if (table, column) == ("users", "email") else set()
        problems += hits(f"{table}.{column}", text, {k: v for k, v in canaries.items() if k not in allowed})
    if prepared.redis_url is not None:
        problems += hits("Redis", "\n".join(await redis_values(prepared.redis_url)), canaries)
    assert not problems, problems
    # The test can fail: it saw what it drove (a signed-in user, the tokens issued, the access log).
    assert any(e.type.value == "user.signed_in" for e in seen) and "http.access" in logs.err + logs.out
    assert {"code", "access_token", "refresh_token", "totp_secret"} <= set(c.found)
