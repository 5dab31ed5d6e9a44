"""Entry point for `celery -A workers.worker worker|beat`: the app, built from settings,
with metrics, JSON logs and traces wired to the worker's life cycle."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import signals

from observability.metrics import get_metrics, mark_process_dead
from observability.tracing import configure_tracing, instrument_celery
from workers import tasks  # noqa: F401  (registers the tasks with the app)
from workers.celery_app import make_app
from workers.runtime import freeze_startup_heap, serve_metrics, setup_logging
from workers.settings import Settings

settings = Settings()
app = make_app(settings)
# Celery's current app is per thread: a send from any other thread (asyncio.to_thread,
# a pool) would otherwise resolve Celery's default app, amqp://localhost. Every send
# names `app` explicitly; this makes it the default too, for all threads of the process.
app.set_default()


@signals.setup_logging.connect
def _logging(**_: Any) -> None:
    setup_logging(settings)
    # One "succeeded" line per batch is noise at fleet rates. (Task arguments never reach
    # a log line: senders give a summary, see workers.task_privacy, and the handler drops
    # what Celery passes along.)
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)


@signals.worker_init.connect
@signals.beat_init.connect
def _serve_metrics(**_: Any) -> None:
    # The worker's main process serves its children's sum; beat serves its own.
    serve_metrics(settings)


@signals.worker_init.connect
@signals.worker_ready.connect
def _freeze_consumer_heap(**_: Any) -> None:
    # Before the pool forks (after the imports above), so pool processes start from a
    # frozen heap and each only freezes its own runtime on top; and once the main process
    # (the consumer) is ready, for what it built meanwhile.
    freeze_startup_heap()


@signals.worker_process_init.connect
def _one_blas_thread(**_: Any) -> None:
    # In each pool process, for its life. numpy's BLAS computes one product in the
    # pipeline, the learned detector's distances between a stream's recent windows at each
    # refit (a few hundred rows), and gains nothing from a second thread, which only spins
    # beside the first: on a refit of 360 windows 6-9 ms of CPU instead of 0.6. The numbers
    # are the same (the threads share out the rows of the result). As `logwarden run` does.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


@signals.worker_process_init.connect
def _trace_child(**_: Any) -> None:
    # Each prefork child needs its own exporter thread; the parent's does not survive fork.
    configure_tracing("logwarden-worker", settings.trace_exporter)
    instrument_celery()
    get_metrics().worker_processes.set(1)  # summed over the live children: the pool size


@signals.worker_process_shutdown.connect
def _child_gone(pid: int | None = None, **_: Any) -> None:
    mark_process_dead(pid or os.getpid())


@signals.task_retry.connect
def _count_retry(sender: Any = None, **_: Any) -> None:
    # sender is the task: one of Logwarden's few task names, a bounded label.
    metrics = get_metrics()
    metrics.task_retries_total.labels(task=metrics.task(getattr(sender, "name", ""))).inc()
