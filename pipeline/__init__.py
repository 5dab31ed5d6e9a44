"""The domain: log entries, batches, templates, detectors, scoring and storage.

Three things every Logwarden process needs before the pipeline's modules load, whichever
of its modules it imports first: numpy's BLAS told to start one thread, Pydantic told to
look for no plugins, and `imports_for_good` for the imports that stay for the process's
life.
"""

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

# numpy's BLAS computes with one thread in every Logwarden process (the run and the pool
# processes limit it so). Told before numpy loads, OpenBLAS starts no other threads: those
# spun idle, about 0.1 s of CPU at every start of `logwarden run`. A value the user set
# stands. Here, not in `workers`: numpy is only ever imported through the pipeline, and a
# process may import the pipeline before anything of `workers`.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# Pydantic looks for plugins when it builds its first model: it reads the entry points of
# every installed distribution, about 30 ms of CPU at every start (its metadata files are
# parsed one by one). Logwarden uses no Pydantic plugin. A value the user set stands (an
# empty one loads the plugins again).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


@contextmanager
def imports_for_good() -> Iterator[None]:
    """Imports that stay for the process's life, kept out of the garbage collector's walks.

    The collector is off while they run, and what is alive after is frozen, as a worker's
    start-up heap is (`workers.runtime.freeze_startup_heap`, but without its collection
    first). `logwarden run` imports about 85,000 objects that never become garbage: the
    collector's passes over them as they came, and again once in the older generations,
    cost 60-80 ms of CPU, a tenth of the run's start. The few hundred objects a
    collection would have freed stay until the heap is unfrozen (a run unfreezes it when
    it ends, `workers.runtime.startup_heap_frozen`)."""
    if not gc.isenabled():  # off already (nested, or by the caller): left as it is
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
