"""SQL key-value state: the KeyValueStore port (ports/state.py) on SQLite or PostgreSQL.

The embedded default keeps short-lived state (authorization codes, later sessions and challenges) in its
SQLite file, so that several workers and the CLI share it. Each call is one statement; single-use
values are taken with DELETE ... RETURNING, so of two concurrent pops exactly one gets the value.
Expiry follows the other stores: an entry is gone once `expires_at <= now` by the store's clock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from lukhas_id.adapters.kv_index import index_without, updated_index
from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.models import KeyValueRow
from lukhas_id.clock import Clock, SystemClock


def _ttl(ttl: float) -> float:
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    return ttl


class SqlKeyValueStore:
    def __init__(self, database: Database, clock: Clock | None = None) -> None:
        self._db = database
        self._clock: Clock = clock or SystemClock()

    def _insert(self) -> Any:
        return sqlite.insert(KeyValueRow) if self._db.is_sqlite else postgresql.insert(KeyValueRow)

    async def get(self, key: str) -> bytes | None:
        query = select(KeyValueRow.value, KeyValueRow.counter).where(
            KeyValueRow.key == key, KeyValueRow.expires_at > self._clock.now()
        )
        async with self._db.statement() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        value, counter = row
        return bytes(value) if value is not None else str(counter).encode()

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        expires_at = self._clock.now() + _ttl(ttl)
        stmt = self._insert().values(key=key, value=value, counter=None, expires_at=expires_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[KeyValueRow.key],
            set_={"value": stmt.excluded.value, "counter": None, "expires_at": stmt.excluded.expires_at},
        )
        async with self._db.statement() as conn:
            await conn.execute(stmt)

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        now = self._clock.now()
        stmt = self._insert().values(key=key, value=value, counter=None, expires_at=now + _ttl(ttl))
        # An expired entry counts as absent: replace it; a live one is left alone (no row returned).
        stmt = stmt.on_conflict_do_update(
            index_elements=[KeyValueRow.key],
            set_={"value": stmt.excluded.value, "counter": None, "expires_at": stmt.excluded.expires_at},
            where=KeyValueRow.expires_at <= now,
        ).returning(KeyValueRow.key)
        async with self._db.statement() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def pop(self, key: str) -> bytes | None:
        stmt = (
            delete(KeyValueRow)
            .where(KeyValueRow.key == key)
            .returning(KeyValueRow.value, KeyValueRow.counter, KeyValueRow.expires_at)
        )
        async with self._db.statement() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None or row[2] <= self._clock.now():
            return None
        value, counter, _ = row
        return bytes(value) if value is not None else str(counter).encode()

    async def delete(self, key: str) -> bool:
        stmt = delete(KeyValueRow).where(KeyValueRow.key == key).returning(KeyValueRow.expires_at)
        async with self._db.statement() as conn:
            expires_at = (await conn.execute(stmt)).scalar()
        return expires_at is not None and expires_at > self._clock.now()

    async def incr(self, key: str, ttl: float) -> int:
        now = self._clock.now()
        stmt = self._insert().values(key=key, value=None, counter=1, expires_at=now + _ttl(ttl))
        expired = KeyValueRow.expires_at <= now
        stmt = stmt.on_conflict_do_update(
            index_elements=[KeyValueRow.key],
            set_={
                "value": None,
                # A live counter counts on and keeps its window; an expired entry starts a new one.
                "counter": case((expired, 1), else_=KeyValueRow.counter + 1),
                "expires_at": case((expired, stmt.excluded.expires_at), else_=KeyValueRow.expires_at),
            },
        ).returning(KeyValueRow.counter)
        async with self._db.statement() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def index_add(
        self, key: str, member: str, *, cap: int, ttl: float, evict_prefix: str, drop: str = ""
    ) -> list[str]:
        now = self._clock.now()
        expires_at = now + _ttl(ttl)
        async with self._db.transaction() as session:  # SQLite: BEGIN IMMEDIATE, writers in turn
            if not self._db.is_sqlite:
                # PostgreSQL: make sure the row exists, then lock it, so that concurrent adds wait in turn
                # (FOR UPDATE locks nothing when there is no row yet).
                placeholder = self._insert().values(key=key, value=b"[]", counter=None, expires_at=now)
                await session.execute(placeholder.on_conflict_do_nothing(index_elements=[KeyValueRow.key]))
            query = select(KeyValueRow.value, KeyValueRow.expires_at).where(KeyValueRow.key == key).with_for_update()
            row = (await session.execute(query)).first()
            raw = bytes(row[0]) if row is not None and row[0] is not None and row[1] > now else None
            value, evicted = updated_index(raw, member, cap, drop)
            stmt = self._insert().values(key=key, value=value, counter=None, expires_at=expires_at)
            stmt = stmt.on_conflict_do_update(
                index_elements=[KeyValueRow.key],
                set_={"value": stmt.excluded.value, "counter": None, "expires_at": stmt.excluded.expires_at},
            )
            await session.execute(stmt)
            if evicted:
                await session.execute(
                    delete(KeyValueRow).where(KeyValueRow.key.in_([evict_prefix + entry for entry in evicted]))
                )
        return evicted

    async def index_remove(self, key: str, member: str, *, ttl: float) -> bool:
        now = self._clock.now()
        expires_at = now + _ttl(ttl)
        async with self._db.transaction() as session:  # the row locked, as index_add locks it
            query = select(KeyValueRow.value, KeyValueRow.expires_at).where(KeyValueRow.key == key).with_for_update()
            row = (await session.execute(query)).first()
            raw = bytes(row[0]) if row is not None and row[0] is not None and row[1] > now else None
            value, removed = index_without(raw, member)
            if not removed:
                return False
            if value is None:
                await session.execute(delete(KeyValueRow).where(KeyValueRow.key == key))
            else:
                await session.execute(
                    update(KeyValueRow).where(KeyValueRow.key == key).values(value=value, expires_at=expires_at)
                )
        return True

    async def purge_expired(self, now: float) -> int:
        stmt = delete(KeyValueRow).where(KeyValueRow.expires_at <= now)
        async with self._db.statement() as conn:
            return int((await conn.execute(stmt)).rowcount or 0)

    async def ping(self) -> None:
        await self._db.ping()
