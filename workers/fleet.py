"""Composition of the fleet's long-running processes: ingest and the push endpoint."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

import google.cloud.pubsub_v1 as pubsub_v1  # "from google.cloud import" trips mypy
import redis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from observability.tracing import configure_tracing, instrument_celery
from pipeline.batch import Batch
from pipeline.storage import Store
from workers.api import PREFIX, TokenTable, make_api_app
from workers.pubsub_ingest import IngestConfig, PubSubIngest
from workers.push import PushReceiver, make_push_app
from workers.push_auth import OidcPolicy, PushAuth
from workers.runtime import build_store, freeze_startup_heap, serve_metrics, setup_logging
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
                     max_outstanding=settings.ingest_max_outstanding,
                     max_entry_bytes=settings.max_entry_bytes,
                     record_timeout_s=settings.ingest_record_timeout_s),
        pubsub_v1.SubscriberClient(),
        build_store(settings),
        fleet_sender(),
        broker_depth(settings),
    )
    signal.signal(signal.SIGTERM, lambda *_: ingest.stop())
    signal.signal(signal.SIGINT, lambda *_: ingest.stop())
    freeze_startup_heap()
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


def api_mount(settings: Settings, store: Store) -> Mount | None:
    """The HTTP API under PREFIX, when any API token is configured (it is off otherwise)."""
    tokens = TokenTable.from_settings(settings.api.tokens)
    if not tokens:
        log.info("the HTTP API is off: no API token is configured (LOGWARDEN_API__TOKENS)")
        return None
    log.info("serving the HTTP API", extra={"path": PREFIX, "tokens": len(settings.api.tokens)})
    return Mount(PREFIX, make_api_app(store, tokens, notify_now=senders_waker()))


def senders_waker() -> Callable[[], None]:
    """Sends a notify task, so a message the API queued (an acknowledgement, a resolved
    notice) goes out now; if the broker is away, the beat's outbox sweep sends it."""
    from workers.tasks import NOTIFY_TASK
    from workers.worker import app

    def wake() -> None:
        try:
            app.send_task(NOTIFY_TASK, queue="notify")
        except Exception as error:
            log.warning("could not wake the senders; the outbox sweep will send the message",
                        extra={"error": type(error).__name__})

    return wake


def run_push(settings: Settings, host: str, port: int) -> None:
    """POST /pubsub/push, and the HTTP API beside it in the same process."""
    setup_logging(settings)
    serve_metrics(settings)
    start_tracing(settings, "logwarden-push")
    store = build_store(settings)
    receiver = PushReceiver(store, fleet_sender(), push_auth(settings),
                            settings.batch.limits(), settings.push_record_timeout_s)
    app = make_push_app(receiver)
    api = api_mount(settings, store)
    if api is not None:
        app.router.routes.append(api)
    uvicorn.run(app, host=host, port=port, log_config=None)


def run_api(settings: Settings, host: str, port: int) -> None:
    """The HTTP API alone, for a deployment that pulls from Pub/Sub and takes no pushes."""
    setup_logging(settings)
    serve_metrics(settings)
    api = api_mount(settings, build_store(settings))
    if api is None:
        raise SystemExit("logwarden api needs at least one token in LOGWARDEN_API__TOKENS "
                         "(`logwarden api-token` makes one)")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/healthz", healthz), api])
    uvicorn.run(app, host=host, port=port, log_config=None)
