"""What a worker does once at start-up, before its pool forks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from workers import worker


def started(*queues: str) -> SimpleNamespace:
    consume_from = {name: None for name in queues}
    return SimpleNamespace(app=SimpleNamespace(amqp=SimpleNamespace(
        queues=SimpleNamespace(consume_from=consume_from))))


@pytest.mark.parametrize(("queues", "imported"), [
    (("detect", "llm", "notify"), True), (("detect",), True), (("notify",), False),
])
def test_a_detect_worker_imports_the_forest_fitting_at_start_up(monkeypatch, queues, imported):
    calls: list[None] = []
    monkeypatch.setattr(worker, "isolation_forest", lambda: calls.append(None))
    worker._import_forest_fitting(sender=started(*queues))
    assert bool(calls) is imported
