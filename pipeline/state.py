"""Detector state: small typed values per (detector, stream), kept by a StateStore.

Detectors never touch the store; the runner loads their state before a batch and
saves it after, all of a batch's states in one `get_many` and one `put_many` (for the
Redis store, one round trip each). (Duplicates are not state: they are found in the
database, which outlives a Redis restart.) Embedded mode and unit tests use the
in-memory store; the fleet uses the Redis one, so any worker can take any batch of any
stream.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Protocol


class StateStore(Protocol):
    def get(self, key: str) -> bytes | None:
        """The value stored under `key`, or None."""
        ...

    def put(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Stores `value`; it expires after `ttl_s` seconds when given."""
        ...

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values of `keys`, in order (None where there is none)."""
        ...

    def put_many(self, values: Mapping[str, bytes]) -> None:
        """Stores every value (no expiry)."""
        ...


class InMemoryStateStore:
    """The embedded and test twin of the Redis store, with TTLs."""

    def __init__(self, clock=time.monotonic) -> None:
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._clock = clock

    def get(self, key: str) -> bytes | None:
        item = self._values.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self._clock():
            del self._values[key]
            return None
        return value

    def put(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        expires = None if ttl_s is None else self._clock() + ttl_s
        self._values[key] = (value, expires)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.get(key) for key in keys]

    def put_many(self, values: Mapping[str, bytes]) -> None:
        for key, value in values.items():
            self.put(key, value)
