"""A task for a test's worker to import (`celery worker --include`): run in a pool process,
it writes that process's id and its BLAS libraries' thread counts to a file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from celery import shared_task

PROBE_TASK = "tests.blas_threads"


@shared_task(name=PROBE_TASK)
def blas_threads(path: str) -> None:
    from threadpoolctl import threadpool_info

    threads = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    partial = Path(f"{path}.part")
    partial.write_text(json.dumps({"pid": os.getpid(), "blas_threads": threads}))
    partial.rename(path)  # whole, once it is there
