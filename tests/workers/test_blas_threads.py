"""A Logwarden process loads numpy's BLAS with one thread unless its environment asks for
more: checked in new Python processes, as `logwarden` and the workers start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json, {first}, numpy
from tests.integration.blas_probe import blas_thread_counts
print(json.dumps(blas_thread_counts()))
"""


def blas_threads(environment: dict[str, str], first: str = "workers") -> list[int]:
    probe = PROBE.format(first=first)
    out = subprocess.run([sys.executable, "-c", probe], env=environment, cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def test_blas_starts_one_thread_and_a_value_the_user_set_stands() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert blas_threads(environment) == [1]
    assert blas_threads({**environment, "OPENBLAS_NUM_THREADS": "2"}) == [2]


def test_a_process_that_imports_the_pipeline_first_starts_one_thread_too() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert blas_threads(environment, first="pipeline.processing") == [1]
