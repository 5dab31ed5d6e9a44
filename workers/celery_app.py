"""The Celery app: Redis broker, three queues, late acks, bounded retries.

Tasks are idempotent (the batch ledger, unique keys), so a batch whose worker died is
simply delivered again (`acks_late` + `reject_on_worker_lost`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import msgspec
from celery import Celery
from kombu import Queue, compression, serialization

from workers.settings import Settings
from workers.task_privacy import hide_task_arguments

QUEUES = ("detect", "llm", "notify")
# Task bodies as msgpack (a batch travels as compressed msgpack bytes inside: no JSON, no
# escaping). Bodies themselves go uncompressed; earlier senders compressed them whole with
# COMPRESSION, which stays registered so that their messages still read.
SERIALIZER = "msgpack-lw"
COMPRESSION = "zlib-fast"


def register_wire_format() -> None:
    serialization.register(
        SERIALIZER, msgspec.msgpack.encode, msgspec.msgpack.decode,
        content_type="application/x-logwarden-msgpack", content_encoding="binary",
    )
    compression.register(
        lambda body: zlib.compress(body, 1), zlib.decompress,
        "application/x-logwarden-zlib", aliases=[COMPRESSION],
    )


def make_app(settings: Settings) -> Celery:
    hide_task_arguments()  # before anything is sent: batches are log text
    register_wire_format()
    app = Celery("logwarden", broker=settings.broker_url or settings.redis_url)
    app.conf.update(
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="detect",
        task_routes={
            "logwarden.detect_batch": {"queue": "detect"},
            "logwarden.escalate": {"queue": "llm"},
            "logwarden.notify": {"queue": "notify"},
            "logwarden.check_silence": {"queue": "detect"},
            "logwarden.prune_accounting": {"queue": "detect"},
        },
        task_serializer=SERIALIZER,
        accept_content=[SERIALIZER, "json"],  # json: beat's and older senders' messages
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=2,  # one batch in hand, one waiting
        task_time_limit=300,
        task_soft_time_limit=240,
        broker_transport_options=_transport_options(settings),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule={
            "sweep-outbox": {"task": "logwarden.notify", "schedule": 30.0},
            "check-silence": {"task": "logwarden.check_silence", "schedule": 60.0},
            "prune-accounting": {"task": "logwarden.prune_accounting", "schedule": 3600.0},
        },
    )
    return app


def _transport_options(settings: Settings) -> dict[str, object]:
    # A batch not acked within the visibility timeout is handed to another worker: keep
    # it longer than the time limit, so a slow batch is never run twice at once.
    # Every worker sweeps for such orphans (kombu's default, every 10th tick of 10 s, lets
    # them wait up to 100 s past the timeout).
    timeout = settings.broker_visibility_timeout_s
    options: dict[str, object] = {
        "visibility_timeout": timeout,
        "unacked_restore_interval": max(1.0, min(10.0, timeout / 4)),
        "unacked_restore_throttle": 1,
    }
    if settings.broker_prefix:
        options["global_keyprefix"] = settings.broker_prefix
    return options


def queue_depth(app: Celery, queue: str = "detect") -> Callable[[], int]:
    """A probe of how many tasks wait in `queue` (what the broker holds, not yet taken)."""
    connection = app.connection_for_read()

    def depth() -> int:
        # Not passive: Redis drops an empty list, and a passive declare calls that missing.
        declared = connection.default_channel.queue_declare(queue=queue)
        return int(declared.message_count)

    return depth
