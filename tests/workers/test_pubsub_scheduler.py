"""The ingest's Pub/Sub scheduler hands each message over in the thread that has it."""

from __future__ import annotations

import threading
from typing import Any

from workers.pubsub_scheduler import InlineScheduler


def test_the_callback_runs_at_once_in_the_calling_thread_and_nothing_is_left_to_drop() -> None:
    scheduler = InlineScheduler()
    seen: list[tuple[Any, ...]] = []
    scheduler.schedule(lambda *args: seen.append((*args, threading.current_thread())), "m1")
    assert seen == [("m1", threading.current_thread())]
    scheduler.queue.put("an ack request")  # where messages put their acks, for the client
    assert scheduler.queue.get_nowait() == "an ack request"
    assert scheduler.shutdown(await_msg_callbacks=True) == []
