"""What a review of one escalation is and gives, without the Gemini SDK behind it.

The escalator and the settings need these names; only `client` needs google-genai,
which takes about half a second to import, so runs without an LLM never load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipeline.anomaly import Verdict
from pipeline.escalation import DEFAULT_MODEL


class Outcome(StrEnum):
    """How one escalation ended; the `outcome` label of `llm_requests_total`."""

    OK = "ok"
    INVALID = "invalid"
    RATE_LIMITED = "rate_limited"
    ERROR = "error"
    TIMEOUT = "timeout"
    OVER_BUDGET = "over_budget"
    CIRCUIT_OPEN = "circuit_open"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """`api_key`, or Vertex AI (`vertex_project` and `vertex_location`) with ambient
    credentials. `base_url` points at a proxy or a stand-in."""

    model: str = DEFAULT_MODEL
    api_key: str | None = None
    base_url: str | None = None
    vertex_project: str | None = None
    vertex_location: str = "us-central1"
    timeout_s: float = 20.0
    max_attempts: int = 3
    max_wait_s: float = 30.0  # longest pause between attempts (a longer Retry-After: give up)
    max_output_tokens: int = 1024


@dataclass(frozen=True, slots=True)
class Review:
    """What one review cost and gave: tokens, time, attempts, the verdict or the error."""

    outcome: Outcome
    verdict: Verdict | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    attempts: int = 0
    error: str | None = None
