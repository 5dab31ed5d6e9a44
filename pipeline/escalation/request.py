"""What one escalation is about: the anomaly, its numbers, its templates and a few lines.

Built by the detect step from the batch it just processed (the entries are gone after
that) and already redacted, so nothing sensitive rides the queue either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.anomaly import Anomaly
from pipeline.detectors.base import MinedBatch
from pipeline.entry import LogEntry, Severity
from pipeline.escalation.redaction import Redactor

MAX_TEMPLATES = 8
MAX_SAMPLES = 8
MAX_LINE_CHARS = 400


@dataclass(frozen=True, slots=True)
class TemplateLine:
    """A template of the window: how often it appeared here, and whether it is new."""

    template_id: str
    text: str
    count: int
    distinct_lines: int
    cited: bool  # named by a finding
    # The values its varying words took: "word 4: 12, 17, 31 (8 distinct)".
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SampleLine:
    insert_id: str
    timestamp_ns: int
    severity: str
    template_id: str
    text: str


@dataclass(frozen=True, slots=True)
class FindingLine:
    detector: str
    anomaly_type: str
    score: float
    summary: str
    numbers: dict[str, float]


@dataclass(frozen=True, slots=True)
class EscalationRequest:
    """Everything the prompt carries about one anomaly; every text already redacted."""

    anomaly_id: str
    alert_id: str | None
    fingerprint: str
    stream: str
    start_ns: int
    end_ns: int
    anomaly_type: str
    severity: str
    score: float
    summary: str
    entries: int
    findings: tuple[FindingLine, ...]
    templates: tuple[TemplateLine, ...]
    samples: tuple[SampleLine, ...]
    reasons: tuple[str, ...] = ()  # why it was escalated

    def template_ids(self) -> set[str]:
        return {t.template_id for t in self.templates}

    def insert_ids(self) -> set[str]:
        return {s.insert_id for s in self.samples}


def build_request(
    anomaly: Anomaly,
    mined: MinedBatch,
    redactor: Redactor,
    *,
    alert_id: str | None,
    reasons: Sequence[str] = (),
) -> EscalationRequest:
    """The request for `anomaly`, found in `mined` (the batch it came from)."""
    cited_templates = {t for f in anomaly.findings for t in f.evidence.template_ids}
    cited_entries = {e for f in anomaly.findings for e in f.evidence.entry_ids}
    return EscalationRequest(
        anomaly_id=anomaly.id,
        alert_id=alert_id,
        fingerprint=anomaly.fingerprint,
        stream=str(anomaly.stream),
        start_ns=anomaly.start_ns,
        end_ns=anomaly.end_ns,
        anomaly_type=anomaly.anomaly_type,
        severity=str(anomaly.severity),
        score=anomaly.score,
        summary=redactor.redact(anomaly.summary),
        entries=len(mined.batch.entries),
        findings=tuple(
            FindingLine(f.detector, f.anomaly_type, f.score, redactor.redact(f.summary),
                        dict(f.evidence.numbers))
            for f in anomaly.findings
        ),
        templates=_templates(mined, cited_templates, redactor),
        samples=_samples(mined, cited_entries, cited_templates, redactor),
        reasons=tuple(reasons),
    )


def _templates(mined: MinedBatch, cited: set[str], redactor: Redactor) -> tuple[TemplateLine, ...]:
    counts = Counter(mined.template_ids)
    distinct: dict[str, dict[str, None]] = {}  # insertion-ordered sets
    for entry, template_id in zip(mined.batch.entries, mined.template_ids, strict=True):
        distinct.setdefault(template_id, {})[entry.message] = None
    # Cited first, then the most frequent.
    order = sorted(counts, key=lambda t: (t not in cited, -counts[t], t))[:MAX_TEMPLATES]
    return tuple(
        TemplateLine(t, redactor.redact(mined.templates.get(t, ""))[:MAX_LINE_CHARS],
                     counts[t], len(distinct[t]), t in cited,
                     parameter_summary(list(distinct[t]), redactor))
        for t in order
    )


def parameter_summary(
    lines: Sequence[str], redactor: Redactor, positions: int = 3, values: int = 3
) -> tuple[str, ...]:
    """The words that vary between the lines of one template (lines of the first line's
    length only), each with a few of its values, redacted."""
    shape = [line.split() for line in lines[:200]]
    same = [words for words in shape if len(words) == len(shape[0])] if shape else []
    summary = []
    for i in range(len(same[0]) if same else 0):
        seen = list(dict.fromkeys(words[i] for words in same))
        if len(seen) < 2:
            continue
        redacted = dict.fromkeys(redactor.redact(v)[:40] for v in seen)
        shown = ", ".join(list(redacted)[:values])
        summary.append(f"word {i + 1}: {shown} ({len(seen)} distinct)")
        if len(summary) == positions:
            break
    return tuple(summary)


def _samples(
    mined: MinedBatch, cited_entries: set[str], cited_templates: set[str], redactor: Redactor
) -> tuple[SampleLine, ...]:
    """Cited entries first, then the first line of each cited template, then errors,
    warnings and the rest, each text once, up to MAX_SAMPLES; shown in time order."""
    pairs = list(zip(mined.batch.entries, mined.template_ids, strict=True))
    first_of: dict[str, str] = {}
    for entry, template_id in pairs:
        first_of.setdefault(template_id, entry.insert_id)

    def rank(pair: tuple[LogEntry, str]) -> int:
        entry, template_id = pair
        if entry.insert_id in cited_entries:
            return 0
        if template_id in cited_templates and first_of[template_id] == entry.insert_id:
            return 1
        return 2 if entry.severity.is_error else 3 if entry.severity >= Severity.WARNING else 4

    chosen: dict[str, SampleLine] = {}
    texts: set[str] = set()
    for entry, template_id in sorted(pairs, key=rank):  # stable: time order within a rank
        if len(chosen) >= MAX_SAMPLES:
            break
        text = redactor.redact(entry.message)[:MAX_LINE_CHARS]
        if text in texts:  # the same line twice tells nothing new
            continue
        texts.add(text)
        chosen[entry.insert_id] = SampleLine(
            entry.insert_id, entry.timestamp_ns, entry.severity.name, template_id, text
        )
    return tuple(sorted(chosen.values(), key=lambda s: s.timestamp_ns))
