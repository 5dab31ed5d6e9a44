"""A fleet worker's pool processes compute with one BLAS thread: checked from inside a
task run by a real prefork worker (`celery -A workers.worker worker`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.blas_probe import PROBE_TASK
from tests.integration.fleet import FleetConfig, WorkerProcess, wait_until

pytestmark = pytest.mark.integration


def test_a_worker_pool_process_computes_with_one_blas_thread(
    fleet: FleetConfig, tmp_path: Path
) -> None:
    app = fleet.app()
    # Even where the environment asks OpenBLAS for more threads, a pool process uses one.
    worker = WorkerProcess(fleet, "blas", concurrency=2, include="tests.integration.blas_probe",
                           env={"OPENBLAS_NUM_THREADS": "2"})
    try:
        worker.wait_ready(app)
        reports = [tmp_path / f"probe-{i}.json" for i in range(6)]
        for report in reports:
            app.send_task(PROBE_TASK, args=[str(report)], queue="detect")
        wait_until(lambda: all(r.exists() for r in reports), 60, "the probe tasks to report")
    finally:
        worker.stop()
        app.close()
    seen = [json.loads(r.read_text()) for r in reports]
    assert worker.process.pid not in {s["pid"] for s in seen}  # run in pool processes
    assert all(s["blas_threads"] and set(s["blas_threads"]) == {1} for s in seen), seen
