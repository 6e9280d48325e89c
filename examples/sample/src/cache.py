"""An LRU cache with time-to-live expiry, used in front of the backing store."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class ExpiringLRUCache(Generic[V]):
    """Keeps at most ``max_entries`` values; entries older than ``ttl`` seconds expire."""

    def __init__(self, max_entries: int = 10_000, ttl: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> V | None:
        """Return the cached value, or None when it is missing or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if self._clock() - stored_at > self.ttl:
            # Expired: drop it so the caller refetches from the backing store.
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        """Store a value, evicting the least recently used entry when full."""
        self._entries[key] = (self._clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, key: str) -> None:
        """Drop a key at once; called on every write and delete."""
        self._entries.pop(key, None)
