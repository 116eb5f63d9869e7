"""Caches for per-user predictions: in-process by default, Redis when ``CACHE_URL`` is set.

One key per user holds that user's newest entry, tagged inside with the ratings version and the
feature version it was computed for; the caller serves it only when both tags match and otherwise
uses it as the base of an incremental update. A cache that fails (Redis down) behaves as a miss.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import redis

log = logging.getLogger(__name__)

Value = TypeVar("Value")


class Cache(Protocol[Value]):
    def get(self, key: str) -> Value | None: ...

    def set(self, key: str, value: Value) -> None: ...

    def delete(self, key: str) -> None: ...


def _one(_: object) -> int:
    return 1


class LRUCache(Generic[Value]):
    """A thread-safe in-process LRU cache holding at most ``max_size`` in total.

    Each value counts ``size_of(value)`` towards the total: 1 by default (a count of entries),
    or its bytes for large arrays. A value larger than the whole cache is not kept.
    """

    def __init__(self, max_size: int, size_of: Callable[[Value], int] = _one) -> None:
        self.max_size = max_size
        self.size_of = size_of
        self._entries: OrderedDict[str, tuple[Value, int]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Value | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def set(self, key: str, value: Value) -> None:
        size = self.size_of(value)
        with self._lock:
            self._pop(key)
            if size > self.max_size:
                return
            self._entries[key] = (value, size)
            self._total += size
            while self._total > self.max_size:
                self._pop(next(iter(self._entries)))

    def delete(self, key: str) -> None:
        with self._lock:
            self._pop(key)

    def _pop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._total -= entry[1]


class RedisCache(Generic[Value]):
    """A Redis cache shared by every worker and machine; any Redis error counts as a miss."""

    def __init__(
        self,
        url: str,
        ttl_seconds: int,
        dumps: Callable[[Value], bytes],
        loads: Callable[[bytes], Value],
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._dumps, self._loads = dumps, loads
        self._client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=0.5)
        self._error = redis.RedisError

    def get(self, key: str) -> Value | None:
        try:
            raw = self._client.get(key)
        except self._error as error:
            log.warning("cache read failed, computing without it: %s", error)
            return None
        return None if raw is None else self._loads(raw)

    def set(self, key: str, value: Value) -> None:
        try:
            self._client.set(key, self._dumps(value), ex=self.ttl_seconds)
        except self._error as error:
            log.warning("cache write failed: %s", error)

    def delete(self, key: str) -> None:
        try:
            self._client.delete(key)
        except self._error as error:
            log.warning("cache delete failed: %s", error)
