"""Benchmark: a detect task's message, four ways, from the ingest's send to the pool process.

    python -m tests.benchmarks.batch_wire [--entries 500] [--batches 20]

Batches of the fleet benchmark's entries (one stream, `--entries` each) go through
kombu's own serializer and compression registries, as the ingest's send and a worker's
receive do, all four ways in the same run:
- first: the batch as a JSON string in a JSON body, the body compressed (zlib level 6);
- then: the batch as msgpack bytes in a msgpack body, the body compressed (zlib level 1);
- later: the batch as msgpack bytes compressed (zlib level 1) in an uncompressed msgpack body;
- now: the same, the batch compressed by Zstandard (level 1).

A worker receives in two processes: its main process reads the message from Redis
(base64), undoes the body's compression and pickles the body for its pool process, as
billiard does; the pool process unpickles it, loads the body and decodes the batch.
Printed: CPU ms per batch to send, in each receiving process, the bytes piped to the pool
process and the bytes on the broker (base64, as Redis holds it).
"""

from __future__ import annotations

import argparse
import base64
import pickle
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from kombu import compression, serialization

from pipeline.batch import Batch
from pipeline.entry import LogEntry
from pipeline.parsing import parse_pubsub_message
from tests.benchmarks.fleet import pool, rfc3339
from workers.celery_app import COMPRESSION, SERIALIZER, register_wire_format
from workers.tasks import decode_batch, encode_batch


def batches(entries: int, count: int) -> list[Batch]:
    stamp = b'"' + rfc3339(time.time_ns()) + b'"'
    parsed = (parse_pubsub_message(head.replace(b"@ID@", uuid.uuid4().hex.encode(), 1)
                                   + stamp + tail, {}, "", None)
              for head, tail in pool(5) * 4)
    by_stream: dict[object, list[LogEntry]] = {}
    for entry in parsed:
        if isinstance(entry, LogEntry):
            by_stream.setdefault(entry.stream_key, []).append(entry)
    made = []
    for members in by_stream.values():
        made += [Batch(chunk[0].stream_key, tuple(chunk))
                 for start in range(0, len(members) - entries + 1, entries)
                 if (chunk := members[start:start + entries])]
    return made[:count]


@dataclass(frozen=True)
class Way:
    name: str
    send: Callable[[Batch], bytes]
    body: Callable[[bytes], bytes]  # the worker's main process: the body it pipes
    batch: Callable[[bytes], Batch]  # the pool process: the batch of that body


def first_send(batch: Batch) -> bytes:
    payload = msgspec.json.encode(batch).decode()
    _, _, body = serialization.dumps(((payload,), {}, {}), serializer="json")
    return base64.b64encode(zlib.compress(body if isinstance(body, bytes) else body.encode(), 6))


def inflated(wire: bytes) -> bytes:
    return zlib.decompress(base64.b64decode(wire))


def first_batch(body: bytes) -> Batch:
    args, _, _ = serialization.loads(body, "application/json", "utf-8")
    return decode_batch(args[0])


def then_send(batch: Batch) -> bytes:
    _, _, body = serialization.dumps(((msgspec.msgpack.encode(batch),), {}, {}),
                                     serializer=SERIALIZER)
    squeezed, _ = compression.compress(body, COMPRESSION)
    return base64.b64encode(squeezed)


def msgpack_batch(body: bytes) -> Batch:
    args, _, _ = serialization.loads(body, "application/x-logwarden-msgpack", "binary")
    return decode_batch(args[0])


def later_send(batch: Batch) -> bytes:
    return _in_body(zlib.compress(msgspec.msgpack.encode(batch), 1))


def now_send(batch: Batch) -> bytes:
    return _in_body(encode_batch(batch))


def _in_body(argument: bytes) -> bytes:
    _, _, body = serialization.dumps(((argument,), {}, {}), serializer=SERIALIZER)
    return base64.b64encode(body)


def piped(body: bytes) -> bytes:
    """What the worker's main process writes to its pool process's pipe for a body."""
    return pickle.dumps((body, "application/x-logwarden-msgpack", "binary"),
                        protocol=pickle.HIGHEST_PROTOCOL)


def unpiped(job: bytes) -> bytes:
    return bytes(pickle.loads(job)[0])


WAYS = (
    Way("first: JSON in JSON, body zlib 6", first_send, inflated, first_batch),
    Way("then: msgpack in msgpack, body zlib 1", then_send, inflated, msgpack_batch),
    Way("later: zlib 1 msgpack in msgpack", later_send, base64.b64decode, msgpack_batch),
    Way("now: zstd 1 msgpack in msgpack", now_send, base64.b64decode, msgpack_batch),
)


def cpu_ms(work: Callable[[], object], repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        work()
    return (time.process_time() - started) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    register_wire_format()
    made = batches(args.entries, args.batches)
    n = len(made)
    print(f"{n} batches of {args.entries} entries; per batch, best of {args.repeat}:\n")
    print(f"{'':<40}{'send ms':>9}{'main ms':>9}{'pool ms':>9}{'piped':>9}{'broker':>9}")
    for way in WAYS:
        wires = [way.send(b) for b in made]
        jobs = [piped(way.body(w)) for w in wires]
        assert [way.batch(unpiped(j)) for j in jobs] == made

        def best(work: Callable[[], object]) -> float:
            return min(cpu_ms(work, 1) for _ in range(args.repeat)) / n

        send = best(lambda w=way: [w.send(b) for b in made])  # type: ignore[misc]
        main_ms = best(lambda w=way, ws=wires: [piped(w.body(x)) for x in ws])  # type: ignore[misc]
        pool_ms = best(lambda w=way, js=jobs: [w.batch(unpiped(j)) for j in js])  # type: ignore[misc]
        print(f"{way.name:<40}{send:>9.2f}{main_ms:>9.2f}{pool_ms:>9.2f}"
              f"{sum(map(len, jobs)) / n:>9,.0f}{sum(map(len, wires)) / n:>9,.0f}")


if __name__ == "__main__":
    main()
