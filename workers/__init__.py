"""The composition root: settings, the CLI, the Celery app and the ingest processes."""
