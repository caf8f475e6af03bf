"""KeyValueStore.index_add's list arithmetic, shared by the adapters that run it in Python (memory, SQL);
the Redis adapter runs the same steps in a Lua script (adapters/redis/state.py)."""

from __future__ import annotations

import orjson


def updated_index(raw: bytes | None, member: str, cap: int, drop: str = "") -> tuple[bytes, list[str]]:
    """(The new index as JSON, the entries that fell off, oldest first) for `member` added to the index
    `raw` (None or anything but a JSON list: empty; entries that are not strings are dropped)."""
    entries: list[str] = []
    if raw is not None:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, list):
            entries = [e for e in data if isinstance(e, str) and e not in (member, drop)]
    entries.append(member)
    cut = max(0, len(entries) - max(1, cap))
    return orjson.dumps(entries[cut:]), entries[:cut]
