"""The Gemini client: one review of one escalation, with timeouts, retries and a breaker.

Built on google-genai (an API key, or Vertex AI). The SDK is told not to retry: this
module retries 429 and 5xx itself, honouring Retry-After, for a bounded number of
attempts and never waiting longer than `max_wait_s` (a slow LLM must not hold a worker).
The answer is validated here (`schema.parse_verdict`), never trusted from `parsed`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import httpx2
from google import genai
from google.genai import errors, types

from pipeline.escalation.breaker import CircuitBreaker
from pipeline.escalation.prompt import Prompt
from pipeline.escalation.review import DEFAULT_MODEL as DEFAULT_MODEL
from pipeline.escalation.review import ClientConfig as ClientConfig
from pipeline.escalation.review import Outcome as Outcome
from pipeline.escalation.review import Review as Review
from pipeline.escalation.schema import InvalidVerdict, VerdictSchema, parse_verdict

log = logging.getLogger(__name__)

# The SDK sends through httpx or its fork httpx2, whichever it picked.
_TIMEOUTS = (httpx.TimeoutException, httpx2.TimeoutException)
_TRANSPORT_ERRORS = (httpx.HTTPError, httpx2.HTTPError)


class _Retry(Exception):
    def __init__(self, outcome: Outcome, error: str, wait_s: float | None) -> None:
        super().__init__(error)
        self.outcome, self.error, self.wait_s = outcome, error, wait_s


def make_genai_client(config: ClientConfig) -> genai.Client:
    options = types.HttpOptions(
        base_url=config.base_url, api_version="v1beta" if config.base_url else None,
        timeout=int(config.timeout_s * 1000),
    )
    if config.vertex_project:
        return genai.Client(vertexai=True, project=config.vertex_project,
                            location=config.vertex_location, http_options=options)
    return genai.Client(api_key=config.api_key, http_options=options)


class GeminiReviewer:
    """Asks the model for a verdict on one prompt; `review` never raises."""

    def __init__(
        self, config: ClientConfig, *, breaker: CircuitBreaker | None = None,
        client: genai.Client | None = None, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.breaker = breaker or CircuitBreaker()
        self._client = client or make_genai_client(config)
        self._sleep = sleep
        self._generation = types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema=VerdictSchema,
            temperature=0.0,
            max_output_tokens=config.max_output_tokens,
        )

    def review(
        self, prompt: Prompt, *, template_ids: set[str], insert_ids: set[str]
    ) -> Review:
        if not self.breaker.allow():
            return Review(Outcome.CIRCUIT_OPEN, error="circuit open after repeated failures")
        started = time.perf_counter()
        tokens = [0, 0]
        attempts = 0
        last: _Retry | None = None
        while attempts < self.config.max_attempts:
            attempts += 1
            try:
                response = self._call(prompt)
            except _Retry as retry:
                last = retry
                if retry.wait_s is None or attempts >= self.config.max_attempts:
                    break
                self._sleep(retry.wait_s)
                continue
            tokens = _usage(response)
            review = self._judge(response, template_ids, insert_ids)
            self.breaker.success()
            return Review(review.outcome, review.verdict, tokens[0], tokens[1],
                          time.perf_counter() - started, attempts, review.error)
        assert last is not None
        if last.outcome in (Outcome.ERROR, Outcome.TIMEOUT):
            self.breaker.failure()
        return Review(last.outcome, None, tokens[0], tokens[1], time.perf_counter() - started,
                      attempts, last.error)

    def _call(self, prompt: Prompt) -> types.GenerateContentResponse:
        config = self._generation.model_copy(update={"system_instruction": prompt.system})
        try:
            return self._client.models.generate_content(
                model=self.config.model, contents=prompt.text, config=config
            )
        except errors.APIError as error:
            raise self._classify(error) from None
        except _TIMEOUTS:
            raise _Retry(Outcome.TIMEOUT, f"no answer within {self.config.timeout_s:g} s",
                         None) from None
        except _TRANSPORT_ERRORS as error:
            raise _Retry(Outcome.ERROR, f"{type(error).__name__}: {error}", 1.0) from None

    def _classify(self, error: errors.APIError) -> _Retry:
        reason = f"HTTP {error.code} {error.status or ''}: {error.message or ''}".strip()[:300]
        retryable = error.code == 429 or error.code >= 500
        if not retryable:
            return _Retry(Outcome.ERROR, reason, None)
        outcome = Outcome.RATE_LIMITED if error.code == 429 else Outcome.ERROR
        wait = _retry_after(error)
        if wait is None:
            wait = 1.0
        if wait > self.config.max_wait_s:
            return _Retry(outcome, f"{reason} (asked to wait {wait:g} s)", None)
        return _Retry(outcome, reason, wait)

    def _judge(
        self, response: types.GenerateContentResponse, template_ids: set[str],
        insert_ids: set[str],
    ) -> Review:
        candidates = response.candidates or []
        if not candidates:
            feedback = response.prompt_feedback
            blocked = feedback.block_reason if feedback else None
            why = f"prompt blocked ({blocked})" if blocked else "no candidates in the answer"
            return Review(Outcome.INVALID, error=why)
        finish = candidates[0].finish_reason
        if finish not in (None, types.FinishReason.STOP, types.FinishReason.MAX_TOKENS):
            return Review(Outcome.INVALID, error=f"answer stopped: {finish}")
        try:
            verdict = parse_verdict(_text(response), template_ids=template_ids,
                                    insert_ids=insert_ids, model=self.config.model)
        except InvalidVerdict as error:
            return Review(Outcome.INVALID, error=str(error))
        return Review(Outcome.OK, verdict)


def _text(response: types.GenerateContentResponse) -> str | None:
    candidate = (response.candidates or [])[0]
    parts = candidate.content.parts if candidate.content else None
    return "".join(p.text or "" for p in parts or [] if not p.thought) or None


def _usage(response: types.GenerateContentResponse) -> list[int]:
    usage = response.usage_metadata
    if usage is None:
        return [0, 0]
    return [usage.prompt_token_count or 0, usage.candidates_token_count or 0]


def _retry_after(error: errors.APIError) -> float | None:
    response: Any = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
