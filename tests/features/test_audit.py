"""The audit log end to end, on both deployments: what a sign-in, a failure, a token flow and an administrative
CLI action leave in it (attributed to their route or command and trace id), `lukhas-id audit verify | export |
seal | key` run as the real command, tampering caught by the command, and no personal data in any record."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from lukhas_id.clock import FixedClock
from lukhas_id.domain.events import unsafe_value
from lukhas_id.settings import Settings
from lukhas_id.web.app import maintenance_pass
from tests.support.cli import Run, make_cli
from tests.support.harness import Harness, running
from tests.support.rp import mint, pkce_pair, redeem, rp

PASSWORD = "correct horse battery staple"
EMAIL = "alice.audit@example.com"


@pytest.fixture
def cli(backend: dict[str, object], tmp_path: Path) -> Run:
    """The command, on the same database (and Redis) as the harness's server."""
    env = {f"LUKHAS_ID_{name.upper()}": str(value) for name, value in backend.items() if name != "var_dir"}
    return functools.partial(make_cli(tmp_path), extra=env)


def _csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    return html.split(marker, 1)[1].split('"', 1)[0]


async def login(h: Harness, username: str, password: str) -> tuple[int, str]:
    form = await h.http.get("/login")
    resp = await h.http.post(
        "/login", data={"csrf_token": _csrf(form.text), "username": username, "password": password}
    )
    return resp.status_code, resp.headers["x-trace-id"]


async def scenario(h: Harness) -> dict[str, Any]:
    """A user with an e-mail address and a password, a failed and a good sign-in, tokens issued and revoked."""
    tenant = await h.tenant()
    user = await h.c.users.create(tenant, "alice", email=EMAIL, password=PASSWORD)
    _, failed_trace = await login(h, "alice", "not the password")
    status, good_trace = await login(h, "alice", PASSWORD)
    assert status in (200, 303), status
    party = await rp(h)
    verifier, challenge = pkce_pair()
    code, _ = await mint(h, party, challenge, user_lid=user.lid, scope=("openid", "offline_access"))
    status, body = await redeem(h, party, code, verifier)
    assert status == 200, body
    assert party.secret is not None
    resp = await h.http.post(
        "/oauth2/revoke", data={"token": str(body["refresh_token"])}, auth=(party.client.client_id, party.secret)
    )
    assert resp.status_code == 200
    return {
        "user": user,
        "failed_trace": failed_trace,
        "good_trace": good_trace,
        "secrets": [PASSWORD, EMAIL, code, str(body["access_token"]), str(body["refresh_token"]), party.secret],
    }


def export_lines(cli: Run, *args: str) -> list[dict[str, Any]]:
    proc = cli("audit", "export", "--since", "1h", *args)
    return [json.loads(line) for line in proc.stdout.splitlines()]


async def test_a_scenario_is_recorded_attributed_and_free_of_personal_data(h: Harness, cli: Run) -> None:
    seen = await scenario(h)
    lid = seen["user"].lid
    cli("user", "disable", "alice")
    lines = export_lines(cli)
    records = [line for line in lines if "checkpoint" not in line]
    by_type = {}
    for record in records:
        by_type.setdefault(record["type"], []).append(record)
    refused = by_type["sign_in.refused"][0]
    assert refused["trace_id"] == seen["failed_trace"] and refused["metadata"]["reason"] == "wrong"
    assert refused["origin"] == "/login"
    signed_in = by_type["user.signed_in"][0]
    assert signed_in["trace_id"] == seen["good_trace"] and signed_in["principal_type"] == "USR"
    assert by_type["user.created"][0]["principal"] == lid
    assert by_type["user.disabled"][0]["origin"] == "cli user disable"
    assert by_type["user.disabled"][0]["trace_id"]  # a fresh one for the command
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    # Nothing personal or secret, in any member of any record.
    exported = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    for secret in seen["secrets"]:
        assert secret not in exported
    for record in records:
        values = [v for v in record.values() if isinstance(v, str)] + list(record["metadata"].values())
        assert [v for v in values if unsafe_value(v, thumbprint=True) is not None] == []
    # The stored rows too, not only their export.
    async with h.c.database.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM audit_records"))).all()
    stored = "\n".join(str(tuple(row)) for row in rows)
    assert len(rows) == len(records)
    for secret in seen["secrets"]:
        assert secret not in stored


async def test_verify_seal_key_and_an_offline_export(h: Harness, cli: Run, tmp_path: Path) -> None:
    await scenario(h)
    assert "nothing to seal" not in cli("audit", "seal").stdout
    assert "nothing to seal" in cli("audit", "seal").stdout
    proc = cli("audit", "verify")
    assert proc.stdout.startswith("tenant default: intact (")
    report = json.loads(cli("audit", "verify", "--json", "--tenant", "default").stdout)
    assert report["intact"] is True and report["chains"][0]["checkpoints"] == 1
    key = tmp_path / "audit-key.json"
    key.write_text(cli("audit", "key").stdout)
    (jwk,) = json.loads(key.read_text())["keys"]
    assert jwk["kty"] == "OKP" and "d" not in jwk
    export = tmp_path / "audit.jsonl"
    proc = cli("audit", "export", "--since", "2020-01-01", "--output", str(export))
    assert proc.stderr.startswith("exported ")
    assert any("checkpoint" in json.loads(line) for line in export.read_text().splitlines())
    assert "intact" in cli("audit", "verify", "--file", str(export), "--key", str(key)).stdout
    # An edited export line is caught offline, with the record named.
    lines = export.read_text().splitlines()
    edited = json.loads(lines[2])
    edited["principal"] = "USR-000000000000"
    lines[2] = json.dumps(edited)
    export.write_text("\n".join(lines) + "\n")
    proc = cli("audit", "verify", "--file", str(export), "--json", ok=None)
    assert proc.returncode == 1
    broken = json.loads(proc.stdout)["chains"][0]["broken"]
    assert (broken["seq"], broken["problem"]) == (edited["seq"], "edited")


async def test_verify_names_a_record_deleted_in_the_database(h: Harness, cli: Run) -> None:
    await scenario(h)
    async with h.c.database.engine.begin() as conn:
        if h.c.database.is_sqlite:
            await conn.execute(text("DROP TRIGGER audit_records_no_delete"))
        else:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("DELETE FROM audit_records WHERE seq = 2"))
    proc = cli("audit", "verify", ok=None)
    assert proc.returncode == 1
    assert proc.stdout.strip() == "tenant default: BROKEN at seq 2: seq gap: the record is missing (deleted) " + (
        "(the next record present is seq 3)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("export", "--since", "yesterday"), "neither an ISO 8601 time"),
        (("export", "--since", "7d", "--until", "8d"), "must be later than --since"),
        (("export", "--since", "1h", "--tenant", "no-such"), "no tenant named 'no-such'"),
        (("export",), "Missing option '--since'"),
        (("verify", "--tenant", "no-such"), "no tenant named 'no-such'"),
        (("verify", "--file", "/nonexistent/audit.jsonl"), "cannot read"),
        (("verify", "--key", "k.json"), "only with --file"),
    ],
)
async def test_usage_errors_are_one_line_and_exit_2(h: Harness, cli: Run, args: tuple[str, ...], message: str) -> None:
    await h.tenant()
    proc = cli("audit", *args, ok=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


async def test_a_file_that_is_no_export_is_refused_in_one_line(h: Harness, cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "not-an-export.jsonl"
    path.write_text('{"hello": "world"}\n')
    proc = cli("audit", "verify", "--file", str(path), ok=False)
    assert proc.returncode == 1
    assert "line 1 is not an audit record" in proc.stderr


async def test_the_maintenance_pass_seals_grown_chains_when_due(hc: Harness, clock: FixedClock) -> None:
    tenant = await hc.tenant()
    await maintenance_pass(hc.c)  # the first pass of a process seals at once
    first = await hc.c.audit.checkpoints(tenant.id)
    assert [c.seq for c in first] == [1]  # tenant.created
    await hc.c.users.create(tenant, "bob", password=PASSWORD)
    await maintenance_pass(hc.c)
    assert len(await hc.c.audit.checkpoints(tenant.id)) == 1  # not due yet
    clock.advance(hc.c.settings.audit_seal_interval)
    await maintenance_pass(hc.c)
    assert [c.seq for c in await hc.c.audit.checkpoints(tenant.id)] == [1, 2]
    clock.advance(hc.c.settings.audit_seal_interval)
    await maintenance_pass(hc.c)  # nothing grew: nothing signed
    assert [c.seq for c in await hc.c.audit.checkpoints(tenant.id)] == [1, 2]


async def test_with_the_audit_log_off_nothing_is_recorded(prepared: Settings) -> None:
    async with running(prepared.model_copy(update={"audit_log": False})) as off:
        tenant = await off.tenant()
        await off.c.users.create(tenant, "carol", password=PASSWORD)
        assert await off.c.audit.verify() == []
