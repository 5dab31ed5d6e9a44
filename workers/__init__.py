"""The composition root: settings, the CLI, the Celery app and the ingest processes."""

import os

# numpy's BLAS computes with one thread in every Logwarden process (the run and the pool
# processes limit it so). Told before numpy loads, OpenBLAS starts no other threads: those
# spun idle for about 40 ms of CPU at every start-up. A value the user set stands.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
