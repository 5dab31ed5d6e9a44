"""Detector state: small typed values per (detector, stream), kept by a StateStore.

Detectors never touch the store; the runner loads their state before a batch and
saves it after, all of a batch's states in one `get_many` and one `put_many` (for the
Redis store, one round trip each). (Duplicates are not state: they are found in the
database, which outlives a Redis restart.) Unit tests use the in-memory store; embedded
mode its live twin, which keeps each state as the object a detector returned; the fleet
uses the Redis one, so any worker can take any batch of any stream.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Protocol

import msgspec


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


class LiveStateStore(InMemoryStateStore):
    """The embedded run's store: each state is kept as the object the runner was given
    (`put_live`) and handed back as it is (`get_live`), so that no state is encoded after
    a batch nor decoded before the next; the stores differ in infrastructure only
    (invariant 7). Sound because a detector never changes a state it is handed (it
    returns a new one) and gives only values that encoding keeps as they are: the tests
    hold both, state by state, over a whole run of the bundled sample.

    Read as bytes (`get`, `get_many`), a live state is encoded on the way out."""

    def __init__(self, clock=time.monotonic) -> None:
        super().__init__(clock)
        self._live: dict[str, object] = {}

    def get_live(self, keys: Sequence[str]) -> list[object | None]:
        """Each key's value as kept: the object `put_live` was given, else the bytes
        `put` was given, else None."""
        live = self._live
        return [live[key] if key in live else super(LiveStateStore, self).get(key)
                for key in keys]  # fmt: skip

    def put_live(self, values: Mapping[str, object]) -> None:
        """Keeps each value as it is (no expiry), in place of what its key held."""
        for key in values:
            self._values.pop(key, None)
        self._live.update(values)

    def get(self, key: str) -> bytes | None:
        if key in self._live:
            return msgspec.msgpack.encode(self._live[key])
        return super().get(key)

    def put(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        self._live.pop(key, None)
        super().put(key, value, ttl_s)
