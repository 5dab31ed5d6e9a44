"""Detector state: small typed values per (detector, stream), kept by a StateStore.

Detectors never touch the store; the runner loads their state before a batch and
saves it after. Embedded mode and unit tests use the in-memory store; the fleet uses
the Redis one, so any worker can take any batch of any stream.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol


class StateStore(Protocol):
    def get(self, key: str) -> bytes | None:
        """The value stored under `key`, or None."""
        ...

    def put(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Stores `value`; it expires after `ttl_s` seconds when given."""
        ...

    def claim(self, keys: Sequence[str], owner: str, ttl_s: float) -> list[bool]:
        """Claims each key for `owner` unless another owner holds it.

        Returns, per key, True when it was free or already held by `owner` (so a
        redelivered batch claims its own ids again), False when someone else has it.
        This is how duplicate insert ids are recognised.
        """
        ...


class InMemoryStateStore:
    """The embedded and test twin of the Redis store; bounded, with TTLs."""

    def __init__(self, max_claims: int = 1_000_000, clock=time.monotonic) -> None:
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._claims: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._max_claims = max_claims
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

    def claim(self, keys: Sequence[str], owner: str, ttl_s: float) -> list[bool]:
        now = self._clock()
        results = []
        for key in keys:
            held = self._claims.get(key)
            if held is not None and held[1] > now and held[0] != owner:
                results.append(False)
                continue
            self._claims[key] = (owner, now + ttl_s)
            self._claims.move_to_end(key)
            results.append(True)
        while len(self._claims) > self._max_claims:
            self._claims.popitem(last=False)
        return results
