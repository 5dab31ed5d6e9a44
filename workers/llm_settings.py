"""Settings of LLM escalation (`LOGWARDEN_LLM__*`): off unless a key (or a Vertex AI
project) is given."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from pipeline.escalation import DEFAULT_MODEL


class LlmSettings(BaseModel):
    """Gemini through an API key (`api_key`, `base_url` for a proxy) or Vertex AI
    (`vertex_project`, `vertex_location`, ambient Google credentials)."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr | None = None
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    vertex_project: str | None = None
    vertex_location: str = "us-central1"
    timeout_s: float = Field(20.0, gt=0, le=120)
    max_attempts: int = Field(3, ge=1, le=6)
    max_wait_s: float = Field(30.0, ge=0, le=120)  # longest Retry-After honoured in a task
    breaker_failures: int = Field(5, ge=1)
    breaker_open_s: float = Field(60.0, gt=0)
    # Economy: one call per fingerprint per cool-down; fleet-wide limits (Redis).
    cooldown_s: float = Field(6 * 3600.0, ge=0)
    calls_per_minute: int = Field(10, ge=1)
    daily_token_budget: int = Field(2_000_000, ge=0)
    usd_per_million_input: float = Field(0.30, ge=0)
    usd_per_million_output: float = Field(2.50, ge=0)
    # When to escalate.
    borderline_low: float = Field(0.6, ge=0, le=1)
    borderline_high: float = Field(0.8, ge=0, le=1)
    on_alert_open: bool = True
    on_severity_growth: bool = True
    on_new_failure_template: bool = True
    # Acting on verdicts.
    min_confidence: float = Field(0.7, ge=0, le=1)
    suppress_benign: bool = False
    redact_patterns: list[str] = []

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # `LOGWARDEN_LLM__API_KEY=` (as compose passes an unset variable) means no key.
        return None if value == "" else value

    @model_validator(mode="after")
    def _band_is_a_band(self) -> LlmSettings:
        if self.borderline_low > self.borderline_high:
            raise ValueError("llm.borderline_low must not exceed llm.borderline_high")
        return self

    @property
    def configured(self) -> bool:
        return self.api_key is not None or self.vertex_project is not None
