"""Benchmark: what one new template costs the fleet's shared tree, at two tree sizes.

    python -m tests.benchmarks.shared_tree [--sizes 1000,10000] [--changes 50]

Needs Redis on 127.0.0.1. For each size, two `SharedMiner`s (a writer and a reader, as
two workers would be) share a tree of that many templates; then the writer meets
`--changes` lines that each start a new template, and the reader catches up after each.
Printed per change: the writer's and the reader's CPU milliseconds (this process's CPU
time: the shared machine's neighbours do not count) and the bytes the writer
sent to Redis (counted at the client's socket, snapshots included when one falls due).
Beside them, from the same run and the same tree, what republishing the whole tree costs
(the fleet's former way of sharing a change): one snapshot written, one restored.
"""

from __future__ import annotations

import argparse
import random
import string
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from redis.connection import Connection

from pipeline.templates import TemplateMiner
from workers.shared_miner import SharedMiner

REDIS_URL = "redis://127.0.0.1:6379/14"


def distinct_lines(n: int, start: int = 0) -> list[tuple[str, int]]:
    """Lines of `n` templates that never merge, spread over Drain's prefix tree as real
    logs are (5 to 12 words, the first two from a vocabulary of 80): random words of
    letters (never masked), so no two lines differ at one position only."""
    vocabulary = ["".join(random.Random(-i).choices(string.ascii_lowercase, k=5))
                  for i in range(1, 81)]
    lines = []
    for i in range(start, start + n):
        rng = random.Random(i)
        head = [rng.choice(vocabulary), rng.choice(vocabulary)]
        tail = ("".join(rng.choices(string.ascii_lowercase, k=6))
                for _ in range(rng.randint(3, 10)))
        lines.append((" ".join([*head, *tail]), i))
    return lines


@contextmanager
def bytes_sent() -> Iterator[Callable[[], int]]:
    """Counts the bytes every redis-py connection of this process sends, while open."""
    sent = 0
    original = Connection.send_packed_command

    def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        nonlocal sent
        parts = [command] if isinstance(command, (bytes, str, memoryview)) else command
        sent += sum(len(p) for p in parts)
        original(self, command, check_health)

    Connection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield lambda: sent
    finally:
        Connection.send_packed_command = original  # type: ignore[method-assign]


@dataclass(frozen=True)
class Costs:
    size: int
    writer_ms: float
    reader_ms: float
    bytes_per_change: float
    snapshot_ms: float
    restore_ms: float
    snapshot_bytes: int


def measure(size: int, changes: int) -> Costs:
    prefix = f"lwbench-tree-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        writer = SharedMiner(client, 2 * size + changes, prefix)
        reader = SharedMiner(redis.Redis.from_url(REDIS_URL), 2 * size + changes, prefix)
        lines = distinct_lines(size)
        for start in range(0, size, 500):
            writer.mine_many(lines[start:start + 500])
        reader.mine_many([])
        assert len(reader.templates()) == len(writer.templates()) >= size * 0.99
        writer_s = reader_s = 0.0
        with bytes_sent() as sent:
            for line in distinct_lines(changes, start=size):
                started = time.process_time()
                writer.mine_many([line])
                writer_s += time.process_time() - started
                started = time.process_time()
                reader.mine_many([])
                reader_s += time.process_time() - started
            # the reader's catch-ups sent a little too: counted, not subtracted
            per_change = sent() / changes
        assert reader.position == writer.position
        started = time.process_time()
        snapshot = writer.miner.snapshot()
        snapshot_s = time.process_time() - started
        started = time.process_time()
        TemplateMiner.restore(snapshot, max_templates=2 * size + changes)
        restore_s = time.process_time() - started
    finally:
        for key in client.scan_iter(prefix + "*"):
            client.delete(key)
    return Costs(size, writer_s / changes * 1000, reader_s / changes * 1000, per_change,
                 snapshot_s * 1000, restore_s * 1000, len(snapshot))


def whole(costs: Costs) -> float:
    return costs.snapshot_ms + costs.restore_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000", help="templates in the tree")
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    results = [measure(int(size), args.changes) for size in args.sizes.split(",")]
    print(f"one new template, mean over {args.changes} changes\n")
    print(f"{'templates':>9} | {'writer ms':>9} {'reader ms':>9} {'bytes sent':>10} | "
          f"{'whole tree: write ms':>20} {'read ms':>8} {'bytes':>9}")
    for c in results:
        print(f"{c.size:>9,} | {c.writer_ms:>9.2f} {c.reader_ms:>9.2f} {c.bytes_per_change:>10,.0f}"
              f" | {c.snapshot_ms:>20.1f} {c.restore_ms:>8.1f} {c.snapshot_bytes:>9,}")
    small, large = results[0], results[-1]
    grow = large.size / small.size
    print(f"\ntree {grow:.0f}x larger: a change costs the writer "
          f"{large.writer_ms / small.writer_ms:.2f}x, the reader "
          f"{large.reader_ms / small.reader_ms:.2f}x, "
          f"{large.bytes_per_change / small.bytes_per_change:.2f}x the bytes; republishing the "
          f"whole tree {whole(large) / whole(small):.1f}x the time and "
          f"{large.snapshot_bytes / small.snapshot_bytes:.1f}x the bytes")


if __name__ == "__main__":
    main()
