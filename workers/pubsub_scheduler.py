"""The Pub/Sub subscriber's callback scheduler, without the client's thread pool."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from google.cloud.pubsub_v1.subscriber.message import Message
from google.cloud.pubsub_v1.subscriber.scheduler import Scheduler


class InlineScheduler(Scheduler):
    """Runs the pull callback at once, in the client thread that holds the message.

    The client's default hands every message to a pool of ten threads as a future of its
    own; for a callback that only puts the message on a queue, that hop cost more than
    the callback. So the callback must be quick and must never block (the client calls
    it with its flow-control lock held).
    """

    def __init__(self) -> None:
        self._requests: queue.Queue[Any] = queue.Queue()

    @property
    def queue(self) -> queue.Queue[Any]:
        """Where the messages put their acks and nacks, for the client's dispatcher."""
        return self._requests

    def schedule(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        callback(*args, **kwargs)

    def shutdown(self, await_msg_callbacks: bool = False) -> list[Message]:
        """Nothing waits here to be handed back: each message was handed over on arrival."""
        return []
