"""Refresh-token rotation under real concurrency: one refresh token presented to two server processes at once.

Strict clients (grace 0): one process rotates, the other sees reuse and revokes the family, so the
winner's new tokens die too. Clients with a grace window: both processes answer with the same successor.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from lukhas_id.adapters.redis import RedisKeyValueStore, redis_client
from lukhas_id.adapters.sql import Database, SqlTenantRepository
from lukhas_id.adapters.sql.kv import SqlKeyValueStore
from lukhas_id.adapters.sql.models import ClientRow
from lukhas_id.ports.state import KeyValueStore
from lukhas_id.services.codes import AuthorizationCodes, CodeGrant
from tests.support.servers import Deployment, start_server, stop

REDIRECT = "https://rp.example.com/cb"
ROUNDS = 4


@pytest.mark.parametrize("grace", [0, 5], ids=["strict", "grace"])
def test_one_refresh_token_at_two_processes_at_once(deployment: Deployment, tmp_path: Path, grace: int) -> None:
    if "LUKHAS_ID_DATABASE_URL" in deployment.env:
        deployment.cli("db", "upgrade")
    rp = json.loads(
        deployment.cli(
            "client",
            "create",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "openid profile offline_access",
            "--json",
        ).stdout
    )
    db_url = (
        deployment.env.get("LUKHAS_ID_DATABASE_URL") or f"sqlite:///{deployment.env['LUKHAS_ID_VAR_DIR']}/lukhas-id.db"
    )

    async def set_grace() -> None:
        database = Database.from_url(db_url)
        try:
            async with database.statement() as conn:
                await conn.execute(
                    update(ClientRow).where(ClientRow.client_id == rp["client_id"]).values(refresh_grace_seconds=grace)
                )
        finally:
            await database.dispose()

    asyncio.run(set_grace())  # before any server has read (and cached) the client
    # Codes are minted straight into the store: for a real user (the code grant looks its user up).
    password = "correct horse battery staple\n"  # noqa: S105  (a test user's)
    user_lid = deployment.cli("user", "create", "code-user", "--password-stdin", input=password).stdout.strip()
    a = start_server(deployment, tmp_path)
    b = start_server(deployment, tmp_path)
    auth = (rp["client_id"], rp["client_secret"])

    async def scenario() -> list[tuple[httpx.Response, httpx.Response, str, str]]:
        database = Database.from_url(db_url)
        redis = redis_client(deployment.env["LUKHAS_ID_REDIS_URL"]) if "LUKHAS_ID_REDIS_URL" in deployment.env else None
        kv: KeyValueStore = RedisKeyValueStore(redis) if redis is not None else SqlKeyValueStore(database)
        codes = AuthorizationCodes(kv, replay_window=3600)
        rounds = []
        try:
            tenant = await SqlTenantRepository(database).get_by_name("default")
            assert tenant is not None
            async with httpx.AsyncClient(timeout=20) as http:
                for _ in range(ROUNDS):
                    verifier = secrets.token_urlsafe(48)
                    challenge = (
                        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                    )
                    code = await codes.issue(
                        CodeGrant(
                            tenant_id=tenant.id,
                            client_id=rp["client_id"],
                            redirect_uri=REDIRECT,
                            redirect_uri_sent=True,
                            user_lid=user_lid,
                            scope=("openid", "profile", "offline_access"),
                            code_challenge=challenge,
                            nonce="n",
                            auth_time=int(time.time()),
                            amr=("pwd",),
                            acr=None,
                            sid="sid-e2e",
                        )
                    )
                    form = {
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": REDIRECT,
                        "code_verifier": verifier,
                    }
                    redeemed = await http.post(f"{a.url}/oauth2/token", data=form, auth=auth)
                    assert redeemed.status_code == 200, redeemed.text
                    refresh_token = redeemed.json()["refresh_token"]
                    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
                    ra, rb = await asyncio.gather(
                        http.post(f"{a.url}/oauth2/token", data=form, auth=auth),
                        http.post(f"{b.url}/oauth2/token", data=form, auth=auth),
                    )
                    winner = ra if ra.status_code == 200 else rb
                    after = ""
                    introspected = ""
                    if winner.status_code == 200:
                        # Use the winner's successor, then ask whether its access token is still active.
                        successor = winner.json()["refresh_token"]
                        again = await http.post(
                            f"{b.url}/oauth2/token",
                            data={"grant_type": "refresh_token", "refresh_token": successor},
                            auth=auth,
                        )
                        after = str(again.status_code)
                        info = await http.post(
                            f"{a.url}/oauth2/introspect", data={"token": winner.json()["access_token"]}, auth=auth
                        )
                        introspected = str(info.json()["active"])
                    rounds.append((ra, rb, after, introspected))
        finally:
            if redis is not None:
                await redis.aclose()
            await database.dispose()
        return rounds

    try:
        rounds = asyncio.run(scenario())
    finally:
        stop(a)
        stop(b)
    for ra, rb, after, introspected in rounds:
        if grace == 0:
            assert sorted([ra.status_code, rb.status_code]) == [200, 400], (ra.text, rb.text)
            loser = ra if ra.status_code == 400 else rb
            assert loser.json()["error"] == "invalid_grant"
            # The family is revoked: the winner's successor and access token are dead.
            assert (after, introspected) == ("400", "False")
        else:
            assert (ra.status_code, rb.status_code) == (200, 200), (ra.text, rb.text)
            assert ra.json()["refresh_token"] == rb.json()["refresh_token"]
            assert (after, introspected) == ("200", "True")
    for server in (a, b):
        assert "Traceback" not in server.log.read_text()
