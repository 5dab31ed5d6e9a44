"""A batch's time bounds are worked out once, and never travel with it: the detect task's
payload stays the stream key, the entries and the id, whatever was read before sending."""

from __future__ import annotations

import zlib

import msgspec
import zstandard

from pipeline.batch import Batch
from pipeline.entry import LogEntry, Severity, StreamKey
from workers.tasks import decode_batch, encode_batch

KEY = StreamKey("acme-prod", "k8s_container", "checkout")
T0 = 1_793_606_400 * 10**9


def batch_at(*seconds: int) -> Batch:
    entries = tuple(
        LogEntry(insert_id=f"e{i}", timestamp_ns=T0 + s * 10**9, severity=Severity.INFO,
                 message=f"line {i}", project=KEY.project, service=KEY.service,
                 resource_type=KEY.resource_type)
        for i, s in enumerate(seconds)
    )
    return Batch(KEY, entries)


def test_the_bounds_are_the_earliest_and_latest_entry_times() -> None:
    batch = batch_at(7, 3, 9, 5)
    assert (batch.start_ns, batch.end_ns) == (T0 + 3 * 10**9, T0 + 9 * 10**9)
    assert (Batch(KEY, ()).start_ns, Batch(KEY, ()).end_ns) == (0, 0)


def test_bounds_read_before_sending_are_not_in_the_payload() -> None:
    batch = batch_at(4, 1, 2)
    assert batch.start_ns == T0 + 10**9  # read, so cached on the instance
    payload = encode_batch(batch)
    assert set(msgspec.msgpack.decode(zstandard.decompress(payload))) == {"key", "entries", "id"}
    assert payload == encode_batch(batch_at(4, 1, 2))  # a batch never read encodes alike
    received = decode_batch(payload)
    assert received == batch
    assert (received.start_ns, received.end_ns) == (batch.start_ns, batch.end_ns)


def test_payloads_of_earlier_senders_still_read() -> None:
    """Batches queued before an upgrade: msgpack compressed by zlib, plain msgpack bytes
    before that, and JSON text before that."""
    batch = batch_at(5, 2)
    assert decode_batch(zlib.compress(msgspec.msgpack.encode(batch), 1)) == batch
    assert decode_batch(msgspec.msgpack.encode(batch)) == batch
    assert decode_batch(msgspec.json.encode(batch).decode()) == batch
    assert len(encode_batch(batch)) < len(msgspec.msgpack.encode(batch))
