"""Composition of the fleet's long-running processes: ingest and the push endpoint."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

import google.cloud.pubsub_v1 as pubsub_v1  # "from google.cloud import" trips mypy
import redis
import uvicorn

from observability.tracing import configure_tracing, instrument_celery
from pipeline.batch import Batch
from workers.pubsub_ingest import IngestConfig, PubSubIngest
from workers.push import PushReceiver, make_push_app
from workers.push_auth import OidcPolicy, PushAuth
from workers.runtime import build_store, serve_metrics, setup_logging
from workers.settings import Settings
from workers.tasks import batch_sender

log = logging.getLogger(__name__)


def fleet_sender() -> Callable[[Batch], None]:
    """Sends batches through Logwarden's Celery app (never Celery's per-thread default),
    so it works from any thread; a call returns once the broker holds the batch."""
    from workers.worker import app  # configures logging, metrics and the app from settings

    return batch_sender(app)


def broker_depth(settings: Settings, queue: str = "detect") -> Callable[[], int]:
    """How many tasks wait in a Redis broker queue (the list Celery's Redis transport uses,
    under the broker's key prefix)."""
    client = redis.Redis.from_url(settings.broker_url or settings.redis_url)
    key = settings.broker_prefix + queue
    return lambda: int(client.llen(key))


def start_tracing(settings: Settings, service_name: str) -> None:
    """Traces this producer's sends: each batch's trace starts here and goes on in the
    worker that detects it (the context travels in the task's headers)."""
    configure_tracing(service_name, settings.trace_exporter)
    instrument_celery()


def run_ingest(settings: Settings, subscription: str) -> None:
    setup_logging(settings)
    serve_metrics(settings)
    start_tracing(settings, "logwarden-ingest")
    ingest = PubSubIngest(
        IngestConfig(subscription, settings.batch.limits(),
                     max_entry_bytes=settings.max_entry_bytes,
                     record_timeout_s=settings.ingest_record_timeout_s),
        pubsub_v1.SubscriberClient(),
        build_store(settings),
        fleet_sender(),
        broker_depth(settings),
    )
    signal.signal(signal.SIGTERM, lambda *_: ingest.stop())
    signal.signal(signal.SIGINT, lambda *_: ingest.stop())
    ingest.run()


def push_auth(settings: Settings) -> PushAuth:
    token = settings.push_token.get_secret_value() if settings.push_token else None
    oidc = None
    if settings.push_audience:
        oidc = OidcPolicy(settings.push_audience, settings.push_service_account or None,
                          settings.push_certs_url)
    if not token and oidc is None:
        raise SystemExit(
            "logwarden push needs LOGWARDEN_PUSH_TOKEN (the ?token= the subscription sends) "
            "or LOGWARDEN_PUSH_AUDIENCE (its OIDC audience)"
        )
    return PushAuth(token, oidc)


def run_push(settings: Settings, host: str, port: int) -> None:
    setup_logging(settings)
    serve_metrics(settings)
    start_tracing(settings, "logwarden-push")
    receiver = PushReceiver(build_store(settings), fleet_sender(), push_auth(settings),
                            settings.batch.limits(), settings.push_record_timeout_s)
    uvicorn.run(make_push_app(receiver), host=host, port=port, log_config=None)
