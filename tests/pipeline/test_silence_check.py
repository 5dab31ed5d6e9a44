"""The scheduled silence check finds a stream that stopped, once, and leaves others be."""

from __future__ import annotations

import migrations
from pipeline.batch import Batch
from pipeline.detectors import default_detectors
from pipeline.entry import LogEntry, Severity, StreamKey
from pipeline.processing import BatchProcessor
from pipeline.silence_check import check_silent_streams
from pipeline.state import InMemoryStateStore
from pipeline.storage import Store, make_engine
from pipeline.templates import TemplateMiner

T0 = 1_700_000_000 * 10**9
MINUTE = 60 * 10**9


def _batch(service: str, minute: int) -> Batch:
    entries = tuple(
        LogEntry(
            insert_id=f"{service}-{minute}-{i}",
            timestamp_ns=T0 + minute * MINUTE + i * 10**9,
            severity=Severity.INFO,
            message=f"served request {i} in {10 + i} ms",
            project="p",
            service=service,
            resource_type="k8s_container",
        )
        for i in range(5)
    )
    return Batch(StreamKey("p", "k8s_container", service), entries)


def test_a_stream_that_stops_is_reported_once(sqlite_url):
    migrations.upgrade(sqlite_url)
    store = Store(make_engine(sqlite_url))
    processor = BatchProcessor(
        miner=TemplateMiner(100),
        detectors=default_detectors(),
        state=InMemoryStateStore(),
        store=store,
    )
    for minute in range(90):
        processor.process(_batch("steady", minute))
        if minute < 60:
            processor.process(_batch("stops", minute))
    now = T0 + 90 * MINUTE
    found = check_silent_streams(processor, now).anomalies
    assert [(a.stream.service, a.anomaly_type) for a in found] == [("stops", "silence")]
    assert "has logged nothing for 31 minutes" in found[0].summary  # last entry at 59:04
    again = check_silent_streams(processor, now + MINUTE)  # the same silence, again
    assert again.anomalies == () and again.new_alert_ids == ()
    assert [a.anomaly_type for a in store.anomalies(service="stops")] == ["silence"]
    resumed = processor.process(_batch("stops", 95))  # the batch that ends the silence...
    assert any(f.detector == "silence" for f in resumed.findings)  # ...sees it too, but
    assert resumed.anomalies == ()  # it is the same silence, not a second one
    assert [a.anomaly_type for a in store.anomalies(service="stops")] == ["silence"]
