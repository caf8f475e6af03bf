"""Opaque access token records written before acr/auth_time existed still read back (Redis and SQL)."""

from __future__ import annotations

import json

import orjson

from lukhas_id.adapters.redis.state import _decode_record, _encode_record
from lukhas_id.adapters.sql.mapping import record_from_json, record_to_json
from lukhas_id.domain.token import AccessTokenRecord

OLD = AccessTokenRecord("t1", "j1", "c1", "SVC-1", "SVC", "api:read", ("urn:a",), 100, 200)
USER = AccessTokenRecord("t1", "j2", "c1", "USR-1", "USR", "openid", ("c1",), 100, 200, "urn:lukhas:acr:mfa", 90)


def test_redis_records_with_and_without_the_authentication() -> None:
    ten_fields = orjson.dumps([1, "t1", "j1", "c1", "SVC-1", "SVC", "api:read", ["urn:a"], 100, 200])
    assert _decode_record(ten_fields) == OLD
    assert _encode_record(OLD) == ten_fields  # a client token keeps the old layout
    assert _decode_record(_encode_record(USER)) == USER


def test_sql_records_with_and_without_the_authentication() -> None:
    old = json.loads(record_to_json(OLD))
    del old["acr"], old["auth_time"]
    assert record_from_json(json.dumps(old)) == OLD
    assert record_from_json(record_to_json(USER)) == USER
