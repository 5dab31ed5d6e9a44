"""`logwarden run` prunes its accounting as beat does in the fleet: the ledger batches and
entry outcomes recorded past `accounting_retention_days` go, batch and rows together, at
the run's start and then hourly while it runs; dead letters stay."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import migrations
from pipeline.batch import Batch
from pipeline.entry import LogEntry, Severity, StreamKey
from pipeline.state import LiveStateStore
from pipeline.storage import DeadLetterRow, Store, make_engine
from tests.workers.clirun import logwarden
from workers import embedded
from workers.embedded import run_embedded
from workers.gcp_feed import LineStream
from workers.runtime import build_processor
from workers.settings import BatchSettings, Settings


def settings(db: str) -> Settings:
    return Settings(database_url=db, channels=[], batch=BatchSettings(max_entries=10))


def record_at(db: str, when: datetime, service: str, batches: int) -> None:
    """Records `batches` batches of 10 entries of `service` through the real record path,
    on a store whose clock says `when` (so the ledger and outcome rows are stamped then)."""
    store = Store(make_engine(db), clock=lambda: when)
    processor = build_processor(settings(db), LiveStateStore(), store)
    now = time.time_ns()
    for _ in range(batches):
        processor.process(Batch(StreamKey("acme-prod", "k8s_container", service), tuple(
            LogEntry(insert_id=uuid.uuid4().hex, timestamp_ns=now + i * 1_000_000,
                     severity=Severity.INFO, message=f"GET /healthz 200 in {i} ms",
                     project="acme-prod", service=service, resource_type="k8s_container",
                     size=40)
            for i in range(10))))
    store.close()


def line(service: str, i: int) -> bytes:
    at = datetime.now(UTC) + timedelta(seconds=i)
    return json.dumps({
        "insertId": uuid.uuid4().hex, "timestamp": at.isoformat(), "severity": "INFO",
        "textPayload": f"GET /items/{i} 200 in {i % 7} ms",
        "resource": {"type": "k8s_container", "labels": {"project_id": "acme-prod",
                                                         "container_name": service}},
    }).encode() + b"\n"


def ledger(db: str) -> dict[str, tuple[int, int]]:
    """Per service: the ledger's batches and the outcome rows of its batches."""
    with make_engine(db).connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT l.stream, count(DISTINCT l.batch_id), count(o.delivery_id) "
            "FROM processed_batches l LEFT JOIN entry_outcomes o ON o.batch_id = l.batch_id "
            "GROUP BY l.stream").all()
        orphans = conn.exec_driver_sql(
            "SELECT count(*) FROM entry_outcomes WHERE batch_id NOT IN "
            "(SELECT batch_id FROM processed_batches)").scalar_one()
    assert orphans == 0, "outcome rows outlived their batch"
    return {str(stream).rsplit("/", 1)[-1]: (int(b), int(n)) for stream, b, n in rows}


def dead_letter_sources(db: str) -> list[str]:
    with make_engine(db).connect() as conn:
        return sorted(conn.exec_driver_sql("SELECT source FROM dead_letters").scalars())


def test_a_run_prunes_what_earlier_runs_recorded_past_the_retention(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'run.db'}"
    migrations.upgrade(db)
    now = datetime.now(UTC)
    record_at(db, now - timedelta(days=10), "old", batches=3)
    record_at(db, now - timedelta(days=2), "recent", batches=2)
    store = Store(make_engine(db))
    store.add_dead_letters([DeadLetterRow.of("malformed_json", "bad", "earlier@1", b"{",
                                             now - timedelta(days=10))])
    store.close()
    assert ledger(db) == {"old": (3, 30), "recent": (2, 20)}
    source = tmp_path / "new.jsonl"
    source.write_bytes(b"".join(line("new", i) for i in range(25)) + b"{not json\n")

    result = logwarden("run", "--from", str(source), cwd=tmp_path,
                       env={"LOGWARDEN_DATABASE_URL": db,
                            "LOGWARDEN_ACCOUNTING_RETENTION_DAYS": "8"})

    assert result.returncode == 0, result.stderr
    assert "all entries accounted for: yes" in result.stdout, result.stdout
    counts = dict(re.findall(r"^(entries|processed|dead letters) *(\d+)", result.stdout, re.M))
    assert counts == {"entries": "26", "processed": "25", "dead letters": "1"}, result.stdout
    kept = ledger(db)
    assert "old" not in kept  # the batches and their outcome rows, together
    assert kept["recent"] == (2, 20)
    assert kept["new"][1] == 25
    sources = dead_letter_sources(db)
    assert len(sources) == 2 and "earlier@1" in sources  # dead letters are the replay input
    audit = logwarden("audit", "--since", "9d", "--expect", str(20 + 25 + 1), cwd=tmp_path,
                      env={"LOGWARDEN_DATABASE_URL": db})
    assert audit.returncode == 0, audit.stdout + audit.stderr


@pytest.mark.parametrize(("every_s", "pruned"), [(0.2, True), (3600.0, False)])
def test_a_long_run_prunes_again_once_its_interval_has_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every_s: float, pruned: bool,
) -> None:
    """Rows that turn old while the run goes on (here: written old, mid-run) go at the
    first batch after the interval, and not before it."""
    monkeypatch.setattr(embedded, "PRUNE_EVERY_S", every_s)
    db = f"sqlite:///{tmp_path / 'long.db'}"

    def stream() -> Iterator[bytes]:
        yield from (line("live", i) for i in range(30))
        record_at(db, datetime.now(UTC) - timedelta(days=10), "old", batches=2)
        time.sleep(0.3)
        yield from (line("live", i) for i in range(30, 60))

    summary = run_embedded(LineStream(stream()), source_name="stream",  # type: ignore[arg-type]
                           settings=settings(db), progress=False)

    assert summary.accounted and summary.processed == 60
    kept = ledger(db)
    assert kept["live"][1] == 60
    assert ("old" in kept) is not pruned
