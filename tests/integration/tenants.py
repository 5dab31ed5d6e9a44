"""Two tenants' logs for API tests: the same service name in two Google Cloud projects,
each with twenty minutes of quiet traffic and then two minutes of refused connections.

Recorded through the real pipeline, either by `logwarden run --from FILE` into the
fleet's database (a replay: its incidents end resolved), or as minute batches sent to a
real worker (the fleet: its incidents stay open while they are recent)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

from celery import Celery

from pipeline.batch import Batch
from pipeline.entry import LogEntry
from pipeline.parsing import parse_pubsub_message
from tests.integration.cli_processes import run_cli
from tests.integration.fleet import FleetConfig
from workers.tasks import batch_sender

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
QUIET_S, BURST_S, AFTER_S = 1200, 120, 60


def _entry(project: str, service: str, n: int, second: int, start: datetime,
           rng: random.Random) -> dict[str, Any]:
    if QUIET_S <= second < QUIET_S + BURST_S and rng.random() < 0.8:
        message = (f"ERROR connection refused to db-{rng.randint(1, 3)}:5432 after "
                   f"{rng.randint(1, 9)} retries")
        severity = "ERROR"
    else:
        message = f"GET /api/items/{rng.randint(1, 999)} 200 in {rng.randint(3, 40)} ms"
        severity = "INFO"
    at = start + timedelta(seconds=second)
    return {
        "insertId": f"{project}-{service}-{n}",
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "severity": severity,
        "textPayload": message,
        "resource": {"type": "cloud_run_revision",
                     "labels": {"project_id": project, "service_name": service}},
        "logName": f"projects/{project}/logs/run.googleapis.com%2Fstderr",
    }


def tenant_entries(project: str, service: str = "checkout", start: datetime = START,
                   seed: int = 1) -> Iterator[dict[str, Any]]:
    """Two entries a second: quiet, the burst, and a minute of quiet after it."""
    rng = random.Random(seed)
    for second in range(QUIET_S + BURST_S + AFTER_S):
        for i in range(2):
            yield _entry(project, service, 2 * second + i, second, start, rng)


def record_tenant(fleet: FleetConfig, project: str, service: str = "checkout") -> None:
    """One tenant's logs through `logwarden run` into the fleet's Postgres."""
    path = fleet.workdir / f"{project}-{service}.jsonl"
    _write_lines(path, tenant_entries(project, service))
    done = run_cli(["run", "--from", str(path)], fleet.env())
    assert done.returncode == 0, done.stderr[-3000:]


def send_tenant(app: Celery, project: str, start: datetime, service: str = "checkout") -> int:
    """One tenant's logs as one batch per minute of log time, sent to the fleet's
    workers in order; returns how many batches."""
    entries = [parse_pubsub_message(json.dumps(e).encode(), {}, "", None)
               for e in tenant_entries(project, service, start)]
    assert all(isinstance(e, LogEntry) for e in entries)
    send = batch_sender(app)
    sent = 0
    for _, minute in groupby(entries, key=lambda e: e.timestamp_ns // 60_000_000_000):
        batch = tuple(e for e in minute if isinstance(e, LogEntry))
        send(Batch(batch[0].stream_key, batch))
        sent += 1
    return sent


def _write_lines(path: Path, entries: Iterator[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for entry in entries:
            out.write(json.dumps(entry) + "\n")


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of an API token."""
    return {"Authorization": f"Bearer {token}"}
