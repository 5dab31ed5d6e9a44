"""The bounded LRU behind the line caches: by entries, by size, least recently used out."""

from __future__ import annotations

import pytest

from pipeline.lru import BoundedLru


def test_least_recently_used_goes_first_when_entries_overflow() -> None:
    cache = BoundedLru[str, int](max_items=2, max_size=100)
    cache.put("a", 1, 1)
    cache.put("b", 2, 1)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3, 1)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_sizes_bound_what_is_kept() -> None:
    cache = BoundedLru[str, str](max_items=1000, max_size=10)
    for key in "abcdef":
        cache.put(key, key.upper(), 3)
    assert len(cache) == 3 and cache.size == 9
    assert [cache.get(k) for k in "cdef"] == [None, "D", "E", "F"]
    cache.put("huge", "H", 11)  # larger than the whole bound: not kept, nothing evicted
    assert cache.get("huge") is None and len(cache) == 3


def test_putting_a_key_again_replaces_its_size() -> None:
    cache = BoundedLru[str, int](max_items=10, max_size=10)
    cache.put("a", 1, 8)
    cache.put("a", 2, 2)
    cache.put("b", 3, 8)
    assert (cache.get("a"), cache.get("b"), cache.size) == (2, 3, 10)


def test_falsy_values_are_found_and_clear_empties() -> None:
    cache = BoundedLru[str, tuple[int, ...]](max_items=10, max_size=10)
    cache.put("nothing read", (), 1)
    assert cache.get("nothing read") == ()
    cache.clear()
    assert cache.get("nothing read") is None and len(cache) == cache.size == 0


def test_no_entries_allowed_keeps_nothing() -> None:
    cache = BoundedLru[str, int](max_items=0, max_size=10)
    cache.put("a", 1, 1)
    assert cache.get("a") is None


def test_getting_many_finds_as_get_does_and_uses_them_in_order() -> None:
    cache = BoundedLru[str, object](max_items=4, max_size=100)
    for key, value in (("a", 1), ("b", ()), ("c", 0), ("d", "d")):
        cache.put(key, value, 1)
    assert cache.get_many(["c", "x", "b", "c"]) == [0, None, (), 0]
    cache.put("e", 5, 1)  # "a" and "d" were not used: "a" goes first, then "d"
    cache.put("f", 6, 1)
    assert [cache.get(k) for k in "adbc"] == [None, None, (), 0]
    assert cache.get_many([]) == []


@pytest.mark.parametrize("start", [0, 3, 40])
def test_getting_a_run_finds_and_uses_as_get_does_up_to_the_first_key_not_held(
    start: int,
) -> None:
    """A run longer than `get_run`'s first chunk, ended by a key not held: the values and
    the order of use afterwards are those of `get` of each key until that one."""
    keys = [f"k{i}" for i in range(100)]
    by_run, one_by_one = BoundedLru[str, int](60, 1000), BoundedLru[str, int](60, 1000)
    for cache in (by_run, one_by_one):
        for i, key in enumerate(keys[:50]):
            cache.put(key, i, 1)
    wanted = [keys[i % 50] for i in range(7, 7 + 45)] + ["absent"] + keys[:5]
    got = by_run.get_run(wanted, start)
    expected = []
    for key in wanted[start:]:
        value = one_by_one.get(key)
        if value is None:
            break
        expected.append(value)
    assert got == expected
    for cache in (by_run, one_by_one):  # 10 new keys: the 10 least recently used go
        for key in keys[50:70]:
            cache.put(key, 0, 1)
    assert [by_run.get(k) for k in keys] == [one_by_one.get(k) for k in keys]


def test_a_run_of_keys_all_held_or_none_held() -> None:
    cache = BoundedLru[str, int](10, 10)
    cache.put("a", 1, 1)
    assert cache.get_run(["a"] * 100) == [1] * 100
    assert cache.get_run(["b", "a"]) == [] and cache.get_run([]) == []
    assert cache.get_run(["a", "a"], start=2) == []


def _one_by_one(cache: BoundedLru[str, str], keys: list[str]) -> list[str]:
    """What `get_making` stands for: `get`, and `put` of what a key makes when missing."""
    values = []
    for key in keys:
        value = cache.get(key)
        if value is None:
            value = key.upper()
            cache.put(key, value, len(key))
        values.append(value)
    return values


@pytest.mark.parametrize(
    ("max_items", "max_size", "keys"),
    [
        (10, 100, ["a", "b", "a"]),  # all held
        (10, 100, ["", "a", ""]),  # an empty value held: still found
        (10, 100, ["a", "new", "b", "new", "c", "other"]),  # room for the missing
        (4, 100, ["new", "a", "other", "b", "new"]),  # a put evicts: one at a time
        (10, 12, ["a", "longer", "b", "longest"]),  # over the size bound
        (0, 100, ["a", "a"]),  # nothing kept
        (10, 100, []),
    ],
)
def test_getting_and_making_many_leaves_values_and_cache_as_one_by_one(
    max_items: int, max_size: int, keys: list[str]
) -> None:
    together, apart = BoundedLru[str, str](max_items, max_size), BoundedLru[str, str](
        max_items, max_size)
    for cache in (together, apart):
        for key in "cab":
            cache.put(key, key.upper(), 1)
    assert together.get_making(keys, str.upper, len) == _one_by_one(apart, keys)
    assert list(together._items.items()) == list(apart._items.items())  # and the order
    assert (len(together), together.size) == (len(apart), apart.size)
