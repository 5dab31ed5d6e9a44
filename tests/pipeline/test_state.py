"""The in-memory and Redis state stores keep one contract."""

from __future__ import annotations

import uuid

import pytest
import redis

from pipeline.redis_state import RedisStateStore
from pipeline.state import InMemoryStateStore

REDIS_URL = "redis://127.0.0.1:6379/15"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        yield InMemoryStateStore()
        return
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"test-{uuid.uuid4().hex}:"
    yield RedisStateStore(client, prefix)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)


def test_get_put_roundtrip(store):
    assert store.get("a") is None
    store.put("a", b"\x00\xffvalue")
    assert store.get("a") == b"\x00\xffvalue"
    store.put("a", b"new")
    assert store.get("a") == b"new"


def test_memory_values_expire():
    clock = FakeClock()
    store = InMemoryStateStore(clock=clock)
    store.put("k", b"v", ttl_s=10)
    assert store.get("k") == b"v"
    clock.now += 11
    assert store.get("k") is None


def test_many_at_once_is_the_same_as_one_by_one(store):
    store.put("b", b"single")
    store.put_many({"a": b"\x00one", "c": b"three"})
    assert store.get_many(["a", "b", "missing", "c"]) == [b"\x00one", b"single", None, b"three"]
    assert store.get("a") == b"\x00one"
    assert store.get_many([]) == []
    store.put_many({})
