"""The fleet's StateStore: Redis, so that any worker can take any batch of any stream."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis


class RedisStateStore:
    """Keys live under `prefix`, so deployments can share a Redis database.

    A batch's states travel together: `get_many` is one MGET and `put_many` one MSET,
    one round trip each however many detectors there are.
    """

    def __init__(self, client: redis.Redis, prefix: str = "logwarden:") -> None:
        self._redis = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "logwarden:") -> RedisStateStore:
        return cls(redis.Redis.from_url(url), prefix)

    def get(self, key: str) -> bytes | None:
        value = self._redis.get(self._prefix + key)
        return value if value is None else bytes(value)

    def put(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        ttl = None if ttl_s is None else max(1, int(ttl_s))
        self._redis.set(self._prefix + key, value, ex=ttl)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        values = self._redis.mget([self._prefix + key for key in keys])
        return [value if value is None else bytes(value) for value in values]

    def put_many(self, values: Mapping[str, bytes]) -> None:
        if values:
            self._redis.mset({self._prefix + key: value for key, value in values.items()})
