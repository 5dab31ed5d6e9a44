"""Observability for Logwarden: metrics (`metrics`), JSON logs (`logging`), traces (`tracing`).

Prometheus rules and Grafana dashboards live beside the code as files (`prometheus/`,
`grafana/`). This package imports nothing of ours, and this module imports none of its
submodules, so that `prepare_multiprocess_dir` can run before prometheus_client loads.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(path: Path) -> None:
    """Empties (or creates) `path` and points prometheus_client's multiprocess mode at it.

    Call once in the parent process at start-up, before the workers fork and before
    anything imports prometheus_client (it reads the variable at import); raises
    `RuntimeError` when it is already too late.
    """
    if "prometheus_client" in sys.modules and os.environ.get(MULTIPROC_ENV) != str(path):
        raise RuntimeError(
            "prometheus_client is already imported: call prepare_multiprocess_dir first"
        )
    # Files left by an earlier run would be summed into this run's counters.
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
