"""Redis adapters: token state and TTL key-value state shared by every worker and process."""

from lukhas_id.adapters.redis.client import redis_client
from lukhas_id.adapters.redis.state import RedisKeyValueStore, RedisTokenStateStore

__all__ = ["RedisKeyValueStore", "RedisTokenStateStore", "redis_client"]
