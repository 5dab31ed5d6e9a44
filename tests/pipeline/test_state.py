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


def test_claims_recognise_duplicates_but_not_redelivery(store):
    assert store.claim(["x", "y"], "batch-1", 60) == [True, True]
    assert store.claim(["y", "z"], "batch-2", 60) == [False, True]
    # The same batch delivered again claims its own ids again.
    assert store.claim(["x", "y"], "batch-1", 60) == [True, True]
    assert store.claim([], "batch-3", 60) == []


def test_memory_claims_and_values_expire():
    clock = FakeClock()
    store = InMemoryStateStore(clock=clock)
    store.put("k", b"v", ttl_s=10)
    assert store.claim(["id"], "a", ttl_s=10) == [True]
    clock.now += 11
    assert store.get("k") is None
    assert store.claim(["id"], "b", ttl_s=10) == [True]


def test_memory_claims_are_bounded():
    store = InMemoryStateStore(max_claims=100)
    store.claim([f"id{i}" for i in range(1000)], "a", 60)
    assert store.claim(["id0"], "b", 60) == [True]  # the oldest were forgotten
    assert store.claim(["id999"], "b", 60) == [False]
