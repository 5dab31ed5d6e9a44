"""Delivering what the outbox holds: every due message to its channel, every attempt recorded.

Retrying lives here and only here: channels report whether a failure is recoverable
and this stage decides when to try again (backoff with jitter, Slack's Retry-After
honoured) or gives up with the reason recorded.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alerting.alert import AlertMessage
from alerting.backoff import MAX_ATTEMPTS, next_retry_delay
from alerting.notifier import DeliveryResult, Notifier
from observability.metrics import get_metrics
from pipeline.storage import OutboxItem, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def deliver_due(
    store: Store,
    notifiers: Mapping[str, Notifier],
    *,
    now: datetime | None = None,
    limit: int = 100,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Sends every due outbox message once; one broken channel never blocks another."""
    now = now or datetime.now(UTC)
    rng = rng or random.Random()
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    for item in store.due_deliveries(now, limit):
        outcome = _deliver_one(store, notifiers, item, now, rng)
        counts[outcome] += 1
    return DeliveryReport(**counts)


def _deliver_one(
    store: Store,
    notifiers: Mapping[str, Notifier],
    item: OutboxItem,
    now: datetime,
    rng: random.Random,
) -> str:
    notifier = notifiers.get(item.channel)
    if notifier is None:
        result = DeliveryResult(False, False, f"no channel named {item.channel!r} is configured")
    else:
        started = time.perf_counter()
        result = notifier.send(AlertMessage.from_payload(item.payload))
        get_metrics().delivery_seconds.labels(channel=item.channel).observe(
            time.perf_counter() - started
        )
    attempt = item.attempts + 1
    retryable = result.retryable and attempt < MAX_ATTEMPTS
    retry_at = None
    if not result.ok and retryable:
        retry_at = now + timedelta(seconds=next_retry_delay(attempt, result.retry_after_s, rng=rng))
    store.record_attempt(
        item.id, ok=result.ok, retryable=retryable, error=result.reason, retry_at=retry_at
    )
    outcome = "sent" if result.ok else "retrying" if retryable else "failed"
    get_metrics().deliveries_total.labels(channel=item.channel, status=outcome).inc()
    if not result.ok:
        log.warning("alert delivery %s: %s", outcome, result.reason,
                    extra={"alert_id": item.alert_id, "channel": item.channel})
    return outcome
