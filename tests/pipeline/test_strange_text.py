"""Text no column should hold, from entry to stored anomaly, on SQLite and Postgres."""

from __future__ import annotations

import json

import migrations
from pipeline.batch import Batcher, BatchLimits
from pipeline.detectors import default_detectors
from pipeline.entry import LogEntry
from pipeline.parsing import parse_entry
from pipeline.processing import BatchProcessor
from pipeline.state import InMemoryStateStore
from pipeline.storage import Store, make_engine
from pipeline.templates import TemplateMiner

# NUL, the edges of the planes, a surrogate pair, right-to-left override, BEL.
STRANGE = "\u0000\ud7ff\ue000\ufffe\U0010ffff\U0001f600\u202e\u0007"


def _line(i: int) -> bytes:
    entry = {
        "insertId": f"id{STRANGE}{i}",
        "timestamp": f"2026-11-02T08:00:{i:02d}Z",
        "severity": "ERROR",
        "textPayload": f"java.lang.OutOfMemoryError: Java heap space {STRANGE} {i}",
        "labels": {f"k{STRANGE}": f"v{STRANGE}"},
        "resource": {"type": "k8s_container", "labels": {"container_name": f"api{STRANGE}"}},
    }
    return json.dumps(entry).encode()  # ensure_ascii: every one of them as a \u escape


def test_a_batch_of_strange_text_is_stored_with_its_anomaly(db_url: str) -> None:
    migrations.upgrade(db_url)
    store = Store(make_engine(db_url))
    processor = BatchProcessor(
        miner=TemplateMiner(100),
        detectors=default_detectors(),
        state=InMemoryStateStore(),
        store=store,
    )
    parsed = [parse_entry(_line(i)) for i in range(30)]
    entries = [e for e in parsed if isinstance(e, LogEntry)]
    assert len(entries) == 30, [e for e in parsed if not isinstance(e, LogEntry)]
    batcher = Batcher(BatchLimits())
    batches = [b for e in entries for b in batcher.add(e, 0.0)] + batcher.flush()
    outcomes = [processor.process(b) for b in batches]
    assert sum(o.processed for o in outcomes) == 30
    stored = store.anomalies()
    assert "resource_exhaustion" in {a.anomaly_type for a in stored}
    assert store.totals().processed == 30
    store.close()
