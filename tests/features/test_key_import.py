"""`lukhas-id keys import` and KeyService.import_key: an operator's PEM key enters as the `next` key,
published before it signs, and the rotation makes it active (embedded SQLite, and PostgreSQL + Redis)."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from lukhas_id.clock import FixedClock
from lukhas_id.domain.events import EventType
from lukhas_id.domain.keys import KeyState, SigningAlg
from lukhas_id.errors import AlreadyExists, Conflict
from lukhas_id.jose.keys import public_jwk
from lukhas_id.jose.pem import load_private_pem
from lukhas_id.services.keys import RELOAD_INTERVAL
from tests.support.cli import make_cli
from tests.support.events import assert_clean, of, recorder
from tests.support.harness import Harness

PASSPHRASE = "an operator's passphrase"


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, passphrase: str | None = None) -> bytes:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def _secret_lines(pem: bytes) -> list[str]:
    """The base64 lines of a PEM: none of them may ever be printed or logged."""
    return [line.decode() for line in pem.splitlines() if not line.startswith(b"-----") and b":" not in line]


@pytest.fixture
def env(backend: dict[str, object]) -> dict[str, str]:
    return {f"LUKHAS_ID_{name.upper()}": str(value) for name, value in backend.items() if name != "var_dir"}


async def _jwks_kids(h: Harness) -> set[str]:
    return {k["kid"] for k in (await h.http.get("/.well-known/jwks.json")).json()["keys"]}


async def test_imported_key_is_published_as_next_then_signs_after_rotation(
    hc: Harness, clock: FixedClock, env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = _pem(key)
    path = tmp_path / "signing.pem"
    path.write_bytes(pem)
    cli = functools.partial(make_cli(tmp_path, never_printed=_secret_lines(pem)), extra=env)
    tenant = await hc.tenant()
    before = (await hc.c.keys.load(tenant.id)).keys
    generated_next = next(k.kid for k in before if k.alg is SigningAlg.ES256 and k.state is KeyState.NEXT)
    rc = await hc.client()
    first_token = await hc.access_token(rc)

    out = json.loads(cli("keys", "import", "--pem", str(path), "--json").stdout)
    assert out["alg"] == "ES256" and out["state"] == "next" and out["tenant"] == tenant.name
    assert out["replaced_kids"] == [generated_next]
    kid = out["kid"]

    clock.advance(RELOAD_INTERVAL)  # the running server reloads its key set
    kids = await _jwks_kids(hc)
    assert kid in kids and generated_next not in kids
    assert jwt.get_unverified_header(await hc.access_token(rc))["kid"] != kid  # published, not signing
    assert f"{kid}\tES256\tnext" in cli("keys", "list").stdout

    clock.advance(hc.settings.jwks_max_age)
    rotated = cli("keys", "rotate")
    assert f"active key {kid}" in rotated.stdout
    clock.advance(RELOAD_INTERVAL)
    token = await hc.access_token(rc)
    assert jwt.get_unverified_header(token)["kid"] == kid
    # Verified with the operator's own public key, by an independent JOSE library.
    claims = jwt.decode(
        token,
        key.public_key(),
        algorithms=["ES256"],
        options={"verify_aud": False, "verify_iat": False, "verify_exp": False, "verify_nbf": False},
    )  # the fixed clock: only the signature matters here
    assert claims["client_id"] == rc.client_id
    assert (await hc.introspect(rc, first_token))["active"] is True  # the retired key still verifies

    logged = "\n".join(r.getMessage() + " " + str(r.__dict__) for r in caplog.records)
    assert all(line not in logged for line in _secret_lines(pem))


async def test_service_import_emits_a_clean_event_and_refuses_duplicates(h: Harness) -> None:
    seen = recorder(h)
    tenant = await h.tenant()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der, alg = load_private_pem(_pem(key), SigningAlg.PS256)
    result = await h.c.keys.import_key(tenant.id, der, alg)
    assert result.alg is SigningAlg.PS256 and result.replaced_kids == () and result.active_kid is None
    [event] = of(seen, EventType.SIGNING_KEY_IMPORTED)
    assert dict(event.metadata) == {"kid": result.kid, "alg": "PS256"}
    assert event.tenant_id == tenant.id and event.principal is None
    assert_clean(seen, *_secret_lines(_pem(key)))
    stored = {k.kid: k for k in (await h.c.keys.load(tenant.id)).keys}
    assert stored[result.kid].state is KeyState.NEXT and der not in stored[result.kid].private_enc

    with pytest.raises(AlreadyExists, match=f"kid {result.kid}"):
        await h.c.keys.import_key(tenant.id, der, alg)
    # The same key for RS256: the same thumbprint, so the same kid: refused too.
    with pytest.raises(AlreadyExists):
        await h.c.keys.import_key(tenant.id, der, SigningAlg.RS256)
    # Promoted by a rotation of its algorithm, it is still the same key.
    assert (await h.c.keys.rotate(tenant.id, SigningAlg.PS256)).active_kid == result.kid
    with pytest.raises(AlreadyExists, match="active"):
        await h.c.keys.import_key(tenant.id, der, alg)
    assert len(of(seen, EventType.SIGNING_KEY_IMPORTED)) == 1


async def test_an_import_racing_a_rotation_changes_nothing(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = await h.tenant()
    seen = recorder(h)
    repo = h.c.keys._repo
    real_list = repo.list

    async def list_then_rotate(tenant_id: str) -> object:
        keys = await real_list(tenant_id)
        monkeypatch.setattr(repo, "list", real_list)
        assert (await h.c.keys.rotate(tenant_id, SigningAlg.ES256)).rotated
        return keys

    monkeypatch.setattr(repo, "list", list_then_rotate)
    der, alg = load_private_pem(_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(Conflict, match="try again"):
        await h.c.keys.import_key(tenant.id, der, alg)
    assert of(seen, EventType.SIGNING_KEY_IMPORTED) == []
    assert public_jwk(der, alg)["kid"] not in {k.kid for k in await real_list(tenant.id)}


async def test_cli_refusals(h: Harness, env: dict[str, str], tmp_path: Path) -> None:
    ec_key, rsa_key = ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)
    files = {
        "ec.pem": _pem(ec_key),
        "rsa.pem": _pem(rsa_key),
        "weak.pem": _pem(rsa.generate_private_key(65537, 1024)),  # noqa: S505  (refused: the point)
        "p384.pem": _pem(ec.generate_private_key(ec.SECP384R1())),
        "enc.pem": _pem(ec.generate_private_key(ec.SECP256R1()), PASSPHRASE),
        "public.pem": ec_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "not.pem": b"just some text\n",
        "large.pem": _pem(ec_key) + b"#" * (64 * 1024),
        "pass.txt": PASSPHRASE.encode() + b"\n",
        "wrong.txt": b"not the passphrase\n",
        "empty.txt": b"",
    }
    for name, data in files.items():
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_bytes(data)
    private = [s for n in ("ec.pem", "rsa.pem", "enc.pem") for s in _secret_lines(files[n])] + [PASSPHRASE]
    cli = functools.partial(make_cli(tmp_path, never_printed=private), extra=env)

    def refused(*args: str, code: int = 1) -> str:
        proc = cli("keys", "import", *args, ok=False)
        assert proc.returncode == code and proc.stdout == ""
        return str(proc.stderr)

    def pem(name: str) -> str:
        return str(tmp_path / "in" / name)

    assert "say which with --alg" in refused("--pem", pem("rsa.pem"))
    assert "an RSA key cannot sign ES256" in refused("--pem", pem("rsa.pem"), "--alg", "ES256")
    assert "EC P-256 key cannot sign EdDSA" in refused("--pem", pem("ec.pem"), "--alg", "EdDSA")
    assert "1024 bits" in refused("--pem", pem("weak.pem"), "--alg", "RS256")
    assert "needs a P-256 key" in refused("--pem", pem("p384.pem"))
    assert "public key" in refused("--pem", pem("public.pem"))
    assert "not a PEM" in refused("--pem", pem("not.pem"))
    assert "larger than 64 KiB" in refused("--pem", pem("large.pem"))
    assert "is not a file" in refused("--pem", pem("missing.pem"))
    assert "--passphrase-file" in refused("--pem", pem("enc.pem"))
    assert "wrong passphrase" in refused("--pem", pem("enc.pem"), "--passphrase-file", pem("wrong.txt"))
    assert "is empty" in refused("--pem", pem("enc.pem"), "--passphrase-file", pem("empty.txt"))
    assert "not encrypted" in refused("--pem", pem("ec.pem"), "--passphrase-file", pem("pass.txt"))
    assert "no tenant" in refused("--pem", pem("ec.pem"), "--tenant", "nowhere")
    assert "--alg" in refused("--pem", pem("ec.pem"), "--alg", "HS256", code=2)
    assert "--pem" in refused(code=2)

    tenant = await h.tenant()
    assert not any(
        k.state is KeyState.NEXT and k.alg is SigningAlg.PS256 for k in (await h.c.keys.load(tenant.id)).keys
    )
    done = cli("keys", "import", "--pem", pem("enc.pem"), "--passphrase-file", pem("pass.txt"))
    assert done.stdout.startswith("imported key ") and "keys rotate --tenant" in done.stderr
    rsa_done = json.loads(cli("keys", "import", "--pem", pem("rsa.pem"), "--alg", "RS256", "--json").stdout)
    assert rsa_done["alg"] == "RS256" and rsa_done["state"] == "next"
    assert "already has this key" in refused("--pem", pem("rsa.pem"), "--alg", "PS256")
