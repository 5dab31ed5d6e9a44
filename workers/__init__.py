"""The composition root: settings, the CLI, the Celery app and the ingest processes."""

import os

# numpy's BLAS computes with one thread in every Logwarden process (the run and the pool
# processes limit it so). Told before numpy loads, OpenBLAS starts no other threads: those
# spun idle, about 0.1 s of CPU at every start of `logwarden run`. A value the user set
# stands.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
