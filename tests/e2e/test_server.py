"""The real server driven by independent client libraries (Authlib, PyJWT), never by ΛiD's own code.

Two server processes share the database and Redis (or the embedded SQLite file): a token revoked on
one is inactive on the other at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jwt
import pytest
from authlib.integrations.requests_client import OAuth2Session as OAuth2Client

from tests.support.servers import Deployment, free_port, start_server, stop

pytestmark = pytest.mark.e2e


def test_token_verify_introspect_revoke_across_two_processes(deployment: Deployment, tmp_path: Path) -> None:
    if "LUKHAS_ID_DATABASE_URL" in deployment.env:
        # An external database must be migrated first: the server refuses to start, naming the command.
        refused = deployment.cli("serve", "--port", str(free_port()), check=False)
        assert refused.returncode != 0
        assert "lukhas-id db upgrade" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        deployment.cli("db", "upgrade")
    creds = deployment.create_client()
    assert creds["issuer"] == deployment.public_url
    a = start_server(deployment, tmp_path)
    b = start_server(deployment, tmp_path)
    clients: list[OAuth2Client] = []
    try:
        meta = httpx.get(f"{a.url}/.well-known/oauth-authorization-server").json()
        assert meta["issuer"] == deployment.public_url
        client = OAuth2Client(
            client_id=creds["client_id"],
            client_secret=creds["client_secret"],
            token_endpoint_auth_method="client_secret_basic",
        )
        clients.append(client)
        token = client.fetch_token(f"{a.url}/oauth2/token", grant_type="client_credentials", scope="api:read")
        access_token = token["access_token"]
        assert token["token_type"].lower() == "bearer"

        # Verify the signature against the served JWKS with PyJWT's JWKS client.
        jwks = jwt.PyJWKClient(f"{b.url}/.well-known/jwks.json")
        key = jwks.get_signing_key_from_jwt(access_token)
        claims = jwt.decode(
            access_token,
            key=key,
            algorithms=["ES256"],
            audience="urn:example:api",
            issuer=deployment.public_url,
        )
        assert claims["client_id"] == creds["client_id"]
        assert claims["sub"] == creds["lid"]
        assert jwt.get_unverified_header(access_token)["typ"] == "at+jwt"

        info = client.introspect_token(f"{b.url}/oauth2/introspect", token=access_token).json()
        assert info["active"] is True
        assert info["sub"] == creds["lid"]

        resp = client.revoke_token(f"{a.url}/oauth2/revoke", token=access_token)
        assert resp.status_code == 200
        assert client.introspect_token(f"{b.url}/oauth2/introspect", token=access_token).json() == {"active": False}
        assert client.introspect_token(f"{a.url}/oauth2/introspect", token=access_token).json() == {"active": False}

        # Opaque tokens, and mass revocation from the CLI, seen by both processes.
        opaque = deployment.create_client("--token-format", "opaque")
        oc = OAuth2Client(client_id=opaque["client_id"], client_secret=opaque["client_secret"])
        clients.append(oc)
        ot = oc.fetch_token(f"{b.url}/oauth2/token", grant_type="client_credentials")["access_token"]
        assert oc.introspect_token(f"{a.url}/oauth2/introspect", token=ot).json()["active"] is True
        deployment.cli("revoke", "--client", opaque["client_id"])
        assert oc.introspect_token(f"{a.url}/oauth2/introspect", token=ot).json() == {"active": False}
        assert oc.introspect_token(f"{b.url}/oauth2/introspect", token=ot).json() == {"active": False}
    finally:
        for c in clients:
            c.close()
        stop(a)
        stop(b)
    for server in (a, b):
        log = server.log.read_text()
        assert creds["client_secret"] not in log
        assert access_token not in log
        assert "Traceback" not in log


def test_two_processes_redeeming_one_code_at_once_exactly_one_wins(deployment: Deployment, tmp_path: Path) -> None:
    """Issue 3: codes are single-use across processes sharing PostgreSQL/Redis (or the SQLite file)."""
    import asyncio
    import base64
    import hashlib
    import secrets
    import time

    from lukhas_id.adapters.redis import RedisKeyValueStore, redis_client
    from lukhas_id.adapters.sql import Database, SqlTenantRepository
    from lukhas_id.adapters.sql.kv import SqlKeyValueStore
    from lukhas_id.ports.state import KeyValueStore
    from lukhas_id.services.codes import AuthorizationCodes, CodeGrant

    if "LUKHAS_ID_DATABASE_URL" in deployment.env:
        deployment.cli("db", "upgrade")
    redirect = "https://rp.example.com/cb"
    rp = json.loads(
        deployment.cli(
            "client",
            "create",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            redirect,
            "--scope",
            "openid profile",
            "--json",
        ).stdout
    )
    # Codes are minted straight into the store: for a real user (the code grant looks its user up).
    password = "correct horse battery staple\n"  # noqa: S105  (a test user's)
    user_lid = deployment.cli("user", "create", "code-user", "--password-stdin", input=password).stdout.strip()
    a = start_server(deployment, tmp_path)
    b = start_server(deployment, tmp_path)

    async def scenario() -> list[tuple[int, int]]:
        db_url = (
            deployment.env.get("LUKHAS_ID_DATABASE_URL")
            or f"sqlite:///{deployment.env['LUKHAS_ID_VAR_DIR']}/lukhas-id.db"
        )
        database = Database.from_url(db_url)
        redis = redis_client(deployment.env["LUKHAS_ID_REDIS_URL"]) if "LUKHAS_ID_REDIS_URL" in deployment.env else None
        kv: KeyValueStore = RedisKeyValueStore(redis) if redis is not None else SqlKeyValueStore(database)
        codes = AuthorizationCodes(kv, replay_window=3600)
        outcomes: list[tuple[int, int]] = []
        try:
            tenant = await SqlTenantRepository(database).get_by_name("default")
            assert tenant is not None
            async with httpx.AsyncClient(timeout=10) as http:
                for _ in range(10):
                    verifier = secrets.token_urlsafe(48)
                    challenge = (
                        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                    )
                    code = await codes.issue(
                        CodeGrant(
                            tenant_id=tenant.id,
                            client_id=rp["client_id"],
                            redirect_uri=redirect,
                            redirect_uri_sent=True,
                            user_lid=user_lid,
                            scope=("openid", "profile"),
                            code_challenge=challenge,
                            nonce="n",
                            auth_time=int(time.time()),
                            amr=("pwd",),
                            acr=None,
                            sid=None,
                        )
                    )
                    form = {
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": redirect,
                        "code_verifier": verifier,
                    }
                    auth = (rp["client_id"], rp["client_secret"])
                    ra, rb = await asyncio.gather(
                        http.post(f"{a.url}/oauth2/token", data=form, auth=auth),
                        http.post(f"{b.url}/oauth2/token", data=form, auth=auth),
                    )
                    outcomes.append((ra.status_code, rb.status_code))
                    for r in (ra, rb):
                        if r.status_code != 200:
                            assert r.json()["error"] == "invalid_grant"
        finally:
            if redis is not None:
                await redis.aclose()
            await database.dispose()
        return outcomes

    try:
        outcomes = asyncio.run(scenario())
    finally:
        stop(a)
        stop(b)
    assert all(sorted(pair) == [200, 400] for pair in outcomes), outcomes
