"""The audit record's canonical encoding and hash (domain/audit.py), the audited event types, the checkpoint
purpose (jose/purposes.py) and the CLI's time arguments (cli/audit.py)."""

from __future__ import annotations

import hashlib
import json

import pytest
import typer

from lukhas_id.cli.audit import parse_when
from lukhas_id.domain.audit import AUDITED, GENESIS_HASH, AuditRecord, canonical, format_time, record_hash
from lukhas_id.domain.events import EventType
from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose.jwt import InvalidToken, SigningKeyMaterial, TokenPurpose, VerificationKeySet, sign, verify
from lukhas_id.jose.keys import generate_private_key, public_jwk


def record(**changes: object) -> AuditRecord:
    fields: dict[str, object] = {
        "tenant_id": "t1",
        "seq": 1,
        "event_id": "4f0c",
        "type": "user.signed_in",
        "time_us": 1_800_000_000_123_456,
        "principal": "USR-1",
        "principal_type": "USR",
        "client_id": None,
        "trace_id": "ab" * 16,
        "origin": "/login",
        "metadata": {"method": "password", "amr": "pwd"},
        "prev_hash": GENESIS_HASH,
        "hash": "",
    }
    return AuditRecord(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_canonical_encoding_is_sorted_compact_utf8_json() -> None:
    body = record(origin="cli tenant create", metadata={"tenant_name": "zürich", "alg": "ES256"}).body()
    encoded = canonical(body)
    assert encoded.startswith(b'{"client_id":null,"id":"4f0c","metadata":{"alg":"ES256","tenant_name":"z\xc3\xbcrich"}')
    assert b" " not in encoded.replace(b"cli tenant create", b"")
    assert json.loads(encoded) == body
    # What a third party does with an export line: drop `hash`, re-encode, SHA-256.
    line = {**body, "hash": record_hash(body)}
    again = {k: v for k, v in json.loads(json.dumps(line)).items() if k != "hash"}
    third_party = json.dumps(again, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert hashlib.sha256(third_party).hexdigest() == line["hash"]


def test_every_member_but_the_hash_is_covered() -> None:
    base = record_hash(record().body())
    for change in (
        {"seq": 2}, {"event_id": "x"}, {"type": "user.disabled"}, {"time_us": 1_800_000_000_123_457},
        {"principal": "USR-2"}, {"principal_type": None}, {"client_id": "c"}, {"trace_id": None},
        {"origin": None}, {"metadata": {"method": "passkey", "amr": "pwd"}}, {"prev_hash": "1" * 64},
        {"tenant_id": "t2"},
    ):  # fmt: skip
        assert record_hash(record(**change).body()) != base, change
    assert record_hash(record(hash="anything").body()) == base


def test_time_is_rfc3339_utc_with_microseconds() -> None:
    assert format_time(0) == "1970-01-01T00:00:00.000000Z"
    assert format_time(1_800_000_000_000_001) == "2027-01-15T08:00:00.000001Z"


def test_every_event_type_is_audited() -> None:
    assert frozenset(EventType) == AUDITED


def test_the_checkpoint_purpose_takes_eddsa_only_and_is_no_access_token() -> None:
    ed = generate_private_key(SigningAlg.EDDSA)
    key = SigningKeyMaterial("k1", SigningAlg.EDDSA, ed)
    keys = VerificationKeySet([{**public_jwk(ed, SigningAlg.EDDSA), "kid": "k1"}])
    claims: dict[str, object] = {"iss": "urn:x", "sub": "t1", "iat": 1, "seq": 3, "hash": "ab"}
    jws = sign(claims, TokenPurpose.AUDIT_CHECKPOINT, key)
    assert verify(jws, TokenPurpose.AUDIT_CHECKPOINT, keys, issuer="urn:x", now=2)["seq"] == 3
    with pytest.raises(InvalidToken, match="typ"):
        verify(jws, TokenPurpose.ACCESS_TOKEN, keys, issuer="urn:x", now=2)
    es = SigningKeyMaterial("k2", SigningAlg.ES256, generate_private_key(SigningAlg.ES256))
    with pytest.raises(ValueError, match="cannot sign"):
        sign(claims, TokenPurpose.AUDIT_CHECKPOINT, es)
    for bad in ({**claims, "seq": -1}, {**claims, "seq": "3"}, {**claims, "seq": True}):
        with pytest.raises(ValueError, match="seq"):
            sign(bad, TokenPurpose.AUDIT_CHECKPOINT, key)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("24h", 1_000_000.0 - 86_400),
        ("7d", 1_000_000.0 - 7 * 86_400),
        ("90s", 1_000_000.0 - 90),
        ("30m", 1_000_000.0 - 1_800),
        ("2w", 1_000_000.0 - 14 * 86_400),
        ("1970-01-02T00:00:00Z", 86_400.0),
        ("1970-01-02T00:00:00", 86_400.0),
        ("1970-01-02T01:00:00+01:00", 86_400.0),
        ("1970-01-02", 86_400.0),
    ],
)
def test_when_is_iso_8601_or_a_duration_ago(value: str, expected: float) -> None:
    assert parse_when(value, 1_000_000.0, "--since") == expected


@pytest.mark.parametrize("value", ["yesterday", "24", "h24", "-1d", "1y", "", "2026-13-01"])
def test_anything_else_is_a_usage_error(value: str) -> None:
    with pytest.raises(typer.BadParameter, match="neither an ISO 8601 time"):
        parse_when(value, 1_000_000.0, "--since")
