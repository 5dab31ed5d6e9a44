"""One escalation, start to finish: cache, rate limit, budget, the call, the records.

Whatever happens the anomaly keeps its alert: a review only adds to it. Every call
(and every refusal to call) is stored and counted; a verdict is applied according to
the policy (the minimum confidence to act on, whether a confident `benign` suppresses).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from observability.metrics import Metrics, get_metrics
from pipeline.anomaly import AnomalySeverity, Verdict
from pipeline.escalation.ledger import CachedVerdict, EscalationLedger
from pipeline.escalation.prompt import Prompt, build_prompt
from pipeline.escalation.request import EscalationRequest
from pipeline.escalation.review import Outcome, Review
from pipeline.storage.codec import SEVERITY_RANK

log = logging.getLogger(__name__)
# Outcomes of escalations that never reached the model: no latency to time.
NOT_ASKED = frozenset({Outcome.OVER_BUDGET, Outcome.CIRCUIT_OPEN})


class Action(StrEnum):
    """What a verdict does to its alert."""

    CONFIRM = "confirm"  # anomaly, confident enough: the alert says so
    SUPPRESS = "suppress"  # benign, confident, and suppression is on: unsent messages held
    NOTE = "note"  # anything else: recorded and shown, nothing changes


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    model: str = ""
    cooldown_s: float = 6 * 3600.0
    calls_per_minute: int = 10
    daily_token_budget: int = 2_000_000
    usd_per_million_input: float = 0.30
    usd_per_million_output: float = 2.50
    min_confidence: float = 0.7
    suppress_benign: bool = False
    failure_backoff_s: float = 300.0  # a failed fingerprint is not asked again before this

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return (prompt_tokens * self.usd_per_million_input
                + output_tokens * self.usd_per_million_output) / 1e6

    def action(self, verdict: Verdict) -> Action:
        if verdict.confidence < self.min_confidence:
            return Action.NOTE
        if verdict.verdict == "anomaly":
            return Action.CONFIRM
        if verdict.verdict == "benign" and self.suppress_benign:
            return Action.SUPPRESS
        return Action.NOTE


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One row of `llm_calls`: an escalation and what it cost and gave."""

    anomaly_id: str
    alert_id: str | None
    fingerprint: str
    model: str
    outcome: str
    prompt_tokens: int
    output_tokens: int
    latency_s: float
    cost_usd: float
    error: str | None
    verdict: Verdict | None


class Reviewer(Protocol):
    def review(
        self, prompt: Prompt, *, template_ids: set[str], insert_ids: set[str]
    ) -> Review:
        """One review of `prompt`; never raises (failures are outcomes)."""
        ...


class ReviewRecords(Protocol):
    def record_call(self, call: CallRecord) -> None:
        """Stores one call, whatever its outcome."""
        ...

    def apply_review(
        self, anomaly_id: str, alert_id: str | None, verdict: Verdict, action: str
    ) -> object:
        """Attaches the verdict to the anomaly and updates its alert (its unsent messages
        edited, the sent ones followed up once, in thread); safe to repeat."""
        ...


@dataclass(frozen=True, slots=True)
class EscalationResult:
    outcome: str  # an Outcome, or "cached"
    verdict: Verdict | None
    action: Action | None


class Escalator:
    """`escalate` is what the `escalate` task (or embedded mode) runs per request."""

    def __init__(
        self, reviewer: Reviewer, ledger: EscalationLedger, records: ReviewRecords,
        policy: EscalationPolicy, *, metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reviewer = reviewer
        self.ledger = ledger
        self.records = records
        self.policy = policy
        self.metrics = metrics or get_metrics()
        self._clock = clock

    def escalate(self, request: EscalationRequest) -> EscalationResult:
        fingerprint = request.fingerprint
        rank = SEVERITY_RANK[AnomalySeverity(request.severity)]
        cached = self.ledger.cached(fingerprint)
        if cached is not None and rank <= cached.severity_rank:
            return self._apply(request, cached.verdict, "cached")
        try:
            review = self._ask(request, cached)
        finally:
            self.ledger.release(fingerprint)
        if review.verdict is None:
            # Not asked again at once: a later anomaly may try after the back-off.
            self.ledger.claim(fingerprint, self.policy.failure_backoff_s)
            log.warning("escalation without a verdict; the alert stands unreviewed",
                        extra={"anomaly_id": request.anomaly_id, "outcome": review.outcome,
                               "error": review.error})
            return EscalationResult(review.outcome, None, None)
        self.ledger.keep(fingerprint, CachedVerdict(review.verdict, rank, self._clock()),
                         self.policy.cooldown_s)
        return self._apply(request, review.verdict, review.outcome)

    def _ask(self, request: EscalationRequest, cached: CachedVerdict | None) -> Review:
        tokens, _ = self.ledger.today()
        if tokens >= self.policy.daily_token_budget:
            review = Review(Outcome.OVER_BUDGET, error="daily token budget spent")
        elif not self.ledger.take_call(self.policy.calls_per_minute):
            review = Review(Outcome.OVER_BUDGET, error="fleet-wide call rate limit reached")
        else:
            history = () if cached is None else (_history_line(cached.verdict),)
            review = self.reviewer.review(
                build_prompt(request, history), template_ids=request.template_ids(),
                insert_ids=request.insert_ids(),
            )
        cost = self.policy.cost(review.prompt_tokens, review.output_tokens)
        if review.prompt_tokens or review.output_tokens:
            self.ledger.spend(review.prompt_tokens + review.output_tokens, cost)
        self._count(review, cost)
        self.records.record_call(CallRecord(
            request.anomaly_id, request.alert_id, request.fingerprint, self.policy.model,
            str(review.outcome), review.prompt_tokens, review.output_tokens,
            round(review.latency_s, 4), cost, review.error, review.verdict,
        ))
        return review

    def _apply(self, request: EscalationRequest, verdict: Verdict, outcome: str) -> (
        EscalationResult
    ):
        action = self.policy.action(verdict)
        self.records.apply_review(request.anomaly_id, request.alert_id, verdict, str(action))
        log.info("anomaly reviewed", extra={
            "anomaly_id": request.anomaly_id, "alert_id": request.alert_id,
            "verdict": verdict.verdict, "confidence": verdict.confidence,
            "action": str(action), "outcome": outcome,
        })
        return EscalationResult(outcome, verdict, action)

    def _count(self, review: Review, cost_usd: float) -> None:
        m = self.metrics
        m.llm_requests_total.labels(outcome=str(review.outcome)).inc()
        if review.outcome not in NOT_ASKED:
            m.llm_request_seconds.observe(review.latency_s)
        m.llm_cost_usd_total.inc(cost_usd)
        if review.prompt_tokens:
            m.llm_tokens_total.labels(kind="prompt").inc(review.prompt_tokens)
        if review.output_tokens:
            m.llm_tokens_total.labels(kind="output").inc(review.output_tokens)


def _history_line(verdict: Verdict) -> str:
    return (f"{verdict.verdict} at confidence {verdict.confidence:.2f}: {verdict.title}. "
            f"{verdict.cause}")
