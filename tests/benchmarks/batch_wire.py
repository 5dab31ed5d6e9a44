"""Benchmark: a detect task's message, the former way (JSON) against the current (msgpack).

    python -m tests.benchmarks.batch_wire [--entries 500] [--batches 20]

Batches of the fleet benchmark's entries (one stream, `--entries` each) go through
kombu's own serializer and compression registries, as the ingest's send and a worker's
receive do, both ways in the same run: the former body (the batch as a JSON string in a
JSON body, zlib level 6) and the current (the batch as msgpack bytes in a msgpack body,
zlib level 1). Printed: CPU ms per batch to encode and to decode, bytes on the broker
(base64, as Redis holds it), and the ratios.
"""

from __future__ import annotations

import argparse
import base64
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
    receive: Callable[[bytes], Batch]


def former_send(batch: Batch) -> bytes:
    payload = msgspec.json.encode(batch).decode()
    _, _, body = serialization.dumps(((payload,), {}, {}), serializer="json")
    return base64.b64encode(zlib.compress(body if isinstance(body, bytes) else body.encode(), 6))


def former_receive(wire: bytes) -> Batch:
    body = zlib.decompress(base64.b64decode(wire))
    args, _, _ = serialization.loads(body, "application/json", "utf-8")
    return decode_batch(args[0])


def current_send(batch: Batch) -> bytes:
    _, _, body = serialization.dumps(((encode_batch(batch),), {}, {}), serializer=SERIALIZER)
    squeezed, _ = compression.compress(body, COMPRESSION)
    return base64.b64encode(squeezed)


def current_receive(wire: bytes) -> Batch:
    body = compression.decompress(base64.b64decode(wire), "application/x-logwarden-zlib")
    args, _, _ = serialization.loads(body, "application/x-logwarden-msgpack", "binary")
    return decode_batch(args[0])


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
    ways = [Way("former: JSON in JSON, zlib 6", former_send, former_receive),
            Way("current: msgpack in msgpack, zlib 1", current_send, current_receive)]
    print(f"{len(made)} batches of {args.entries} entries; per batch, best of {args.repeat}:\n")
    print(f"{'':<38}{'send ms':>9}{'receive ms':>12}{'bytes':>9}")
    results = []
    for way in ways:
        wires = [way.send(b) for b in made]
        assert all(way.receive(w) == b for w, b in zip(wires, made, strict=True))
        send = min(cpu_ms(lambda w=way: [w.send(b) for b in made], 1)  # type: ignore[misc]
                   for _ in range(args.repeat))
        receive = min(cpu_ms(lambda w=way, ws=wires: [w.receive(x) for x in ws], 1)  # type: ignore[misc]
                      for _ in range(args.repeat))
        size = sum(map(len, wires)) / len(wires)
        results.append((send / len(made), receive / len(made), size))
        print(f"{way.name:<38}{send / len(made):>9.2f}{receive / len(made):>12.2f}{size:>9,.0f}")
    (s0, r0, b0), (s1, r1, b1) = results
    print(f"\ncurrent / former: send {s1 / s0:.2f}x, receive {r1 / r0:.2f}x, bytes {b1 / b0:.2f}x")


if __name__ == "__main__":
    main()
