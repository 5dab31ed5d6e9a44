"""A least-recently-used cache bounded by its entries and by their size.

Caches keyed by log lines hold a few bytes a line on most services, but a service that
logs stack traces or long dumps would fill the same count of entries with a hundred times
the memory: each entry counts its own size too (characters, as the caller reckons them).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from itertools import compress, repeat
from operator import is_, is_not, itemgetter
from typing import Generic, TypeVar, cast

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLru(Generic[K, V]):
    """At most `max_items` entries whose sizes add up to at most `max_size`; the least
    recently used go first. An entry larger than `max_size` is not kept at all."""

    __slots__ = ("_items", "_size", "max_items", "max_size")

    def __init__(self, max_items: int, max_size: int) -> None:
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._size = 0
        self.max_items = max_items
        self.max_size = max_size

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def get_many(self, keys: Sequence[K]) -> list[V | None]:
        """`get` of each key, in C: each found is then used last, in the order of `keys`."""
        items = self._items
        found = list(map(items.get, keys, repeat(_ABSENT)))
        deque(map(items.move_to_end, compress(keys, map(is_not, found, repeat(_ABSENT)))),
              maxlen=0)
        return list(map(_value, found))

    def get_run(self, keys: Sequence[K], start: int = 0) -> list[V]:
        """`get` of `keys[start]`, `keys[start + 1]` and on, up to the first key not held:
        the values found. A run is often short: its first keys are looked up one by one,
        the rest in C, four times as many each time while all are found, so a run that
        ends early looks up few keys past its end (those are not used)."""
        items = self._items
        values: list[V] = []
        end = min(start + _ONE_BY_ONE, len(keys))
        for key in keys[start:end]:
            found = items.get(key)
            if found is None:
                return values
            items.move_to_end(key)
            values.append(found[0])
        start, chunk = end, 4 * _ONE_BY_ONE
        while start < len(keys):
            part = keys[start : start + chunk]
            in_part = list(map(items.get, part))
            if not all(in_part):  # a None: each held key's (value, size) is true
                del in_part[in_part.index(None) :]
            held = cast(list[tuple[V, int]], in_part)  # none missing now
            deque(map(items.move_to_end, part[: len(held)]), maxlen=0)
            values += map(_value, held)
            if len(held) < len(part):
                break
            start += chunk
            chunk *= 4
        return values

    def get_making(
        self, keys: Sequence[K], make: Callable[[K], V], size: Callable[[K], int]
    ) -> list[V]:
        """`get` of each key in turn, and for a key not held, `put` of `make(key)` of
        `size(key)`: the values, and the cache after, as those steps give them. In C while
        no `put` could evict a key (every key held, or room for those not); otherwise a
        key at a time."""
        items = self._items
        found = list(map(items.get, keys))
        if not all(found):  # a None, read in C faster than `None in found`
            missing = dict.fromkeys(compress(keys, map(is_, found, repeat(None))))
            sizes = list(map(size, missing))
            if (len(items) + len(missing) > self.max_items
                    or self._size + sum(sizes) > self.max_size):
                return [self._got_or_made(key, make, size) for key in keys]
            made = {key: make(key) for key in missing}
            for (key, value), key_size in zip(made.items(), sizes, strict=True):
                items[key] = (value, key_size)
            self._size += sum(sizes)
            found = [pair or (made[key], 0) for key, pair in zip(keys, found, strict=True)]
        # Each used last in turn: the order each key's last step leaves.
        deque(map(items.move_to_end, keys), maxlen=0)
        return list(map(_value, cast(list[tuple[V, int]], found)))

    def _got_or_made(self, key: K, make: Callable[[K], V], size: Callable[[K], int]) -> V:
        value = self.get(key)
        if value is None:
            value = make(key)
            self.put(key, value, size(key))
        return value

    def put(self, key: K, value: V, size: int) -> None:
        if size > self.max_size:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._size -= old[1]
        self._items[key] = (value, size)
        self._size += size
        while len(self._items) > self.max_items or self._size > self.max_size:
            _, (_, evicted) = self._items.popitem(last=False)
            self._size -= evicted

    def clear(self) -> None:
        self._items.clear()
        self._size = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """The sizes of the entries held, added up."""
        return self._size


_ONE_BY_ONE = 4  # keys `get_run` looks up one at a time before it looks up many in C
_ABSENT = (None, 0)  # what `get_many` reads for a key not held: no value
_value = itemgetter(0)
