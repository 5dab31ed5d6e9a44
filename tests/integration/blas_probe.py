"""A task for a test's worker to import (`celery worker --include`): run in a pool process,
it writes that process's id and its BLAS libraries' thread counts to a file. The count
itself serves the tests that look at other processes too."""

from __future__ import annotations

import json
import os
from pathlib import Path

from celery import shared_task

PROBE_TASK = "tests.blas_threads"


def blas_thread_counts() -> list[int]:
    """The thread count of each BLAS library loaded in this process."""
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@shared_task(name=PROBE_TASK)
def blas_threads(path: str) -> None:
    threads = blas_thread_counts()
    partial = Path(f"{path}.part")
    partial.write_text(json.dumps({"pid": os.getpid(), "blas_threads": threads}))
    partial.rename(path)  # whole, once it is there
