"""Celery tasks: thin, idempotent, each rebuilding typed objects and calling the domain."""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec
import redis
import zstandard
from celery import Celery, Task, current_app, shared_task
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from alerting.lifecycle import sweep_incidents
from alerting.notifier import Notifier
from alerting.outbox import deliver_due
from observability.metrics import get_metrics
from pipeline.batch import Batch
from pipeline.escalation.ledger import RedisLedger
from pipeline.escalation.request import EscalationRequest
from pipeline.parsing import RejectReason
from pipeline.processing import BatchProcessor, keep_failed_batch
from pipeline.silence_check import check_silent_streams
from pipeline.storage import DeadLetterRow, EntriesCountedMeanwhile, Store
from workers.escalation import (
    Escalation,
    build_escalation,
    decode_request,
    encode_request,
    llm_enabled,
)
from workers.runtime import (
    build_fleet_processor,
    build_notifiers,
    build_store,
    delivery_policy,
    freeze_startup_heap,
    message_extras,
    prune_past_retention,
)
from workers.settings import Settings

log = logging.getLogger(__name__)

# Transient trouble: retried with backoff; anything else is a bug. A batch that raced
# another for the same entries is simply processed again.
TRANSIENT = (OperationalError, RedisError, ConnectionError, TimeoutError,
             EntriesCountedMeanwhile)
DETECT_TASK = "logwarden.detect_batch"
NOTIFY_TASK = "logwarden.notify"
ESCALATE_TASK = "logwarden.escalate"


@dataclass(frozen=True)
class FleetRuntime:
    settings: Settings
    store: Store
    processor: BatchProcessor
    escalation: Escalation | None = None


@cache
def runtime() -> FleetRuntime:
    """Built once per worker process, after the fork (connections are not shared)."""
    settings = Settings()
    store = build_store(settings)
    processor = build_fleet_processor(settings, store)
    escalation = None
    if llm_enabled(settings):
        ledger = RedisLedger(redis.Redis.from_url(settings.redis_url), settings.redis_prefix)
        escalation = build_escalation(settings, store, ledger, send=send_escalation)
        processor.escalation = escalation.gate
    built = FleetRuntime(settings, store, processor, escalation)
    freeze_startup_heap()  # what this process keeps from now on: out of the collector's walks
    return built


def send_escalation(request: EscalationRequest) -> None:
    """To the `llm` queue, through this process's app (the default app in every worker)."""
    current_app.send_task(ESCALATE_TASK, args=[encode_request(request)], queue="llm",
                          retry=False)


@cache
def notifiers() -> dict[str, Notifier]:
    """Only workers that send build the channels (and need their secrets)."""
    return dict(build_notifiers(runtime().settings))


# A batch travels compressed inside the task's argument, not by Celery's compression,
# which the worker's main process undoes before piping the body to its pool process: so
# the main process inflates nothing, and pipes the pool process ~16 KB for 500 entries, not
# ~285 KB. Zstandard at level 1: against zlib at its fastest it compresses a batch in about
# two thirds of the CPU, and leaves 30 % fewer bytes (`tests.benchmarks.batch_wire`).
# No msgpack batch (a map) begins with Zstandard's frame magic or zlib's header.
_ZLIB_HEADER = zlib.compress(b"", 1)[:2]  # what earlier senders compressed with
_PAYLOAD_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeError, zlib.error,
                   zstandard.ZstdError)


def encode_batch(batch: Batch) -> bytes:
    """A batch as the detect task's argument: msgpack, compressed by Zstandard at level 1
    (batches are repetitive text: they shrink ~15x)."""
    return zstandard.compress(msgspec.msgpack.encode(batch), 1)


def batch_sender(app: Celery) -> Callable[[Batch], None]:
    """Sends batches to `detect` through `app`; a call returns once the broker holds it."""

    def send(batch: Batch) -> None:
        app.send_task(DETECT_TASK, args=[encode_batch(batch)], queue="detect", retry=False)

    return send


def decode_batch(payload: bytes | str) -> Batch:
    """The batch of a detect task. Earlier senders' payloads still read: a str is JSON,
    bytes with zlib's header were compressed by it, and other bytes are plain msgpack."""
    if isinstance(payload, str):
        return msgspec.json.decode(payload, type=Batch)
    if payload[:4] == zstandard.FRAME_HEADER:
        payload = zstandard.decompress(payload)
    elif payload[:2] == _ZLIB_HEADER:
        payload = zlib.decompress(payload)
    return msgspec.msgpack.decode(payload, type=Batch)


def keep_failed_payload(store: Store, payload: bytes | str, error: BaseException) -> int:
    """`keep_failed_batch` for a detect task's payload, which may not even be a batch."""
    try:
        batch = decode_batch(payload)
    except _PAYLOAD_ERRORS as exc:
        row = DeadLetterRow.of(RejectReason.PROCESSING_FAILED,
                               f"The detect task's payload is not a batch: {exc}",
                               "detect_batch", _raw(payload))
        added = store.add_dead_letters([row])
        get_metrics().dead_letters_total.labels(reason=row.reason).inc(added)
        return added
    return keep_failed_batch(store, batch, error)


def _raw(payload: object) -> bytes:
    if isinstance(payload, bytes):
        return payload
    return str(payload).encode("utf-8", "replace")


class DetectTask(Task):
    def on_failure(
        self,
        exc: BaseException,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        """Called once Celery gives up; the message is acked after this returns."""
        try:
            added = keep_failed_payload(runtime().store, args[0], exc)
        except Exception:
            # Not stored: hand the batch back to the queue rather than lose it.
            log.exception("keeping a failed batch failed; sent back to the queue")
            self.apply_async(args=args, queue="detect", countdown=60)
            return
        get_metrics().batches_total.labels(outcome="failed").inc()
        log.error("batch failed for good; its entries are dead letters",
                  extra={"task_id": task_id, "dead_letters": added, "error": repr(exc)})


@shared_task(
    bind=True,
    name=DETECT_TASK,
    base=DetectTask,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=8,
)
def detect_batch(self: Task, payload: bytes | str) -> None:
    """Processes one batch; running it twice changes nothing the second time."""
    batch = decode_batch(payload)
    outcome = runtime().processor.process(batch)
    log.info(
        "batch processed",
        extra={
            "batch_id": batch.id,
            "entries": outcome.entries,
            "anomalies": len(outcome.anomalies),
        },
    )
    if outcome.new_alert_ids or outcome.updated_alert_ids:
        self.app.send_task(NOTIFY_TASK, queue="notify")  # through this worker's app, explicitly


@shared_task(
    name=NOTIFY_TASK,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_jitter=True,
    max_retries=8,
)
def notify() -> None:
    """Sweeps the incidents (quiet ones resolve, firing ones repeat) and delivers whatever
    the outbox holds that is due; safe to run any number of times, on any worker.

    Sent after each batch that opened or grew an incident, and by beat every 30 s for
    resolutions, repeats, retries that came due and anything a lost notify left behind.
    """
    rt = runtime()
    sweep_incidents(rt.store, rt.settings.incident_policy(), time.time_ns())
    report = deliver_due(rt.store, notifiers(), policy=delivery_policy(rt.settings),
                         extras=message_extras(rt.settings))
    if report.more:  # a sweep's budget keeps it well inside the task's time limit
        notify.delay()


@shared_task(
    bind=True,
    name=ESCALATE_TASK,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_jitter=True,
    max_retries=5,
)
def escalate(self: Task, payload: str) -> None:
    """Reviews one anomaly with the LLM. Its alert went out already and stands whatever
    happens; a verdict edits its unsent messages or follows the sent ones up."""
    escalation = runtime().escalation
    if escalation is None:
        log.warning("an escalation arrived but LLM escalation is off here; dropped")
        return
    result = escalation.escalator.escalate(decode_request(payload))
    if result.verdict is not None:
        self.app.send_task(NOTIFY_TASK, queue="notify")


@shared_task(bind=True, name="logwarden.check_silence", autoretry_for=TRANSIENT, max_retries=2)
def check_silence(self: Task) -> None:
    """Beat, every minute: streams that stopped logging raise no batch of their own."""
    found = check_silent_streams(runtime().processor, time.time_ns())
    if found.anomalies:
        self.app.send_task(NOTIFY_TASK, queue="notify")


@shared_task(name="logwarden.prune_accounting", autoretry_for=TRANSIENT, max_retries=2)
def prune_accounting() -> None:
    """Beat, every hour: the ledger and entry outcomes past their retention go, so the
    tables that grow with every entry stay the size of their window."""
    rt = runtime()
    prune_past_retention(rt.store, rt.settings)
