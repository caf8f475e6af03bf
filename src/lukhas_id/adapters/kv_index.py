"""KeyValueStore.index_add / index_remove's list arithmetic, shared by the adapters that run it in Python
(memory, SQL); the Redis adapter runs the same steps in Lua scripts (adapters/redis/state.py)."""

from __future__ import annotations

import orjson

from lukhas_id.ports.state import index_entries


def updated_index(raw: bytes | None, member: str, cap: int, drop: str = "") -> tuple[bytes, list[str]]:
    """(The new index as JSON, the entries that fell off, oldest first) for `member` added to the index
    `raw`, `drop` taken out."""
    entries = [e for e in index_entries(raw) if e not in (member, drop)]
    entries.append(member)
    cut = max(0, len(entries) - max(1, cap))
    return orjson.dumps(entries[cut:]), entries[:cut]


def index_without(raw: bytes | None, member: str) -> tuple[bytes | None, bool]:
    """(The index `raw` without `member` as JSON, None when nothing is left; whether `member` was in it)."""
    entries = index_entries(raw)
    if member not in entries:
        return raw, False
    rest = [e for e in entries if e != member]
    return (orjson.dumps(rest) if rest else None), True
