"""Delivering what the outbox holds: every due message to its channel, every attempt recorded.

Each message is claimed just before it is sent and released when its outcome is
recorded, so concurrent senders never send the same message, however slow the receiver
(the claim is renewed while the send goes on). A sender that dies mid-send leaves its
claim to run out; the message is then sent again with the same idempotency key, so a
receiver that honours it sees it once, and its outcome is recorded then.

Retrying lives here and only here: channels report whether a failure is recoverable
and this stage decides when to try again (backoff with jitter, Slack's Retry-After
honoured) or gives up with the reason recorded.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from alerting.alert import AlertMessage
from alerting.backoff import MAX_ATTEMPTS, next_retry_delay
from alerting.claim import ClaimKeeper
from alerting.extras import MessageExtras, decorate
from alerting.notifier import DeliveryResult, Notifier, give_up
from alerting.receivers import receiver_kind
from observability.metrics import get_metrics
from pipeline.storage import OutboxItem, OutboxStatus, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How one sweep works. `lease` is how long a claim outlives a sender that died;
    it must exceed a channel's timeout so a live sender renews it in time. A sweep
    claims nothing new after `budget_s` or `limit` messages (it reports `more`)."""

    lease: timedelta = timedelta(seconds=60)
    budget_s: float = 120.0
    limit: int = 100


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    more: bool = False  # stopped at its budget or limit with messages possibly still due


def deliver_due(
    store: Store,
    notifiers: Mapping[str, Notifier],
    *,
    policy: DeliveryPolicy = DeliveryPolicy(),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    rng: random.Random | None = None,
    extras: MessageExtras | None = None,
) -> DeliveryReport:
    """Claims and sends due messages one at a time; one broken channel never blocks
    another. Each message is rendered from its incident as it is now, with `extras`
    (links, how to act). Returns what happened to the messages this sweep handled."""
    rng = rng or random.Random()
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    deadline = time.monotonic() + policy.budget_s
    handled = 0
    while handled < policy.limit and time.monotonic() < deadline:
        item = store.claim_delivery(policy.lease)
        if item is None:
            return _report(counts, more=False)
        counts[_deliver_one(store, notifiers, item, policy, clock, rng, extras)] += 1
        handled += 1
    return _report(counts, more=True)


def _report(counts: Mapping[str, int], *, more: bool) -> DeliveryReport:
    return DeliveryReport(counts["sent"], counts["retrying"], counts["failed"], more)


def _deliver_one(
    store: Store,
    notifiers: Mapping[str, Notifier],
    item: OutboxItem,
    policy: DeliveryPolicy,
    clock: Callable[[], datetime],
    rng: random.Random,
    extras: MessageExtras | None,
) -> str:
    kind = receiver_kind(item.channel)  # never the receiver's name: labels stay bounded
    if item.unrecorded:
        get_metrics().deliveries_total.labels(channel=kind, status="unrecorded").inc()
    result = _attempt(store, notifiers.get(item.channel), item, policy.lease, extras)
    retryable = result.retryable and item.attempt < MAX_ATTEMPTS
    retry_at = None
    if not result.ok and retryable:
        delay = next_retry_delay(item.attempt, result.retry_after_s, rng=rng)
        retry_at = clock() + timedelta(seconds=delay)
    status = _record(store, item, policy, ok=result.ok, retryable=retryable,
                     error=result.reason, retry_at=retry_at, thread_ref=result.thread_ref)
    outcome = "sent" if result.ok else "retrying" if retryable else "failed"
    get_metrics().deliveries_total.labels(channel=kind, status=outcome).inc()
    if status is None:
        log.warning("alert delivery outcome came after its claim was lost",
                    extra={"alert_id": item.alert_id, "channel": item.channel})
    if not result.ok:
        log.warning("alert delivery %s: %s", outcome, result.reason,
                    extra={"alert_id": item.alert_id, "channel": item.channel})
    return outcome


def _record(store: Store, item: OutboxItem, policy: DeliveryPolicy, **outcome: Any
            ) -> OutboxStatus | None:
    """Records the outcome, waiting out a database that is away for up to the lease:
    a message that went out must not be sent again because its record failed."""
    deadline = time.monotonic() + policy.lease.total_seconds()
    pause = 0.5
    while True:
        try:
            return store.record_attempt(item, **outcome)
        except (OperationalError, InterfaceError):
            if time.monotonic() + pause > deadline:
                raise
            log.warning("cannot record a delivery outcome yet; the database is away",
                        extra={"alert_id": item.alert_id, "channel": item.channel})
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def _attempt(
    store: Store, notifier: Notifier | None, item: OutboxItem, lease: timedelta,
    extras: MessageExtras | None,
) -> DeliveryResult:
    if notifier is None:
        return give_up(f"no channel named {item.channel!r} is configured")
    if item.attempt > MAX_ATTEMPTS:
        # Only claims whose senders died get here: a poison message stops being tried.
        return give_up(f"{item.attempt - 1} attempts ended without a recorded outcome")
    message = AlertMessage.from_payload(item.payload)
    if extras is not None:
        message = decorate(message, extras)
    started = time.perf_counter()
    with ClaimKeeper(store, item, lease):
        result = notifier.send(message, item.idempotency_key)
    get_metrics().delivery_seconds.labels(channel=receiver_kind(item.channel)).observe(
        time.perf_counter() - started
    )
    return result
