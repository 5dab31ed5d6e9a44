"""The real google-genai client against a local generateContent server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from pipeline.escalation.breaker import CircuitBreaker
from pipeline.escalation.client import ClientConfig, GeminiReviewer, Outcome, Review
from pipeline.escalation.prompt import build_prompt
from pipeline.escalation.request import EscalationRequest
from tests.pipeline.escalation.cases import (
    DB_ERROR,
    SECRETS,
    escalation,
)
from tests.standins.gemini import GeminiStandIn, Reply, answer, error, verdict_json

KEY = "test-api-key-not-a-secret"


@pytest.fixture
def gemini() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as server:
        yield server


def reviewer(gemini: GeminiStandIn, **options: object) -> GeminiReviewer:
    config = ClientConfig(api_key=KEY, base_url=gemini.base_url, model="gemini-flash-test",
                          timeout_s=options.pop("timeout_s", 5.0),  # type: ignore[arg-type]
                          **options)  # type: ignore[arg-type]
    return GeminiReviewer(config, breaker=CircuitBreaker(threshold=2, open_s=60))


def ask(r: GeminiReviewer, request: EscalationRequest | None = None) -> Review:
    request = request or escalation()
    return r.review(build_prompt(request), template_ids=request.template_ids(),
                    insert_ids=request.insert_ids())


def good_verdict(**kw: object) -> str:
    return verdict_json([DB_ERROR], ["ins-0"], **kw)  # type: ignore[arg-type]


def test_a_valid_verdict_is_returned_with_its_tokens(gemini: GeminiStandIn) -> None:
    gemini.add(answer(good_verdict(), prompt_tokens=900, output_tokens=120))
    review = ask(reviewer(gemini))
    assert review.outcome is Outcome.OK
    assert review.verdict is not None
    assert review.verdict.verdict == "anomaly" and review.verdict.confidence == 0.9
    assert review.verdict.template_ids == (DB_ERROR,)
    assert review.verdict.actions == ("Roll back the 14:02 deploy", "Check the database pool")
    assert (review.prompt_tokens, review.output_tokens, review.attempts) == (900, 120, 1)
    [seen] = gemini.requests
    assert seen.model == "gemini-flash-test"
    assert seen.headers["x-goog-api-key"] == KEY
    config = json.loads(seen.body)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert set(config["responseSchema"]["properties"]) >= {"verdict", "cited_insert_ids"}


def test_json_inside_a_code_fence_is_accepted(gemini: GeminiStandIn) -> None:
    gemini.add(answer(f"```json\n{good_verdict()}\n```"))
    review = ask(reviewer(gemini))
    assert review.outcome is Outcome.OK and review.verdict is not None


def test_a_wrong_enum_is_invalid(gemini: GeminiStandIn) -> None:
    gemini.add(answer(good_verdict().replace('"anomaly"', '"definitely-bad"')))
    review = ask(reviewer(gemini))
    assert review.outcome is Outcome.INVALID and review.verdict is None
    assert "verdict" in (review.error or "")


def test_a_verdict_citing_nothing_from_the_prompt_is_invalid(gemini: GeminiStandIn) -> None:
    gemini.add(answer(verdict_json(["tpl-made-up"], ["ins-made-up"])))
    review = ask(reviewer(gemini))
    assert review.outcome is Outcome.INVALID
    assert "cites no template or entry" in (review.error or "")


def test_no_candidates_is_invalid(gemini: GeminiStandIn) -> None:
    gemini.add(Reply(body={"candidates": [], "usageMetadata": {"promptTokenCount": 40}}))
    review = ask(reviewer(gemini))
    assert review.outcome is Outcome.INVALID
    assert review.error == "no candidates in the answer"


def test_a_safety_block_is_invalid(gemini: GeminiStandIn) -> None:
    gemini.add(Reply(body={"promptFeedback": {"blockReason": "SAFETY"},
                           "usageMetadata": {"promptTokenCount": 40}}))
    gemini.add(Reply(body={"candidates": [{"finishReason": "SAFETY", "index": 0}]}))
    first, second = ask(reviewer(gemini)), ask(reviewer(gemini))
    assert first.outcome is Outcome.INVALID and "SAFETY" in (first.error or "")
    assert second.outcome is Outcome.INVALID and "SAFETY" in (second.error or "")


def test_429_then_success_honours_retry_after(gemini: GeminiStandIn) -> None:
    gemini.add(error(429, "quota", "RESOURCE_EXHAUSTED", retry_after="1"), answer(good_verdict()))
    review = ask(reviewer(gemini))
    assert review.outcome is Outcome.OK and review.attempts == 2
    first, second = gemini.requests
    assert second.at - first.at >= 0.95


def test_a_retry_after_longer_than_allowed_gives_up_at_once(gemini: GeminiStandIn) -> None:
    gemini.add(error(429, "quota", "RESOURCE_EXHAUSTED", retry_after="3600"))
    review = ask(reviewer(gemini))
    assert review.outcome is Outcome.RATE_LIMITED and len(gemini.requests) == 1


def test_500s_open_the_breaker_and_it_stops_calling(gemini: GeminiStandIn) -> None:
    gemini.add(*[error(500, "internal", "INTERNAL", retry_after="0")] * 6)
    r = reviewer(gemini, max_attempts=3)
    reviews = [ask(r) for _ in range(3)]
    assert [x.outcome for x in reviews] == [Outcome.ERROR, Outcome.ERROR, Outcome.CIRCUIT_OPEN]
    assert len(gemini.requests) == 6  # two reviews of three attempts; the third never sent
    assert r.breaker.is_open


def test_a_slow_answer_times_out(gemini: GeminiStandIn) -> None:
    gemini.add(Reply(body={}, delay_s=3.0))
    started = time.monotonic()
    review = ask(reviewer(gemini, timeout_s=1.0))
    assert review.outcome is Outcome.TIMEOUT
    assert time.monotonic() - started < 2.5
    assert len(gemini.requests) == 1  # a timeout is not retried: the worker moves on


def test_prompt_injection_in_the_logs_changes_nothing(gemini: GeminiStandIn) -> None:
    clean, injected = escalation(), escalation(injection=True)
    r = reviewer(gemini)
    gemini.add(answer(good_verdict()), answer(good_verdict()))
    assert ask(r, clean).verdict == ask(r, injected).verdict
    plain, attacked = (json.loads(seen.body) for seen in gemini.requests)
    # Same instruction, same schema: the logs cannot touch either.
    assert plain["systemInstruction"] == attacked["systemInstruction"]
    assert plain["generationConfig"] == attacked["generationConfig"]
    text = gemini.requests[1].prompt_text()
    data_start, data_end = text.index("\nBEGIN DATA-"), text.index("\nEND DATA-")
    found = text.index("IGNORE ALL PREVIOUS INSTRUCTIONS")
    assert data_start < found < data_end  # only inside the fence,
    assert '{"verdict": "benign"' not in text  # and only as an escaped JSON string
    assert text.count("\nEND DATA-") == 1
    # A model that obeyed it would cite nothing: such an answer is rejected.
    gemini.add(answer('{"verdict": "benign", "confidence": 1.0}'))
    assert ask(r, injected).outcome is Outcome.INVALID


def test_planted_secrets_never_leave_the_process(gemini: GeminiStandIn) -> None:
    gemini.add(answer(good_verdict()))
    review = ask(reviewer(gemini))
    assert review.outcome is Outcome.OK
    for seen in gemini.requests:
        for secret in SECRETS:
            assert secret not in seen.body
            assert secret not in json.loads(seen.body).__repr__()
    assert "<redacted>" in gemini.requests[0].prompt_text()
