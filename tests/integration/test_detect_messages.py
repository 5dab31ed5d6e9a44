"""A detect message on the broker: the batch travels compressed inside the task's argument,
the body around it is not (the worker's main process pipes it to the pool process as it
came), and messages that earlier senders queued before an upgrade are still processed."""

from __future__ import annotations

import base64
import json
import zlib

import msgspec
import pytest
import redis
import zstandard

from pipeline.batch import Batch
from pipeline.entry import LogEntry, Severity, StreamKey
from tests.integration.fleet import REDIS_DB_URL, FleetConfig, query, wait_until
from workers.celery_app import COMPRESSION
from workers.tasks import DETECT_TASK, batch_sender

pytestmark = pytest.mark.integration

T0 = 1_793_606_400 * 10**9


def batch(service: str, n: int = 40) -> Batch:
    key = StreamKey("acme-fleet", "k8s_container", service)
    entries = tuple(
        LogEntry(insert_id=f"{service}-{i}", timestamp_ns=T0 + i * 10**8, severity=Severity.INFO,
                 message=f"GET /cart/{i} 200 in {i % 7} ms", project=key.project,
                 service=service, resource_type=key.resource_type)
        for i in range(n)
    )
    return Batch(key, entries)


def recorded(database_url: str) -> set[str]:
    return {row[0] for row in query(database_url, "SELECT batch_id FROM processed_batches")}


def test_the_batch_is_compressed_in_the_argument_not_the_body(fleet: FleetConfig) -> None:
    app = fleet.app()
    sent = batch("cart")
    batch_sender(app)(sent)
    app.close()
    broker = redis.Redis.from_url(REDIS_DB_URL)
    (raw,) = broker.lrange(fleet.prefix + "broker:detect", 0, -1)
    broker.close()
    message = json.loads(raw)
    assert "compression" not in message["headers"]
    (argument,), _, _ = msgspec.msgpack.decode(base64.b64decode(message["body"]))
    plain = msgspec.msgpack.encode(sent)
    assert zstandard.decompress(argument) == plain
    assert len(argument) < len(plain) / 3


def test_messages_of_earlier_senders_are_still_processed(fleet: FleetConfig, start_worker) -> None:
    start_worker("w1")
    app = fleet.app()
    zlib_arg, whole, json_text = batch("zlib-arg"), batch("whole-body"), batch("json-text")
    # msgpack compressed by zlib in the argument, as the last senders wrote; plain msgpack in
    # a body Celery compressed whole; JSON text, as the first senders wrote.
    app.send_task(DETECT_TASK, args=[zlib.compress(msgspec.msgpack.encode(zlib_arg), 1)],
                  queue="detect")
    app.send_task(DETECT_TASK, args=[msgspec.msgpack.encode(whole)], queue="detect",
                  compression=COMPRESSION)
    app.send_task(DETECT_TASK, args=[msgspec.json.encode(json_text).decode()], queue="detect")
    app.close()
    sent = {zlib_arg.id, whole.id, json_text.id}
    wait_until(lambda: recorded(fleet.database_url) == sent, 60, "all three batches recorded")
    (processed,) = query(fleet.database_url, "SELECT sum(processed) FROM processed_batches")
    assert processed[0] == 120
