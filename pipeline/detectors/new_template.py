"""New template: a message shape this stream has never logged before, after a warm-up.

A new shape is a candidate first. Novelty alone never alerts: a new shape fires when it
states a failure (logged at ERROR or worse) and repeats, when it keeps coming at a
lasting rate (many lines over several batches), or when a warning in failure words (or,
more times, any message) repeats right after a deploy. A single odd line stays quiet; a
new error that repeats does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from pipeline.detectors.base import MinedBatch, template_counts
from pipeline.entry import LogEntry, Severity
from pipeline.findings import Evidence, Finding

# Words in which programs state a failure; a new shape without them (and below ERROR) is
# only news, not trouble.
FAILURE_WORDS = re.compile(
    r"(?i)\b(fail(s|ed|ure|ing)?|errors?|exceptions?|fatal|panic|refused|denied|unable"
    r"|cannot|can't|could not|couldn't|timed out|timeout|unreachable|abort(ed|ing)?"
    r"|crash(ed|es)?|killed|corrupt(ed|ion)?|invalid|exceeded|lost|unavailable|rejected)\b"
)


class Candidate(msgspec.Struct, array_like=True):
    first_ns: int
    count: int
    worst: int  # Severity value
    after_change: bool = False  # first seen soon after a deploy or config change
    batches: int = 1  # how many batches it came in
    failure: bool = False  # its text states a failure


class NewTemplateState(msgspec.Struct):
    known: list[str] = []  # oldest first; bounded by `max_known`
    candidates: dict[str, Candidate] = {}
    novel: list[int] = []  # when recent WARNING+ new templates settled: how novel it is
    entries: int = 0
    batches: int = 0


@dataclass(frozen=True, slots=True)
class NewTemplateDetector:
    """Scores a new template by the worst severity it was logged at and how often."""

    warmup_entries: int = 200
    warmup_batches: int = 10
    candidate_window_s: float = 600.0
    after_change_s: float = 1800.0  # new shapes this soon after a deploy weigh more
    novelty_window_s: float = 6 * 3600.0
    novelty_step: float = 0.05  # a stream that often logs new shapes is less surprised
    max_novelty_penalty: float = 0.2
    fire_at: float = 0.6
    lasting_count: int = 100  # a new shape this many times over this many batches...
    lasting_batches: int = 10  # ...is a lasting rate, whatever it says
    max_known: int = 5000
    name: str = "new_template"
    state_type: type = NewTemplateState

    def initial_state(self) -> NewTemplateState:
        return NewTemplateState()

    def detect(
        self, mined: MinedBatch, state: NewTemplateState
    ) -> tuple[list[Finding], NewTemplateState]:
        known = set(state.known)
        # Each template of the batch judged once; most batches hold no template not known.
        unknown = {t for t in template_counts(mined) if t not in known and not any(
            a in known for a in mined.ancestors.get(t, ()))}
        fresh: dict[str, list[LogEntry]] = {}
        if unknown:
            for entry, template_id in zip(mined.entries, mined.template_ids, strict=True):
                if template_id in unknown:
                    fresh.setdefault(template_id, []).append(entry)
        warm = state.entries >= self.warmup_entries and state.batches >= self.warmup_batches
        if not warm:  # everything seen while warming up is simply normal
            learned = [*state.known, *fresh][-self.max_known :]
            return [], NewTemplateState(
                learned, {}, [], state.entries + len(mined.entries), state.batches + 1
            )
        return self._judge(mined, state, fresh)

    def _judge(
        self, mined: MinedBatch, state: NewTemplateState, fresh: dict[str, list[LogEntry]]
    ) -> tuple[list[Finding], NewTemplateState]:
        now = mined.batch.end_ns
        candidates = dict(state.candidates)
        horizon_novel = now - int(self.novelty_window_s * 1e9)
        novel = [t for t in state.novel if t >= horizon_novel]
        penalty = min(self.max_novelty_penalty, self.novelty_step * len(novel))
        findings, settled = [], []
        for template_id, entries in fresh.items():
            first = entries[0].timestamp_ns
            old = candidates.get(template_id) or Candidate(
                first, 0, 0, self._soon_after(mined.last_change_ns, first)
            )
            worst = max(old.worst, *(int(e.severity) for e in entries))
            text = mined.templates.get(template_id, "")
            failure = old.failure or bool(FAILURE_WORDS.search(text))
            candidate = Candidate(
                old.first_ns, old.count + len(entries), worst, old.after_change,
                old.batches + (template_id in candidates), failure,
            )  # fmt: skip
            if self._score(candidate) - penalty >= self.fire_at:
                findings.append(self._finding(mined, template_id, entries, candidate, penalty))
                settled.append(template_id)
                candidates.pop(template_id, None)
            else:
                candidates[template_id] = candidate
        horizon = now - int(self.candidate_window_s * 1e9)
        for template_id, candidate in list(candidates.items()):
            if candidate.first_ns < horizon:  # seen, never alarming: it is normal now
                settled.append(template_id)
                del candidates[template_id]
        known = [*state.known, *settled][-self.max_known :]
        # Only warnings and worse count: INFO shapes come and go in every healthy stream.
        alarming = sum(1 for t in settled if _worst(t, fresh, state.candidates) >= Severity.WARNING)
        novel = [*novel, *([now] * alarming)][-64:]
        return findings, NewTemplateState(
            known, candidates, novel, state.entries + len(mined.entries), state.batches + 1
        )

    def _score(self, candidate: Candidate) -> float:
        """Its repetition score, or the alerting line itself when it comes at a lasting
        rate (a flood of a new shape is trouble whatever it says)."""
        lasting = (
            candidate.count >= self.lasting_count and candidate.batches >= self.lasting_batches
        )
        return max(_repeated(candidate), self.fire_at if lasting else 0.0)

    def _soon_after(self, change_ns: int | None, at_ns: int) -> bool:
        return change_ns is not None and 0 <= at_ns - change_ns <= self.after_change_s * 1e9

    def _finding(
        self,
        mined: MinedBatch,
        template_id: str,
        entries: list[LogEntry],
        candidate: Candidate,
        penalty: float,
    ) -> Finding:
        worst = Severity(candidate.worst)
        text = mined.templates.get(template_id, "?")
        return Finding(
            detector=self.name,
            anomaly_type="new_template",
            score=round(self._score(candidate) - penalty, 4),
            summary=(
                f"A message never seen on this stream appeared {candidate.count} time(s)"
                f"{' since its last deploy' if candidate.after_change else ''}, "
                f'worst at {worst.name}: "{_clip(text)}".'
            ),
            evidence=Evidence(
                entry_ids=tuple(e.insert_id for e in entries[:20]),
                template_ids=(template_id,),
                numbers={
                    "occurrences": candidate.count,
                    "severity": int(worst),
                    "novelty_penalty": penalty,
                },
            ),
        )


def _worst(
    template_id: str, fresh: dict[str, list[LogEntry]], candidates: dict[str, Candidate]
) -> int:
    seen = [int(e.severity) for e in fresh.get(template_id, [])]
    old = candidates.get(template_id)
    return max([*seen, old.worst if old else 0])


def _base(candidate: Candidate) -> float:
    worst = candidate.worst
    if worst >= Severity.CRITICAL:
        return 0.5  # even a new fatal line is one line: it fires when it comes again
    if worst >= Severity.ERROR:
        return 0.45  # a new error line fires on its third sighting
    if worst >= Severity.WARNING and candidate.failure:
        return 0.25  # a warning, even in failure words, needs a deploy or a lasting rate
    return 0.2  # never by itself: news, not trouble


def _repeated(candidate: Candidate) -> float:
    """Severity sets the start, repetition adds; a deploy just before adds too (a new
    message that keeps coming right after a deploy is the classic regression)."""
    base = _base(candidate) + (0.2 if candidate.after_change else 0.0)
    return round(min(1.0, base + 0.1 * min(candidate.count - 1, 3)), 4)


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
