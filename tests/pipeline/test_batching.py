"""Micro-batches per stream: closed on count, bytes, wait or event time, with entries
out of order (a pod whose clock is off, a straggler) kept in batches, not one a line."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable

import msgspec
import pytest

from pipeline.batch import MAX_WINDOWS, Batch, Batcher, BatchLimits, batch_id_for
from pipeline.entry import LogEntry
from tests.pipeline.detectors.factory import STREAM, entry

LIMITS = BatchLimits(max_entries=500, max_span_s=60.0, max_bytes=1_000_000, max_wait_s=5.0)


def feed(batcher: Batcher, entries: list[LogEntry]) -> list[Batch]:
    closed = [b for e in entries for b in batcher.add(e, now=0.0)]
    return closed + batcher.flush()


def seconds(batch: Batch) -> list[float]:
    return [round((e.timestamp_ns - batch.entries[0].timestamp_ns) / 1e9, 3) for e in batch.entries]


def test_entries_in_order_close_a_batch_as_time_passes_it() -> None:
    batcher = Batcher(LIMITS)
    entries = [entry("tick", at_s=t, n=t) for t in range(0, 200, 2)]
    closed_at = [i for i, e in enumerate(entries) if batcher.add(e, now=0.0)]
    assert closed_at == [31, 62, 93]  # the first entry past 60 s closes the batch at once
    rest = batcher.flush()
    assert len(rest) == 1 and len(rest[0].entries) == 7


def test_a_pod_minutes_ahead_does_not_cut_the_stream_into_single_lines() -> None:
    rng = random.Random(1)
    entries = [entry("served", at_s=i / 10 + (120 if rng.random() < 0.3 else 0), n=i)
               for i in range(6000)]  # ten minutes, a third of it from a pod 2 min ahead
    batches = feed(Batcher(LIMITS), entries)
    assert sum(len(b.entries) for b in batches) == len(entries)
    assert len(batches) <= 30  # the old batcher made one for every other line (~2,500)


def test_a_straggler_gets_a_batch_of_its_own_and_splits_nothing() -> None:
    entries = [entry("steady", at_s=i / 2, n=i) for i in range(100)]
    entries.insert(50, entry("late", at_s=-300.0))
    batches = feed(Batcher(LIMITS), entries)
    assert sorted(len(b.entries) for b in batches) == [1, 100]


def test_a_stream_keeps_a_bounded_number_of_windows_open() -> None:
    batcher = Batcher(LIMITS)
    for i in range(3 * MAX_WINDOWS):  # each entry further back than the last: a window each
        batcher.add(entry("back", at_s=-200.0 * i, n=i), now=0.0)
        assert batcher.pending <= MAX_WINDOWS
    assert len(batcher.flush()) == MAX_WINDOWS


def test_every_entry_comes_out_once_whatever_the_order() -> None:
    rng = random.Random(7)
    limits = BatchLimits(max_entries=50, max_span_s=60.0, max_bytes=4000, max_wait_s=5.0)
    batcher = Batcher(limits)
    entries = [entry("x" * rng.randint(1, 300), at_s=i / 5 + rng.uniform(-900, 900), n=i)
               for i in range(5000)]
    closed: list[Batch] = []
    for i, e in enumerate(entries):
        closed += batcher.add(e, now=i / 5)
        closed += batcher.due(now=i / 5)
    closed += batcher.flush()
    assert batcher.pending == 0
    assert Counter(e.insert_id for b in closed for e in b.entries) == Counter(
        e.insert_id for e in entries)
    for batch in closed:
        assert 0 < len(batch.entries) <= limits.max_entries
        assert sum(e.size for e in batch.entries) <= limits.max_bytes
        assert max(abs(s) for s in seconds(batch)) <= limits.max_span_s


def _mixed_streams() -> list[LogEntry]:
    rng = random.Random(3)
    return [
        msgspec.structs.replace(
            entry("x" * rng.randint(1, 300), at_s=i / 4 + rng.choice([0] * 30 + [70, -200]), n=i),
            service=rng.choice(["api", "api", "web"]),
        )
        for i in range(4000)
    ]


def _on_the_limits() -> list[LogEntry]:
    """Entries that reach each limit (6000 bytes, 60 s, 40 entries) and just pass it."""
    by_bytes = [entry("x" * (600 + (i % 10 == 0)), at_s=i / 100, n=i) for i in range(25)]
    by_span = [entry("y", at_s=1000 + s, n=i) for i, s in enumerate([0, 30, 60, 60.5, 121])]
    by_count = [entry("z", at_s=2000 + i / 100, n=i) for i in range(90)]
    return by_bytes + by_span + by_count


@pytest.mark.parametrize("entries", [_mixed_streams(), _on_the_limits()], ids=["mixed", "limits"])
def test_the_usual_case_step_batches_as_the_general_one(entries: list[LogEntry]) -> None:
    """`add` takes a shortcut for an entry that fits its stream's one window: the same
    batches, ids and closings come out as through the general path alone."""
    limits = BatchLimits(max_entries=40, max_span_s=60.0, max_bytes=6000, max_wait_s=5.0)

    def run(add_of: Callable[[Batcher], Callable[[LogEntry, float], list[Batch]]]) -> list[Batch]:
        batcher, closed = Batcher(limits), []
        add = add_of(batcher)
        for i, e in enumerate(entries):
            closed.append(add(e, i / 40))
            closed.append(batcher.due(now=i / 40))
        return [b for step in closed for b in step] + batcher.flush()

    def general(batcher: Batcher) -> Callable[[LogEntry, float], list[Batch]]:
        def add(e: LogEntry, now: float) -> list[Batch]:
            fields = (e.project, e.resource_type, e.service)
            return batcher._add(e, now, fields, batcher._open.get(fields))
        return add

    fast, slow = run(lambda b: b.add), run(general)
    assert Counter(len(b.entries) for b in fast)[limits.max_entries] >= 2
    assert [(b.key, b.id, b.entries) for b in fast] == [(b.key, b.id, b.entries) for b in slow]


def test_batch_ids_hash_each_delivery_after_a_nul() -> None:
    entries = [entry("é", n=1), entry("b", n=2, delivery_id="f.jsonl@1:7"),
               entry("c", n=3, delivery_id="ünï:1")]
    for chosen in ([], entries[:1], entries[1:], entries):  # none, some, all delivered
        digest = hashlib.blake2b(str(STREAM).encode(), digest_size=16)
        for delivery in sorted(e.delivery_key for e in chosen):
            digest.update(b"\x00" + delivery.encode())
        assert batch_id_for(STREAM, chosen) == digest.hexdigest()
