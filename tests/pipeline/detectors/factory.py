"""Builds mined batches for detector tests without running the miner."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pipeline.batch import Batch
from pipeline.detectors.base import MinedBatch
from pipeline.entry import LogEntry, Severity, StreamKey

STREAM = StreamKey("acme-prod", "k8s_container", "checkout")
T0 = 1_700_000_000 * 1_000_000_000


def entry(
    message: str,
    *,
    at_s: float = 0.0,
    severity: Severity = Severity.INFO,
    n: int = 0,
    **fields: object,
) -> LogEntry:
    insert_id = hashlib.blake2b(f"{message}|{at_s}|{n}".encode(), digest_size=8).hexdigest()
    return LogEntry(
        insert_id=insert_id,
        timestamp_ns=T0 + int(at_s * 1e9),
        severity=severity,
        message=message,
        project=STREAM.project,
        service=STREAM.service,
        resource_type=STREAM.resource_type,
        size=len(message),
        **fields,  # type: ignore[arg-type]
    )


def mined(entries: Iterable[LogEntry], template_of=None) -> MinedBatch:
    """Each distinct message (or `template_of(message)`) is its own template."""
    entries = tuple(entries)
    shape = template_of or (lambda m: m)
    texts = [shape(e.message) for e in entries]
    ids = tuple("t" + hashlib.blake2b(t.encode(), digest_size=8).hexdigest() for t in texts)
    return MinedBatch(Batch(STREAM, entries), ids, dict(zip(ids, texts, strict=True)))
