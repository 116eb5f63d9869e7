"""Caches for per-user predictions: in-process by default, Redis when ``CACHE_URL`` is set.

One key per user holds that user's newest entry, tagged inside with the ratings version and the
feature version it was computed for; the caller serves it only when both tags match and otherwise
uses it as the base of an incremental update.

A Redis that fails (down, or hung: accepting connections and never answering) behaves as a miss
and a skipped write: every call waits at most REDIS_TIMEOUT_SECONDS, and after a failure a
circuit breaker skips Redis for REDIS_RETRY_SECONDS, so a hung Redis costs one request of each
worker about half a second per period and the others nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import pybreaker
import redis

# Connect and socket timeouts of every Redis client (cache and rate-limit counters): an answer
# from a healthy Redis on the network takes a millisecond.
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_CLIENT_OPTIONS = {
    "socket_timeout": REDIS_TIMEOUT_SECONDS,
    "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
}
# How long a failed Redis is left alone before one call tries it again.
REDIS_RETRY_SECONDS = 10.0

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
    """A Redis cache shared by every worker and machine; any Redis error counts as a miss.

    One failure opens the breaker: for ``retry_seconds`` no call reaches Redis (reads miss,
    writes are skipped), then one call tries it and closes the breaker if it answers.
    """

    def __init__(
        self,
        url: str,
        ttl_seconds: int,
        dumps: Callable[[Value], bytes],
        loads: Callable[[bytes], Value],
        retry_seconds: float = REDIS_RETRY_SECONDS,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._dumps, self._loads = dumps, loads
        self._client = redis.Redis.from_url(url, **REDIS_CLIENT_OPTIONS)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=1, reset_timeout=retry_seconds, name="redis cache"
        )

    def _call(self, what: str, command: Callable[[], object]) -> object | None:
        """``command``'s answer, or None when Redis failed now or recently."""
        try:
            return self._breaker.call(command)
        except pybreaker.CircuitBreakerError as error:
            # The tripping call's own error rides along as __context__; a call skipped while
            # the breaker is open has none and is not worth a log line.
            if isinstance(error.__context__, redis.RedisError):
                log.warning(
                    "cache %s failed, going on without Redis for %g s: %s",
                    what,
                    self._breaker.reset_timeout,
                    error.__context__,
                )
            return None
        except redis.RedisError as error:
            # A failed trial call while half-open: the breaker is open again.
            log.warning("cache %s failed: %s", what, error)
            return None

    def get(self, key: str) -> Value | None:
        raw = self._call("read", lambda: self._client.get(key))
        return None if raw is None else self._loads(raw)  # type: ignore[arg-type]

    def set(self, key: str, value: Value) -> None:
        data = self._dumps(value)
        self._call("write", lambda: self._client.set(key, data, ex=self.ttl_seconds))

    def delete(self, key: str) -> None:
        self._call("delete", lambda: self._client.delete(key))
