"""Builds the parts from settings: the store, the processor, the notifiers.

Embedded mode and the fleet both build through here; they differ only in the state
store and in where batches go (invariant 7).
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta

import migrations
from alerting.console import ConsoleNotifier, FileNotifier
from alerting.extras import MessageExtras
from alerting.notifier import Notifier
from alerting.outbox import DeliveryPolicy
from alerting.receivers import build_receiver
from observability.logging import configure_logging
from observability.metrics import start_metrics_server
from pipeline.detectors import default_detectors
from pipeline.processing import BatchProcessor, Miner, ProcessingConfig
from pipeline.scoring import ScoringPolicy
from pipeline.state import StateStore
from pipeline.storage import Store, make_engine
from pipeline.templates import TemplateMiner
from workers.config_error import ConfigError
from workers.settings import Settings

log = logging.getLogger(__name__)


def freeze_startup_heap() -> None:
    """Moves every object alive now (modules, clients, detectors: what start-up built and
    keeps for the process's life) out of the garbage collector's reach, after one last
    collection. A long-running process then collects only what it made since: in the
    ingest and the workers, the full collections that walked the whole start-up heap
    (about 200,000 objects) again and again took about a sixth of the ingest's CPU."""
    gc.collect()
    gc.freeze()


@contextmanager
def startup_heap_frozen() -> Iterator[None]:
    """The heap frozen as `freeze_startup_heap` freezes it, for a run inside a longer
    process (`logwarden run`, which eval and the tests call again and again): it is given
    back to the collector afterwards, so that what the run built, frozen with the rest,
    can be freed. Without the collection first: its walk of the whole heap cost 40-50 ms,
    a tenth of `logwarden run`'s start, to free the few hundred objects start-up leaves.
    (What an earlier run in the same process left is frozen for this run's length, and
    freed after it.)"""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# Young objects a run lets pile up before the collector looks at them: Python's default
# is 700. A batch lives for a few hundred entries and makes a few objects each (batches,
# outcomes, detector rows), so at 700 the collector walked most of them before they were
# freed: 600-odd young collections, 50-odd middle ones and, as those add up, full walks of
# the heap. At 10,000 the dense run of 200,000 entries spent 10-15 ms collecting instead
# of 90-100 ms. Safe: nothing is left uncollected, only collected later; the young garbage
# that waits longer is at most 10,000 objects, a few megabytes at worst, and the dense run
# leaves a few hundred cyclic objects in all.
RUN_YOUNG_THRESHOLD = 10_000


@contextmanager
def young_collections_spaced() -> Iterator[None]:
    """The collector's young generation at `RUN_YOUNG_THRESHOLD` at least while a run
    lasts, then as it was (the other two thresholds as they are; a threshold of 0, the
    automatic collection off, stays off)."""
    before = gc.get_threshold()
    if 0 < before[0] < RUN_YOUNG_THRESHOLD:
        gc.set_threshold(RUN_YOUNG_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def setup_logging(settings: Settings) -> None:
    """The one logging set-up of every long-running process: JSON lines (unless
    `log_json` is off), secrets redacted, trace ids for Cloud Logging."""
    configure_logging(settings.log_level, json=settings.log_json, secrets=settings.secrets(),
                      trace_project=settings.trace_project)


def serve_metrics(settings: Settings) -> None:
    """Serves `/metrics` on `LOGWARDEN_METRICS_PORT` when it is set: every long-running
    process (ingest, push, a worker's main process, beat) calls this once at start-up.
    With `PROMETHEUS_MULTIPROC_DIR` set it serves what all of the process's children wrote."""
    if settings.metrics_port:
        multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        start_metrics_server(settings.metrics_port, multiprocess)


def build_store(settings: Settings, *, migrate: bool = False,
                schedule_clock: Callable[[], datetime] | None = None) -> Store:
    """The store; a replay passes the log's clock to time incidents and messages by."""
    if migrate:
        migrations.upgrade(settings.database_url)
    return Store(make_engine(settings.database_url), schedule_clock=schedule_clock)


def prune_past_retention(store: Store, settings: Settings) -> int:
    """The ledger and entry outcomes past `accounting_retention_days` go, batch and rows
    together (beat's hourly task in the fleet, the run itself in embedded mode); returns
    how many batches went. The cut-off is on the store's clock, the one that stamped them."""
    days = settings.accounting_retention_days
    pruned = store.prune_accounting(timedelta(days=days))
    if pruned:
        log.info("pruned %d batches older than %g days from the ledger", pruned, days)
    return pruned


def scoring_policy(settings: Settings) -> ScoringPolicy:
    return ScoringPolicy(
        sensitivity=settings.sensitivity, stream_sensitivity=settings.stream_sensitivity
    )


def build_processor(
    settings: Settings, state: StateStore, store: Store, miner: Miner | None = None
) -> BatchProcessor:
    return BatchProcessor(
        miner=miner or TemplateMiner(max_templates=settings.template_capacity),
        detectors=default_detectors(settings.rules_file),
        state=state,
        store=store,
        config=ProcessingConfig(
            policy=scoring_policy(settings),
            channels=tuple(settings.channels),
            incidents=settings.incident_policy(),
        ),
    )


def build_fleet_processor(settings: Settings, store: Store) -> BatchProcessor:
    """What every worker runs: detector state and the template tree shared in Redis."""
    # Here, not at the top: the embedded run never talks to Redis, and start-up counts.
    import redis

    from pipeline.redis_state import RedisStateStore
    from workers.shared_miner import SharedMiner

    client = redis.Redis.from_url(settings.redis_url)
    miner = SharedMiner(client, settings.template_capacity, settings.redis_prefix)
    state = RedisStateStore(client, settings.redis_prefix)
    return build_processor(settings, state, store, miner)


def build_notifiers(settings: Settings) -> Mapping[str, Notifier]:
    """The configured channels and receivers, by name (a receiver by `<kind>:<name>`); a
    channel named but not configured, a name used twice, or a route naming a receiver
    that is neither, is a clear error."""
    notifiers: dict[str, Notifier] = {}
    for channel in settings.channels:
        notifiers[channel] = _notifier(channel, settings)
    for receiver in settings.receivers:
        if receiver.id in notifiers:
            raise ConfigError(f"receiver {receiver.id!r} is configured twice")
        try:
            notifiers[receiver.id] = build_receiver(receiver, smtp=settings.smtp)
        except ValueError as error:
            raise ConfigError(f"receiver {receiver.id!r}: {error}") from None
    for name in sorted(settings.route_tree().receivers() - set(notifiers)):
        notifiers[name] = _notifier(name, settings)  # an old channel a route names
    return notifiers


def message_extras(settings: Settings) -> MessageExtras:
    links = settings.links
    return MessageExtras(dashboard_url=links.dashboard_url, runbook_url=links.runbook_url,
                         runbooks=dict(links.runbooks), ack_hint=links.ack_hint,
                         api_url=links.api_url)


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(lease=timedelta(seconds=settings.notify.lease_s))


def _notifier(channel: str, settings: Settings) -> Notifier:
    if channel == "console":
        return ConsoleNotifier(sys.stdout)
    if channel == "file":
        return FileNotifier(settings.alerts_file)
    if channel == "slack":
        if settings.slack_webhook_url is None:
            raise ConfigError("channel 'slack' needs LOGWARDEN_SLACK_WEBHOOK_URL")
        from alerting.slack import SlackNotifier  # slack_sdk only for runs that send to Slack

        return SlackNotifier(settings.slack_webhook_url.get_secret_value(),
                             timeout_s=settings.notify.timeout_s)
    if channel == "email":
        smtp = settings.smtp
        if not smtp.recipients:
            raise ConfigError("channel 'email' needs LOGWARDEN_SMTP__RECIPIENTS")
        password = smtp.password.get_secret_value() if smtp.password else None
        from alerting.email import EmailNotifier  # smtplib only for runs that send mail

        return EmailNotifier(smtp.host, smtp.port, smtp.sender, smtp.recipients,
                             username=smtp.username, password=password, starttls=smtp.starttls,
                             ssl=smtp.ssl, timeout_s=settings.notify.timeout_s)
    raise ConfigError(f"unknown channel {channel!r}: use console, file, slack or email")
