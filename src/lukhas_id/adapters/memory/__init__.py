"""In-process adapters: state stores for the embedded default and for tests."""

from lukhas_id.adapters.memory.refresh import MemoryRefreshTokenStore
from lukhas_id.adapters.memory.state import MemoryKeyValueStore, MemoryTokenStateStore

__all__ = ["MemoryKeyValueStore", "MemoryRefreshTokenStore", "MemoryTokenStateStore"]
