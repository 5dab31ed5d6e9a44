"""`logwarden dead-letters --replay`: batches that failed for good, processed again.

A batch the pipeline gave up on was stored as one `processing_failed` dead letter per
entry (source `batch:<id>#<index>`, the entry as JSON). Once the cause is fixed, each
batch is rebuilt from its letters, processed by the same `BatchProcessor`, and its
letters removed; a batch that fails again keeps them. Safe to run twice: a batch
already recorded is not stored again, its letters are just removed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import msgspec

from pipeline.batch import Batch
from pipeline.entry import LogEntry, StreamKey
from pipeline.parsing import RejectReason
from pipeline.processing import BatchProcessor
from pipeline.storage import DeadLetterRow, Store

log = logging.getLogger(__name__)


@dataclass
class ReplayReport:
    batches: int = 0  # processed again, letters removed
    entries: int = 0
    failed: int = 0  # batches that failed again (their letters stay)
    unreadable: int = 0  # letters that hold no whole entry (cut short, or not a batch)


def replay_failed_batches(store: Store, processor: BatchProcessor) -> ReplayReport:
    report = ReplayReport()
    groups: dict[str, list[tuple[int, DeadLetterRow]]] = defaultdict(list)
    for row in store.dead_letters(reason=RejectReason.PROCESSING_FAILED, limit=10**9):
        batch_id, _, index = row.source.removeprefix("batch:").partition("#")
        if row.source.startswith("batch:") and index.isdigit():
            groups[batch_id].append((int(index), row))
        else:
            report.unreadable += 1
    for batch_id, rows in sorted(groups.items()):
        rows.sort(key=lambda item: item[0])
        try:
            entries = [msgspec.json.decode(row.raw, type=LogEntry) for _, row in rows]
        except (msgspec.DecodeError, msgspec.ValidationError):
            report.unreadable += len(rows)
            continue
        first = entries[0]
        batch = Batch(StreamKey(first.project, first.resource_type, first.service),
                      tuple(entries), batch_id)
        try:
            processor.process(batch)
        except Exception:
            log.exception("replayed batch failed again", extra={"batch_id": batch_id})
            report.failed += 1
            continue
        store.delete_dead_letters([row.id for _, row in rows])
        report.batches += 1
        report.entries += len(entries)
    return report
