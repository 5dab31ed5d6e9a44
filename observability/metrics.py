"""Every metric Logwarden exposes, declared once, with its help text and bounded labels.

Build `Metrics(registry)` on a fresh `CollectorRegistry` in tests; the service uses the
process default from `get_metrics()`. Under prefork workers, `PROMETHEUS_MULTIPROC_DIR`
must be set (see `observability.prepare_multiprocess_dir`) before this module is first
imported, because prometheus_client picks its value store at import time.
"""

from __future__ import annotations

import bisect
import collections
import os
import threading
from collections.abc import Sequence
from typing import Any, Literal, TypeVar
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.metrics import MetricWrapperBase

from observability.labels import Label, Labelled, ServiceNames

PREFIX = "logwarden_"

SOURCE = Label("source", ("pubsub", "push", "file"))
BATCH_OUTCOME = Label("outcome", ("processed", "already_recorded", "failed"))
STAGE = Label("stage", ("mine", "detect", "store"))
SEVERITY = Label("severity", ("info", "warning", "critical"))
# unrecorded: an attempt whose sender stopped before recording how it went (counted when
# the message is claimed again), so the receiver may have it twice.
DELIVERY_STATUS = Label("status", ("sent", "retrying", "failed", "unrecorded"))
# over_budget: not sent at all, the budget or the fleet's rate limit was spent;
# circuit_open: not sent, the LLM failed repeatedly; every other outcome is a request made.
LLM_OUTCOME = Label(
    "outcome",
    ("ok", "invalid", "rate_limited", "error", "timeout", "over_budget", "circuit_open"),
)
TOKEN_KIND = Label("kind", ("prompt", "output"))
# deploy: a new version label in a service's entries; config: an admin-activity audit entry.
CHANGE_KIND = Label("kind", ("deploy", "config"))
INCIDENT_STATE = Label("state", ("firing", "acknowledged"))
INCIDENT_EVENT = Label("event", ("opened", "updated", "acknowledged", "resolved"))
REASON = Label("reason")  # pipeline.parsing.RejectReason values
DETECTOR = Label("detector")  # Finding.detector: "volume", "http/5xx", "rules/disk-full"
ANOMALY_TYPE = Label("anomaly_type")
# Receiver kinds (alerting.receivers.KINDS, and "other" for any other): a closed set, so
# each series is at zero from the start and a channel's first failure is an increase.
CHANNEL = Label(
    "channel", ("slack", "email", "webhook", "alertmanager", "console", "file", "other")
)
QUEUE = Label("queue")  # Celery queue names
# Logwarden's Celery tasks (workers/tasks.py), a closed set so that each shows at zero from
# the start; another task's retries count as "other".
TASK = Label(
    "task",
    ("logwarden.detect_batch", "logwarden.notify", "logwarden.escalate",
     "logwarden.check_silence", "logwarden.prune_accounting", "other"),
)
SERVICE = Label("service")  # a watched service, shaped and capped by `Metrics.service`

# Histogram buckets must be the same in every process of a multiprocess fleet: constants.
BATCH_ENTRY_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
STAGE_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
DELIVERY_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LLM_SECONDS_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
END_TO_END_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 90, 120, 180, 300, 600, 1800, 3600)

M = TypeVar("M", bound=MetricWrapperBase)
GaugeMode = Literal["livesum", "livemax", "max", "livemostrecent"]


class Metrics:
    """All of Logwarden's metrics, registered on `registry`; attributes are named as the
    exposed metrics without the `logwarden_` prefix."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._services = ServiceNames()
        self._declare_ingest(registry)
        self._declare_detection(registry)
        self._declare_alerting(registry)
        self._declare_fleet(registry)

    def _declare_ingest(self, r: CollectorRegistry) -> None:
        # Invariant: received = processed + duplicate + dead-lettered + redelivered, in the
        # end; the last three count each entry once, however often Pub/Sub delivers it.
        self.entries_received_total = _counter(
            r, "entries_received",
            "Log entry deliveries received, by where they came from (a redelivery too).", SOURCE
        )
        self.entries_redelivered_total = _plain_counter(
            r, "entries_redelivered",
            "Deliveries of entries a batch had counted already: Pub/Sub delivered them again.",
        )
        self.entries_processed_total = _counter(
            r, "entries_processed", "Log entries run through detection, by service.", SERVICE
        )
        self.entries_duplicate_total = _plain_counter(
            r, "entries_duplicate", "Log entries dropped because their insertId was already seen."
        )
        self.dead_letters_total = _counter(
            r, "dead_letters", "Inputs stored as dead letters, by reason; never retried.", REASON
        )
        self.ingest_lag_seconds = _labelled(
            Histogram,
            r,
            "ingest_lag_seconds",
            "Seconds from a log entry's timestamp to its arrival (Pub/Sub and push only: a "
            "replayed file is old by design).",
            (SOURCE,),
            buckets=END_TO_END_BUCKETS,
        )
        self.ingest_open_batch_entries = _gauge(
            r,
            "ingest_open_batch_entries",
            "Entries held in micro-batches not yet handed to the broker.",
            "livesum",  # each live ingest process holds its own
        )
        self.ingest_flow_paused = _gauge(
            r,
            "ingest_flow_paused",
            "1 while ingest has stopped pulling because too much is in flight.",
            "livemax",  # paused if any live process is paused
        )

    def _declare_detection(self, r: CollectorRegistry) -> None:
        self.batches_total = _counter(
            r, "batches", "Batches handled by detect_batch, by outcome.", BATCH_OUTCOME
        )
        self.batch_entries = _histogram(
            r, "batch_entries", "Entries per batch.", BATCH_ENTRY_BUCKETS
        )
        self.batch_seconds = _labelled(
            Histogram,
            r,
            "batch_seconds",
            "Seconds one batch spends in each stage of detection.",
            (STAGE,),
            buckets=STAGE_SECONDS_BUCKETS,
        )
        self.detector_findings_total = _counter(
            r, "detector_findings", "Findings returned, by detector.", DETECTOR
        )
        self.anomalies_total = _counter(
            r, "anomalies", "Anomalies stored, by type, severity and service.",
            ANOMALY_TYPE, SEVERITY, SERVICE,
        )
        # Grafana annotates the dashboards with these: the deploys Logwarden saw.
        self.changes_total = _counter(
            r, "changes", "Deploys and config changes seen in the logs, by kind and service.",
            CHANGE_KIND, SERVICE,
        )
        # Every worker converges on the same shared set: the largest count is the truth,
        # and summing would count each template once per process.
        self.templates = _gauge(r, "templates", "Distinct log templates known to the miner.", "max")
        self.end_to_end_seconds = _histogram(
            r,
            "end_to_end_seconds",
            "Seconds from a log entry's timestamp to its anomaly being stored.",
            END_TO_END_BUCKETS,
        )

    def _declare_alerting(self, r: CollectorRegistry) -> None:
        self.alerts_total = _counter(r, "alerts", "Alerts opened, by severity.", SEVERITY)
        self.incidents_total = _counter(
            r, "incidents",
            "Incident lifecycle events: opened, updated (grew), acknowledged, resolved.",
            INCIDENT_EVENT,
        )
        self.incidents_open = _labelled(
            Gauge, r, "incidents_open",
            "Open incidents by severity and state, as the latest sweep read them from Postgres.",
            (SEVERITY, INCIDENT_STATE),
            multiprocess_mode="livemostrecent",  # one shared truth, sampled by any sweep
        )
        self.silences_active = _gauge(
            r, "silences_active", "Silences in force, as the latest sweep read them.",
            "livemostrecent",
        )
        self.deliveries_total = _counter(
            r,
            "deliveries",
            "Alert delivery attempts, by channel and status.",
            CHANNEL,
            DELIVERY_STATUS,
        )
        self.delivery_seconds = _labelled(
            Histogram,
            r,
            "delivery_seconds",
            "Seconds one delivery attempt takes, by channel.",
            (CHANNEL,),
            buckets=DELIVERY_SECONDS_BUCKETS,
        )

    def _declare_fleet(self, r: CollectorRegistry) -> None:
        self.queue_depth = _labelled(
            Gauge,
            r,
            "queue_depth",
            "Tasks waiting in a broker queue, as last sampled.",
            (QUEUE,),
            # A sample of shared state: the latest live sample wins; summing or keeping
            # the maximum of stale samples would misreport a draining queue.
            multiprocess_mode="livemostrecent",
        )
        self.llm_requests_total = _counter(
            r, "llm_requests", "Escalations to the LLM, by outcome.", LLM_OUTCOME
        )
        self.llm_tokens_total = _counter(
            r, "llm_tokens", "LLM tokens used, prompt and output.", TOKEN_KIND
        )
        self.llm_cost_usd_total = _plain_counter(
            r, "llm_cost_usd", "Estimated LLM spend in US dollars, at the configured prices."
        )
        self.llm_request_seconds = _histogram(
            r, "llm_request_seconds", "Seconds one LLM request takes (requests made only).",
            LLM_SECONDS_BUCKETS,
        )
        self.task_retries_total = _counter(r, "task_retries", "Celery task retries, by task.", TASK)
        self.worker_processes = _gauge(
            r,
            "worker_processes",
            "Worker pool processes alive (each prefork child counts 1).",
            "livesum",  # a child that exits drops out (mark_process_dead)
        )

    def task(self, name: str) -> str:
        """`name` as a value for a `task` label: one of Logwarden's tasks, else "other"."""
        return name if name in TASK.values else "other"

    def service(self, name: str) -> str:
        """`name` as a value for a `service` label: shaped, and at most a few hundred."""
        return self._services(name)


def _counter(registry: CollectorRegistry, name: str, doc: str, *labels: Label) -> Labelled[Counter]:
    return _labelled(Counter, registry, name, doc, labels)


def _plain_counter(registry: CollectorRegistry, name: str, doc: str) -> Counter:
    return Counter(f"{PREFIX}{name}", doc, registry=registry)


def _gauge(registry: CollectorRegistry, name: str, doc: str, mode: GaugeMode) -> Gauge:
    return Gauge(f"{PREFIX}{name}", doc, registry=registry, multiprocess_mode=mode)


def _histogram(
    registry: CollectorRegistry, name: str, doc: str, buckets: tuple[float, ...]
) -> Histogram:
    return Histogram(f"{PREFIX}{name}", doc, registry=registry, buckets=buckets)


def _labelled(
    kind: type[M],
    registry: CollectorRegistry,
    name: str,
    doc: str,
    labels: tuple[Label, ...],
    **options: Any,
) -> Labelled[M]:
    names = [label.name for label in labels]
    metric = kind(f"{PREFIX}{name}", doc, names, registry=registry, **options)
    return Labelled(metric, labels)


def observe_many(histogram: Histogram, amounts: Sequence[float]) -> None:
    """`histogram.observe(amount)` for each amount (no exemplars), with one increment per
    bucket rather than per amount: on the ingest's per-entry path, an `observe` each cost
    more than batching the entry. prometheus_client has no bulk call, so this fills the
    child's own bucket and sum values, as `observe` does."""
    if not amounts:
        return
    histogram._raise_if_not_observable()
    bounds = histogram._upper_bounds  # ascending, the last +Inf: every amount has a bucket
    for index, count in collections.Counter(
        bisect.bisect_left(bounds, amount) for amount in amounts  # observe's `amount <= bound`
    ).items():
        histogram._buckets[index].inc(count)
    histogram._sum.inc(sum(amounts))


_default: Metrics | None = None
_default_lock = threading.Lock()


def get_metrics() -> Metrics:
    """The process's metrics on the default registry, created on first call."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Metrics(REGISTRY)
        return _default


def start_metrics_server(
    port: int,
    multiprocess: bool,
    *,
    addr: str = "0.0.0.0",
    registry: CollectorRegistry = REGISTRY,
) -> WSGIServer:
    """Serves `/metrics` on `port` (0: any free one; read `server_port`) from a daemon thread.

    In multiprocess mode it serves what every process wrote to `PROMETHEUS_MULTIPROC_DIR`
    (from a fresh registry, as prometheus_client requires), else `registry`.
    Stop it with `shutdown()` then `server_close()`.
    """
    if multiprocess:
        registry = CollectorRegistry()
        _multiprocess_collector(registry)
    server, _thread = _start_http_server(port, addr=addr, registry=registry)
    return server


def _multiprocess_collector(registry: CollectorRegistry) -> None:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise RuntimeError("multiprocess metrics need PROMETHEUS_MULTIPROC_DIR set at start-up")
    multiprocess.MultiProcessCollector(registry)


def mark_process_dead(pid: int) -> None:
    """Drops the `live*` gauges of a child that exited (call on `worker_process_shutdown`).

    Does nothing outside multiprocess mode.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
