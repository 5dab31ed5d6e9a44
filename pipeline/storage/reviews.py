"""LLM reviews in the database: every call recorded, verdicts applied to anomalies and
alerts without ever paging twice.

A verdict reaches an incident's messages in one of two ways, per receiver: a first page
not yet sent (and not being sent) is edited in place, so the page itself carries the
review; a page already sent gets one follow-up (`kind = "review"`, the incident's next
revision), which channels send as a reply in the same thread. With `suppress`, unsent
pages are held instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from pipeline.anomaly import Verdict
from pipeline.escalation.escalator import CallRecord
from pipeline.storage import codec
from pipeline.storage.db import insert_for
from pipeline.storage.models import ALERTS, ANOMALIES, LLM_CALLS, OUTBOX
from pipeline.storage.records import OutboxStatus

WAITING = (OutboxStatus.PENDING.value, OutboxStatus.RETRYING.value)
SUPPRESSED = "held: the LLM reviewed this alert as benign"


@dataclass(frozen=True, slots=True)
class DailyUsage:
    day: str  # YYYY-MM-DD, UTC
    outcomes: dict[str, int]
    prompt_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class ReviewApplied:
    anomaly_found: bool
    edited: tuple[str, ...] = ()  # channels whose unsent message now carries the review
    followed_up: tuple[str, ...] = ()  # channels that get a follow-up
    held: tuple[str, ...] = ()  # channels whose unsent message was suppressed


class ReviewStore:
    """`ReviewRecords` on SQLite or Postgres."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    def record_call(self, call: CallRecord) -> None:
        values = {
            "anomaly_id": call.anomaly_id, "alert_id": call.alert_id,
            "fingerprint": call.fingerprint, "model": call.model, "outcome": call.outcome,
            "prompt_tokens": call.prompt_tokens, "output_tokens": call.output_tokens,
            "latency_s": call.latency_s, "cost_usd": call.cost_usd,
            "error": None if call.error is None else call.error[:1000],
            "verdict": codec.verdict_json(call.verdict), "created_at": self._clock(),
        }
        with self.engine.begin() as conn:
            conn.execute(insert(LLM_CALLS).values(values))

    def calls(self, anomaly_id: str | None = None) -> list[dict[str, Any]]:
        """Stored calls in the order they were made, as plain rows."""
        stmt = select(LLM_CALLS).order_by(LLM_CALLS.c.id)
        if anomaly_id is not None:
            stmt = stmt.where(LLM_CALLS.c.anomaly_id == anomaly_id)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    def daily_usage(self, days: int = 7) -> list[DailyUsage]:
        """Calls, tokens and estimated cost per UTC day, newest first, for the last `days`."""
        since = self._clock() - timedelta(days=days)
        stmt = select(LLM_CALLS.c.created_at, LLM_CALLS.c.outcome, LLM_CALLS.c.prompt_tokens,
                      LLM_CALLS.c.output_tokens, LLM_CALLS.c.cost_usd).where(
            LLM_CALLS.c.created_at >= since)
        totals: dict[str, DailyUsage] = {}
        with self.engine.connect() as conn:
            for at, outcome, prompt, output, cost in conn.execute(stmt):
                day = at.astimezone(UTC).strftime("%Y-%m-%d")
                seen = totals.get(day) or DailyUsage(day, {}, 0, 0, 0.0)
                outcomes = {**seen.outcomes, outcome: seen.outcomes.get(outcome, 0) + 1}
                totals[day] = DailyUsage(day, outcomes, seen.prompt_tokens + prompt,
                                         seen.output_tokens + output, seen.cost_usd + cost)
        return [totals[day] for day in sorted(totals, reverse=True)]

    def apply_review(
        self, anomaly_id: str, alert_id: str | None, verdict: Verdict, action: str
    ) -> ReviewApplied:
        with self.engine.begin() as conn:
            found = conn.execute(
                update(ANOMALIES).where(ANOMALIES.c.id == anomaly_id)
                .values(verdict=codec.verdict_json(verdict)).returning(ANOMALIES.c.id)
            ).first() is not None
            if alert_id is None:
                return ReviewApplied(found)
            return _update_messages(conn, alert_id, verdict, action, self._clock())


def review_text(verdict: Verdict, action: str) -> str:
    """One line for people: what the model thinks, how sure, what it suggests."""
    word = {"confirm": "confirmed", "suppress": "judged benign"}.get(action, "noted")
    text = (f"{verdict.model or 'LLM'} {word}: {verdict.verdict} "
            f"({verdict.confidence:.0%} confident). {verdict.title}.")
    if verdict.cause:
        text += f" Probable cause: {verdict.cause}"
    if verdict.actions:
        text += " Next: " + "; ".join(verdict.actions[:3])
    return text


def _update_messages(
    conn: Connection, alert_id: str, verdict: Verdict, action: str, now: datetime
) -> ReviewApplied:
    col = OUTBOX.c
    rows = conn.execute(
        select(col.id, col.channel, col.status, col.attempts, col.claimed_until, col.payload)
        .where(col.alert_id == alert_id, col.kind == "firing", col.revision == 1)
        .order_by(col.channel)
    ).all()
    review = review_text(verdict, action)
    edited: list[str] = []
    followed: list[str] = []
    held: list[str] = []
    for row in rows:
        payload = {**row.payload, "review": review}
        if row.status in WAITING and row.claimed_until is None:
            values: dict[str, Any] = {"payload": payload}
            if action == "suppress":
                values |= {"status": OutboxStatus.FAILED.value, "last_error": SUPPRESSED}
            # Fenced on the attempt count: a sender that claimed it meanwhile wins.
            changed = conn.execute(
                update(OUTBOX).where(col.id == row.id, col.attempts == row.attempts,
                                     col.claimed_until.is_(None), col.status.in_(WAITING))
                .values(**values).returning(col.id)
            ).first()
            if changed is not None:
                (held if action == "suppress" else edited).append(row.channel)
                continue
        if row.status == OutboxStatus.FAILED.value:
            continue  # never delivered: nothing to follow up
        if _reviewed(conn, alert_id, row.channel):
            continue
        follow_up = {"review": review, "summary": verdict.summary or _summary(conn, alert_id)}
        revision = conn.execute(
            update(ALERTS).where(ALERTS.c.id == alert_id)
            .values(revision=ALERTS.c.revision + 1).returning(ALERTS.c.revision)
        ).scalar_one()
        stmt = insert_for(conn, OUTBOX).values(
            alert_id=alert_id, channel=row.channel, kind="review", revision=revision,
            status=OutboxStatus.PENDING.value, attempts=0, next_attempt_at=now,
            last_error=None, payload=follow_up, created_at=now,
        ).on_conflict_do_nothing(index_elements=[col.alert_id, col.channel, col.revision])
        if conn.execute(stmt.returning(col.id)).first() is not None:
            followed.append(row.channel)
    return ReviewApplied(True, tuple(edited), tuple(followed), tuple(held))


def _reviewed(conn: Connection, alert_id: str, channel: str) -> bool:
    """Whether this receiver has the incident's review follow-up already (one each)."""
    col = OUTBOX.c
    stmt = select(col.id).where(col.alert_id == alert_id, col.channel == channel,
                                col.kind == "review").limit(1)
    return conn.execute(stmt).first() is not None


def _summary(conn: Connection, alert_id: str) -> str:
    stmt = select(ALERTS.c.summary).where(ALERTS.c.id == alert_id)
    return str(conn.execute(stmt).scalar_one_or_none() or "")
