"""Beat's hourly prune, run by a real `logwarden worker`: the ledger and entry outcomes
older than their retention go, batch and rows together, and what is kept still audits."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import text

from pipeline.batch import Batch
from pipeline.entry import LogEntry, Severity, StreamKey
from pipeline.storage import make_engine
from tests.integration.cli_processes import CliWorker, run_cli
from tests.integration.fleet import FleetConfig, ledger, query, wait_until
from workers.tasks import batch_sender

pytestmark = pytest.mark.integration


def batch(service: str, count: int) -> Batch:
    now = time.time_ns()
    return Batch(StreamKey("acme-prod", "k8s_container", service), tuple(
        LogEntry(insert_id=uuid.uuid4().hex, timestamp_ns=now + i * 1_000_000,
                 severity=Severity.INFO, message=f"GET /healthz 200 in {i} ms",
                 project="acme-prod", service=service, resource_type="k8s_container",
                 size=40)
        for i in range(count)))


def age(database_url: str, service: str, days: int) -> None:
    """Makes one service's batches and outcome rows look `days` old."""
    engine = make_engine(database_url)
    shift = f"now() - interval '{days} days'"
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE entry_outcomes SET created_at = {shift} WHERE batch_id IN "
                          "(SELECT batch_id FROM processed_batches WHERE stream LIKE :s)"),
                     {"s": f"%/{service}"})
        conn.execute(text(f"UPDATE processed_batches SET created_at = {shift} "
                          "WHERE stream LIKE :s"), {"s": f"%/{service}"})
    engine.dispose()


def test_the_prune_task_forgets_old_batches_and_keeps_the_audit_whole(
    fleet: FleetConfig,
) -> None:
    env = {**fleet.env(), "LOGWARDEN_ACCOUNTING_RETENTION_DAYS": "8"}
    app = fleet.app()
    worker = CliWorker(fleet, "prune", [], env)
    try:
        worker.wait_ready(app, timeout=90)
        send = batch_sender(app)
        send(batch("old", 30))
        send(batch("recent", 20))
        wait_until(lambda: ledger(fleet.database_url)[0] == 2, 60, "both batches recorded")
        age(fleet.database_url, "old", days=10)

        app.send_task("logwarden.prune_accounting")  # what beat sends every hour
        wait_until(lambda: ledger(fleet.database_url)[0] == 1, 60, "the old batch pruned")
    finally:
        worker.stop()
        app.close()
    assert ledger(fleet.database_url)[1] == 20
    (rows,) = query(fleet.database_url, "SELECT count(*) FROM entry_outcomes")[0]
    assert rows == 20
    audit = run_cli(["audit", "--since", "30d", "--expect", "20"], env)
    assert audit.returncode == 0, audit.stdout + audit.stderr
