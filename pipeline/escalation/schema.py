"""The verdict's wire schema (what the model must answer) and its validation.

The SDK's `response.parsed` is silently None when the text does not fit the schema, so
the text is validated here: JSON, optionally inside a ``` fence; every field typed; and
the verdict must cite at least one template id or insertId that the prompt carried, or
it rests on nothing we showed and is rejected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.anomaly import Verdict


class VerdictKind(StrEnum):
    ANOMALY = "anomaly"
    BENIGN = "benign"
    UNSURE = "unsure"


class AnomalyKind(StrEnum):
    """The anomaly types detectors and built-in rules raise; `other` for the rest."""

    CRASH = "crash"
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    CONNECTIVITY = "connectivity"
    AUTH_FAILURE = "auth_failure"
    HTTP_5XX = "http_5xx"
    HTTP_4XX = "http_4xx"
    LATENCY = "latency"
    ERROR_BURST = "error_burst"
    NEW_TEMPLATE = "new_template"
    TEMPLATE_BURST = "template_burst"
    RARE_TEMPLATE = "rare_template"
    PARAMETER_OUTLIER = "parameter_outlier"
    VOLUME_SPIKE = "volume_spike"
    VOLUME_DROP = "volume_drop"
    SILENCE = "silence"
    UNUSUAL_WINDOW = "unusual_window"
    OTHER = "other"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class VerdictSchema(BaseModel):
    """What the model answers; handed to the SDK as `response_schema`."""

    model_config = ConfigDict(extra="forbid")

    verdict: VerdictKind
    anomaly_type: AnomalyKind
    severity: Severity
    confidence: float = Field(ge=0.0, le=1.0)
    title: str = Field(max_length=200)
    summary: str = Field(max_length=2000)
    probable_cause: str = Field(max_length=2000)
    user_impact: str = Field(max_length=1000)
    recommended_actions: list[str] = Field(max_length=10)
    cited_template_ids: list[str] = Field(max_length=50)
    cited_insert_ids: list[str] = Field(max_length=50)


class InvalidVerdict(ValueError):
    """The answer is not a usable verdict: never retried (the same prompt, the same answer)."""


_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def unfence(text: str) -> str:
    """The JSON inside a ```json ... ``` fence, or the text itself."""
    match = _FENCE.match(text)
    return match.group(1) if match else text


def parse_verdict(
    text: str | None,
    *,
    template_ids: Collection[str],
    insert_ids: Collection[str],
    model: str,
) -> Verdict:
    """The verdict in `text`, checked against the schema and against what the prompt
    cited (citations of ids not in the prompt are dropped; none left is InvalidVerdict)."""
    if not text or not text.strip():
        raise InvalidVerdict("the answer is empty")
    try:
        raw = json.loads(unfence(text))
        answer = VerdictSchema.model_validate(raw)
    except json.JSONDecodeError as error:
        raise InvalidVerdict(f"the answer is not JSON: {error.msg}") from None
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) or "answer" for e in error.errors())
        raise InvalidVerdict(f"the answer does not fit the verdict schema: {fields}") from None
    templates = tuple(t for t in answer.cited_template_ids if t in template_ids)
    inserts = tuple(i for i in answer.cited_insert_ids if i in insert_ids)
    if not templates and not inserts:
        raise InvalidVerdict("the verdict cites no template or entry that the prompt carried")
    return Verdict(
        verdict=answer.verdict.value,
        anomaly_type=answer.anomaly_type.value,
        severity=answer.severity.value,
        confidence=answer.confidence,
        title=answer.title.strip(),
        summary=answer.summary.strip(),
        cause=answer.probable_cause.strip(),
        impact=answer.user_impact.strip(),
        actions=tuple(a.strip() for a in answer.recommended_actions if a.strip()),
        template_ids=templates,
        insert_ids=inserts,
        model=model,
    )
