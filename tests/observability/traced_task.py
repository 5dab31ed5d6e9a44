"""Run as `python -m tests.observability.traced_task SPANS_FILE`: sets up tracing and JSON
logging as a worker does, then runs an instrumented Celery task (eager) that opens spans
and logs; the spans land in SPANS_FILE, the log lines on stderr."""

from __future__ import annotations

import logging
import sys
from contextlib import suppress

from celery import Celery

from observability.logging import configure_logging
from observability.tracing import configure_tracing, instrument_celery, span

log = logging.getLogger("logwarden.example")


def main(spans_file: str) -> None:
    provider = configure_tracing("logwarden-test", f"file:{spans_file}")
    assert configure_tracing("other", "console") is provider  # one provider per process
    configure_logging("INFO")
    instrument_celery()
    instrument_celery()
    app = Celery("example", broker="memory://", set_as_current=False)
    app.conf.task_always_eager = True

    @app.task(name="logwarden.example")
    def example(batch_id: str) -> None:
        with span("detect", batch_id=batch_id, entries=3, skipped=None):
            log.info("detecting", extra={"batch_id": batch_id})

    example.delay("b-42")
    with suppress(ValueError), span("failing"):
        raise ValueError("boom")


if __name__ == "__main__":
    main(sys.argv[1])
