"""Builds LLM escalation from settings: the gate the detect step calls, the escalator
the `escalate` task (or embedded mode) runs. No key, no LLM, and one log line says so."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from pipeline.anomaly import Verdict
from pipeline.escalation.breaker import CircuitBreaker
from pipeline.escalation.escalator import EscalationPolicy, Escalator
from pipeline.escalation.gate import EscalationGate, GatePolicy
from pipeline.escalation.ledger import EscalationLedger
from pipeline.escalation.redaction import build_redactor
from pipeline.escalation.request import EscalationRequest
from pipeline.escalation.review import ClientConfig
from pipeline.storage import Store
from pipeline.storage.reviews import DailyUsage, ReviewStore
from workers.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Escalation:
    gate: EscalationGate
    escalator: Escalator


def llm_enabled(settings: Settings, *, asked: bool = False) -> bool:
    """Whether escalation is configured; says once, in the log, when it is not (a
    warning when the user `asked` for it, as `run --llm` does)."""
    if settings.llm.configured:
        log.info("LLM escalation on", extra={"model": settings.llm.model})
        return True
    log.log(logging.WARNING if asked else logging.INFO,
            "LLM escalation off: set LOGWARDEN_LLM__API_KEY (or LOGWARDEN_LLM__VERTEX_PROJECT)")
    return False


def build_escalation(
    settings: Settings, store: Store, ledger: EscalationLedger,
    send: Callable[[EscalationRequest], None] | None = None,
) -> Escalation:
    """The gate and the escalator; `send` hands requests on (default: the escalator,
    in this process, as embedded mode does)."""
    # Here, not at the top: google-genai takes half a second to import, and most runs
    # have no LLM configured.
    from pipeline.escalation.client import GeminiReviewer

    llm = settings.llm
    config = ClientConfig(
        model=llm.model,
        api_key=llm.api_key.get_secret_value() if llm.api_key else None,
        base_url=llm.base_url, vertex_project=llm.vertex_project,
        vertex_location=llm.vertex_location, timeout_s=llm.timeout_s,
        max_attempts=llm.max_attempts, max_wait_s=llm.max_wait_s,
    )
    reviewer = GeminiReviewer(config, breaker=CircuitBreaker(llm.breaker_failures,
                                                             llm.breaker_open_s))
    policy = EscalationPolicy(
        model=llm.model, cooldown_s=llm.cooldown_s, calls_per_minute=llm.calls_per_minute,
        daily_token_budget=llm.daily_token_budget,
        usd_per_million_input=llm.usd_per_million_input,
        usd_per_million_output=llm.usd_per_million_output,
        min_confidence=llm.min_confidence, suppress_benign=llm.suppress_benign,
    )
    escalator = Escalator(reviewer, ledger, ReviewStore(store.engine), policy)
    gate_policy = GatePolicy(
        borderline_low=llm.borderline_low, borderline_high=llm.borderline_high,
        on_alert_open=llm.on_alert_open, on_severity_growth=llm.on_severity_growth,
        on_new_failure_template=llm.on_new_failure_template,
    )
    redactor = build_redactor(llm.redact_patterns, settings.secrets())

    def in_process(request: EscalationRequest) -> None:
        escalator.escalate(request)

    gate = EscalationGate(gate_policy, ledger, redactor, send or in_process, reuse=in_process)
    return Escalation(gate, escalator)


def encode_request(request: EscalationRequest) -> str:
    return msgspec.json.encode(request).decode()


def decode_request(payload: str) -> EscalationRequest:
    return msgspec.json.decode(payload, type=EscalationRequest)


@dataclass(frozen=True)
class LlmUsage:
    """What escalation did over a run: calls by outcome, tokens, estimated cost."""

    calls: dict[str, int]
    prompt_tokens: int
    output_tokens: int
    cost_usd: float

    @property
    def requests(self) -> int:
        """Calls that went out (refusals for budget or an open breaker did not)."""
        return sum(n for outcome, n in self.calls.items()
                   if outcome not in ("over_budget", "circuit_open"))


def llm_usage(reviews: ReviewStore) -> LlmUsage:
    calls: dict[str, int] = {}
    prompt = output = 0
    cost = 0.0
    for row in reviews.calls():
        calls[row["outcome"]] = calls.get(row["outcome"], 0) + 1
        prompt += row["prompt_tokens"]
        output += row["output_tokens"]
        cost += row["cost_usd"]
    return LlmUsage(calls, prompt, output, cost)


def usage_lines(usage: LlmUsage, *, entries: int, batches: int) -> list[str]:
    """The run summary's LLM lines, with the every-batch figure beside the real one."""
    per = 100_000 / entries if entries else 0.0
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(usage.calls.items())) or "-"
    return [
        f"llm calls   {usage.requests:>8}  ({usage.requests * per:.1f} per 100k entries; "
        f"every batch would be {batches} = {batches * per:.0f} per 100k)  {outcomes}",
        f"llm tokens  {usage.prompt_tokens + usage.output_tokens:>8}  "
        f"(prompt {usage.prompt_tokens}, output {usage.output_tokens}; "
        f"estimated ${usage.cost_usd:.4f})",
    ]


def verdict_line(verdict: Verdict) -> str:
    """How `logwarden anomalies` shows a verdict under its anomaly."""
    cites = len(verdict.template_ids) + len(verdict.insert_ids)
    return (f"↳ {verdict.model or 'LLM'}: {verdict.verdict} ({verdict.confidence:.0%}) "
            f"{verdict.title} — {verdict.cause} [{cites} citations]")


def daily_usage_lines(days: list[DailyUsage]) -> list[str]:
    """`logwarden llm-usage`: one line per day, the outcomes after it."""
    if not days:
        return ["no LLM calls recorded"]
    lines = []
    for d in days:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(d.outcomes.items()))
        lines.append(f"{d.day}  calls {sum(d.outcomes.values()):>5}  tokens "
                     f"{d.prompt_tokens + d.output_tokens:>9} (prompt {d.prompt_tokens}, "
                     f"output {d.output_tokens})  estimated ${d.cost_usd:.4f}  {outcomes}")
    return lines
