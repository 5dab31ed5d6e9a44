"""What a worker does once at start-up, before its pool forks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from workers import worker


def started(*queues: str) -> SimpleNamespace:
    consume_from = {name: None for name in queues}
    return SimpleNamespace(app=SimpleNamespace(amqp=SimpleNamespace(
        queues=SimpleNamespace(consume_from=consume_from))))


def test_the_start_up_heap_is_frozen_after_its_garbage_is_collected() -> None:
    import gc
    import weakref

    from workers.runtime import freeze_startup_heap

    class Node:
        pass

    kept, cycle = Node(), Node()
    cycle.self = cycle  # type: ignore[attr-defined]  # garbage only a collection finds
    gone = weakref.ref(cycle)
    del cycle
    frozen_before = gc.get_freeze_count()
    try:
        freeze_startup_heap()
        assert gone() is None  # collected, not frozen with the rest
        assert gc.get_freeze_count() > frozen_before
        assert all(o is not kept for o in gc.get_objects())  # out of the collector's walks
    finally:
        gc.unfreeze()


def test_a_worker_freezes_its_heap_once_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[None] = []
    monkeypatch.setattr(worker, "freeze_startup_heap", lambda: calls.append(None))
    worker._freeze_consumer_heap(sender=started("detect"))
    assert calls == [None]
