"""`lukhas-id user recovery-code`, run as the real command (subprocess): the code is printed once with its
expiry, never on stderr (logs), and redeems in another process (the server's) exactly once."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lukhas_id.bootstrap import build_container
from lukhas_id.domain.user import User
from lukhas_id.settings import Settings
from tests.support.cli import Run, make_cli

PASSWORD = "correct horse battery staple"


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def cli(var_dir: Path) -> Run:
    return make_cli(var_dir, never_printed=(PASSWORD,))


async def redeem(var_dir: Path, username: str, code: str, tenant: str | None = None) -> User | None:
    """Redeem as the server would: another process's Container on the same embedded database."""
    c = await build_container(Settings(var_dir=var_dir))  # type: ignore[call-arg]
    try:
        t = await c.tenants.by_name(tenant or c.settings.default_tenant)
        assert t is not None
        return await c.account_recovery.redeem(t, username, code)
    finally:
        await c.aclose()


def issued(cli: Run, *args: str) -> str:
    proc = cli("user", "recovery-code", *args)
    lines = proc.stdout.splitlines()
    match = re.fullmatch(r"account recovery code for (\S+): ([A-Za-z0-9_-]{22,})", lines[0])
    assert match, proc.stdout
    code = match.group(2)
    assert re.fullmatch(r"expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(single use; shown once.*\)", lines[1])
    assert proc.stdout.count(code) == 1 and code not in proc.stderr
    return code


async def test_recovery_code_redeems_once(cli: Run, var_dir: Path) -> None:
    cli("user", "create", "Alice", "--password-stdin", stdin=PASSWORD + "\n")
    code = issued(cli, "alice")
    user = await redeem(var_dir, "ALICE", code)
    assert user is not None and user.username == "Alice"
    assert await redeem(var_dir, "alice", code) is None


async def test_json_output_and_expiry(cli: Run, var_dir: Path) -> None:
    cli("user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    before = time.time()
    proc = cli("user", "recovery-code", "alice", "--json")
    out = json.loads(proc.stdout)
    assert set(out) == {"username", "code", "expires_at", "expires"}
    assert out["username"] == "alice"
    assert before + 590 <= out["expires_at"] <= time.time() + 601
    assert out["expires"] == datetime.fromtimestamp(out["expires_at"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert out["code"] not in proc.stderr
    assert await redeem(var_dir, "alice", out["code"]) is not None


async def test_reissuing_cancels_the_previous_code(cli: Run, var_dir: Path) -> None:
    cli("user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    first = issued(cli, "alice")
    second = issued(cli, "alice")
    assert first != second
    assert await redeem(var_dir, "alice", first) is None
    assert await redeem(var_dir, "alice", second) is not None


async def test_other_tenant(cli: Run, var_dir: Path) -> None:
    cli("tenant", "create", "acme")
    cli("user", "create", "bob", "--tenant", "acme", "--password-stdin", stdin=PASSWORD + "\n")
    code = issued(cli, "bob", "--tenant", "acme")
    assert await redeem(var_dir, "bob", code, tenant="acme") is not None


def test_errors_are_one_line(cli: Run) -> None:
    assert "no user" in cli("user", "recovery-code", "nobody", ok=False).stderr
    assert "no tenant" in cli("user", "recovery-code", "alice", "--tenant", "nowhere", ok=False).stderr
    cli("user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    cli("user", "disable", "alice")
    proc = cli("user", "recovery-code", "alice", ok=False)
    assert "disabled" in proc.stderr and proc.stdout == ""
    cli("user", "enable", "alice")
    issued(cli, "alice")
