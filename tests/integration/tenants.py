"""Two tenants' logs for API tests: the same service name in two Google Cloud projects,
each with half an hour of quiet traffic and then two minutes of refused connections,
recorded through the real pipeline (`logwarden run --from FILE` into the fleet's
database)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.cli_processes import run_cli
from tests.integration.fleet import FleetConfig

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
QUIET_S, BURST_S = 1200, 120


def _entry(project: str, service: str, n: int, at: datetime, rng: random.Random) -> dict:
    in_burst = QUIET_S <= (at - START).total_seconds() < QUIET_S + BURST_S
    if in_burst and rng.random() < 0.8:
        message = (f"ERROR connection refused to db-{rng.randint(1, 3)}:5432 after "
                   f"{rng.randint(1, 9)} retries")
        severity = "ERROR"
    else:
        message = f"GET /api/items/{rng.randint(1, 999)} 200 in {rng.randint(3, 40)} ms"
        severity = "INFO"
    return {
        "insertId": f"{project}-{service}-{n}",
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "severity": severity,
        "textPayload": message,
        "resource": {"type": "cloud_run_revision",
                     "labels": {"project_id": project, "service_name": service}},
        "logName": f"projects/{project}/logs/run.googleapis.com%2Fstderr",
    }


def write_logs(path: Path, project: str, service: str, seed: int = 1) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for second in range(QUIET_S + BURST_S + 300):
            at = START + timedelta(seconds=second)
            for i in range(2):
                out.write(json.dumps(_entry(project, service, 2 * second + i, at, rng)) + "\n")
    return path


def record_tenant(fleet: FleetConfig, project: str, service: str = "checkout") -> None:
    """One tenant's logs through `logwarden run` into the fleet's Postgres."""
    logs = write_logs(fleet.workdir / f"{project}-{service}.jsonl", project, service)
    done = run_cli(["run", "--from", str(logs)], fleet.env())
    assert done.returncode == 0, done.stderr[-3000:]
