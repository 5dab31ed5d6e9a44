"""The composition root: settings, the CLI, the Celery app and the ingest processes."""

# Imported first by every entry point here: the pipeline's package tells numpy's BLAS to
# start one thread before numpy loads, and keeps `imports_for_good` for both layers.
from pipeline import imports_for_good

__all__ = ["imports_for_good"]
