"""Gate, ledger, escalator and review records together: the real google-genai client
against the stand-in, the real store (SQLite and Postgres), Redis for the fleet's ledger."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis
from prometheus_client import CollectorRegistry

from alerting.console import FileNotifier
from alerting.outbox import deliver_due
from observability.metrics import Metrics
from pipeline.anomaly import AnomalySeverity, anomaly_id
from pipeline.escalation.breaker import CircuitBreaker
from pipeline.escalation.client import ClientConfig, GeminiReviewer
from pipeline.escalation.escalator import Action, EscalationPolicy, Escalator
from pipeline.escalation.gate import EscalationGate, GatePolicy
from pipeline.escalation.ledger import InMemoryLedger, RedisLedger
from pipeline.escalation.redaction import build_redactor
from pipeline.escalation.request import EscalationRequest
from pipeline.storage import BatchRecord, Store, make_engine
from pipeline.storage.reviews import ReviewStore
from tests.pipeline.escalation.cases import DB_ERROR, STREAM, T0, anomaly, mined_batch
from tests.standins.gemini import GeminiStandIn, answer, error, verdict_json


@pytest.fixture
def gemini() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as server:
        yield server


@pytest.fixture
def store(migrated_db_url: str) -> Iterator[Store]:
    store = Store(make_engine(migrated_db_url))
    yield store
    store.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_764_000_000.0

    def __call__(self) -> float:
        return self.now


def escalator(
    gemini: GeminiStandIn, store: Store, ledger: InMemoryLedger | RedisLedger,
    metrics: Metrics | None = None, **policy: object,
) -> Escalator:
    config = ClientConfig(api_key="k", base_url=gemini.base_url, model="flash", timeout_s=5,
                          max_attempts=1)
    reviewer = GeminiReviewer(config, breaker=CircuitBreaker(threshold=50))
    return Escalator(reviewer, ledger, ReviewStore(store.engine),
                     EscalationPolicy(model="flash", **policy),  # type: ignore[arg-type]
                     metrics=metrics or Metrics(CollectorRegistry()))


def record_alert(store: Store, batch_id: str = "batch-1", start_ns: int = T0,
                 channels: tuple[str, ...] = ("file",)):
    a = replace(anomaly(), batch_id=batch_id, id=anomaly_id(batch_id, "connectivity"),
                start_ns=start_ns, end_ns=start_ns + 60 * 10**9)
    result = store.record_batch(
        BatchRecord(batch_id, str(STREAM), 12, 12, 0, start_ns, a.end_ns), [a], [], {},
        channels=channels,
    )
    return a, result


def gate_for(ledger: InMemoryLedger | RedisLedger, sent: list[EscalationRequest]) -> EscalationGate:
    return EscalationGate(GatePolicy(), ledger, build_redactor(), sent.append)


def test_an_alert_that_opens_is_escalated_and_reviewed_in_its_unsent_page(
    gemini: GeminiStandIn, store: Store, tmp_path
) -> None:
    ledger, sent = InMemoryLedger(Clock()), []
    a, result = record_alert(store)
    gate_for(ledger, sent).consider(mined_batch(), [a], result.alert_of, result.new_alert_ids)
    [request] = sent
    assert request.reasons == ("borderline score", "opened an alert")
    outcome = escalator(gemini, store, ledger).escalate(request)
    assert outcome.action is Action.CONFIRM and len(gemini.requests) == 1
    assert store.anomalies()[0].verdict == outcome.verdict
    [call] = ReviewStore(store.engine).calls()
    assert (call["outcome"], call["model"], call["fingerprint"]) == ("ok", "flash", a.fingerprint)
    assert call["prompt_tokens"] == 812 and call["output_tokens"] == 143
    assert call["cost_usd"] == pytest.approx((812 * 0.30 + 143 * 2.50) / 1e6)
    # The page had not gone out: it goes out once, carrying the review.
    path = tmp_path / "alerts.jsonl"
    assert deliver_due(store, {"file": FileNotifier(path)}).sent == 1
    [line] = path.read_text().splitlines()
    assert "flash confirmed: anomaly (90% confident)" in line


def test_a_late_verdict_follows_a_sent_page_up_once(
    gemini: GeminiStandIn, store: Store, tmp_path
) -> None:
    ledger, sent = InMemoryLedger(Clock()), []
    a, result = record_alert(store)
    path = tmp_path / "alerts.jsonl"
    notifiers = {"file": FileNotifier(path)}
    assert deliver_due(store, notifiers).sent == 1  # paged, not reviewed
    assert '"review": "not reviewed"' in path.read_text()
    gate_for(ledger, sent).consider(mined_batch(), [a], result.alert_of, result.new_alert_ids)
    esc = escalator(gemini, store, ledger)
    esc.escalate(sent[0])
    esc.escalate(sent[0])  # a redelivered task: the cached verdict, no new message
    assert len(gemini.requests) == 1
    assert deliver_due(store, notifiers).sent == 1
    first, follow_up = path.read_text().splitlines()
    assert '"follow_up": true' in follow_up and '"follow_up": false' in first
    assert deliver_due(store, notifiers).sent == 0


def test_one_call_per_fingerprint_per_cooldown_the_verdict_reused(
    gemini: GeminiStandIn, store: Store
) -> None:
    clock = Clock()
    ledger, sent = InMemoryLedger(clock), []
    gate, esc = gate_for(ledger, sent), escalator(gemini, store, ledger, cooldown_s=3600)
    a, result = record_alert(store, "batch-1")
    gate.consider(mined_batch(), [a], result.alert_of, result.new_alert_ids)
    esc.escalate(sent.pop())
    clock.now += 1800  # a new alert window, inside the cool-down
    b, result = record_alert(store, "batch-2", start_ns=T0 + 2 * 3600 * 10**9)
    b_alert = result.alert_of[b.id]
    gate.consider(mined_batch(), [b], {b.id: b_alert}, (b_alert,))
    assert esc.escalate(sent.pop()).outcome == "cached"
    clock.now += 3600  # past the cool-down: asked again
    gate.consider(mined_batch(), [b], {b.id: b_alert}, (b_alert,))
    esc.escalate(sent.pop())
    assert len(gemini.requests) == 2


def test_an_anomaly_that_opens_nothing_and_is_clear_is_not_escalated(store: Store) -> None:
    ledger, sent = InMemoryLedger(Clock()), []
    clear = replace(anomaly(), score=0.95, severity=AnomalySeverity.CRITICAL)
    gate_for(ledger, sent).consider(mined_batch(), [clear], {clear.id: "alert-x"}, ())
    assert sent == []
    borderline = replace(anomaly(), score=0.65)
    gate_for(ledger, sent).consider(mined_batch(), [borderline], {}, ())
    assert [r.reasons for r in sent] == [("borderline score",)]


def test_concurrent_escalations_of_one_fingerprint_collapse_into_one() -> None:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    prefix = f"test-{uuid.uuid4().hex}:"
    sent: list[EscalationRequest] = []
    barrier = threading.Barrier(8)

    def detect_worker() -> None:
        gate = gate_for(RedisLedger(client, prefix), sent)
        a = anomaly()
        barrier.wait()
        gate.consider(mined_batch(), [a], {a.id: "alert-1"}, ("alert-1",))

    threads = [threading.Thread(target=detect_worker) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(sent) == 1
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def test_the_rate_limit_and_the_daily_budget_refuse_without_calling(
    gemini: GeminiStandIn, store: Store
) -> None:
    ledger, registry = InMemoryLedger(Clock()), CollectorRegistry()
    esc = escalator(gemini, store, ledger, Metrics(registry), calls_per_minute=1,
                    daily_token_budget=1500)
    a, result = record_alert(store)
    first = gate_request(a, result)
    assert esc.escalate(first).outcome == "ok"
    second = replace(first, fingerprint="second")
    third = replace(first, fingerprint="third")
    assert esc.escalate(second).outcome == "over_budget"  # the minute's one call is spent
    ledger._clock.now += 60  # type: ignore[attr-defined]
    assert esc.escalate(second).outcome == "ok"
    assert esc.escalate(third).outcome == "over_budget"  # 1910 tokens of 1500 spent today
    assert len(gemini.requests) == 2
    outcomes = [(c["outcome"], c["error"]) for c in ReviewStore(store.engine).calls()]
    assert outcomes == [("ok", None),
                        ("over_budget", "fleet-wide call rate limit reached"),
                        ("ok", None),
                        ("over_budget", "daily token budget spent")]
    assert ledger.today() == (1910, pytest.approx(2 * (812 * 0.30 + 143 * 2.50) / 1e6))
    value = registry.get_sample_value
    assert value("logwarden_llm_requests_total", {"outcome": "over_budget"}) == 2
    assert value("logwarden_llm_request_seconds_count") == 2  # the refusals took no call
    assert value("logwarden_llm_tokens_total", {"kind": "prompt"}) == 2 * 812
    assert value("logwarden_llm_cost_usd_total") == pytest.approx(ledger.today()[1])


def test_when_gemini_is_down_the_alert_stands_unreviewed(
    gemini: GeminiStandIn, store: Store, tmp_path
) -> None:
    gemini.add(error(503, "unavailable", "UNAVAILABLE"))
    ledger = InMemoryLedger(Clock())
    a, result = record_alert(store)
    outcome = escalator(gemini, store, ledger).escalate(gate_request(a, result))
    assert outcome.outcome == "error" and outcome.verdict is None
    path = tmp_path / "alerts.jsonl"
    assert deliver_due(store, {"file": FileNotifier(path)}).sent == 1
    assert '"review": "not reviewed"' in path.read_text()
    assert store.anomalies()[0].verdict is None
    assert not ledger.claim(a.fingerprint, 1)  # backs off before asking again


@pytest.mark.parametrize(("verdict", "confidence", "suppress", "action", "held"), [
    ("benign", 0.95, True, Action.SUPPRESS, True),
    ("benign", 0.95, False, Action.NOTE, False),
    ("benign", 0.5, True, Action.NOTE, False),
    ("anomaly", 0.5, True, Action.NOTE, False),
])
def test_the_policy_knobs(
    gemini: GeminiStandIn, store: Store, tmp_path, verdict: str, confidence: float,
    suppress: bool, action: Action, held: bool,
) -> None:
    gemini.add(answer(verdict_json([DB_ERROR], [], verdict=verdict, confidence=confidence)))
    a, result = record_alert(store)
    esc = escalator(gemini, store, InMemoryLedger(Clock()), suppress_benign=suppress,
                    min_confidence=0.7)
    assert esc.escalate(gate_request(a, result)).action is action
    sent = deliver_due(store, {"file": FileNotifier(tmp_path / "a.jsonl")}).sent
    assert sent == (0 if held else 1)


def gate_request(a, result) -> EscalationRequest:
    sent: list[EscalationRequest] = []
    gate_for(InMemoryLedger(Clock()), sent).consider(
        mined_batch(), [a], result.alert_of, result.new_alert_ids)
    return sent[0]


def test_a_kept_benign_verdict_holds_the_next_alerts_page_without_a_call(
    gemini: GeminiStandIn, store: Store, tmp_path
) -> None:
    gemini.add(answer(verdict_json([DB_ERROR], [], verdict="benign", confidence=0.95)))
    clock = Clock()
    ledger, queued = InMemoryLedger(clock), []
    esc = escalator(gemini, store, ledger, suppress_benign=True)
    gate = EscalationGate(GatePolicy(), ledger, build_redactor(), queued.append,
                          reuse=esc.escalate)  # type: ignore[arg-type]
    a, result = record_alert(store, "batch-1")
    gate.consider(mined_batch(), [a], result.alert_of, result.new_alert_ids)
    esc.escalate(queued.pop())  # the first alert: asked, benign, its page held
    clock.now += 1800
    b, result = record_alert(store, "batch-2", start_ns=T0 + 2 * 3600 * 10**9)
    gate.consider(mined_batch(), [b], result.alert_of, result.new_alert_ids)
    assert queued == [] and len(gemini.requests) == 1  # reused at once, no call
    assert deliver_due(store, {"file": FileNotifier(tmp_path / "a.jsonl")}).sent == 0
    assert len(store.alerts()) == 2
