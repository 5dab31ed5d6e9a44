"""Template rates: a known message far above its own rate, or a rare one in a burst.

Each template keeps exponentially decayed sums of its per-minute rate and of the rate
squared (kernel estimates, decayed lazily, so templates absent from a batch cost
nothing). The second moment captures burstiness: a template that always comes in
clumps must clump far harder to count as a burst. A burst must also raise the template's
share of the stream: a stream-wide surge belongs to the volume detector.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import msgspec

from pipeline.detectors.base import MinedBatch
from pipeline.detectors.explain import (
    FieldCounts,
    clip,
    count_fields,
    entry_ids,
    overrepresented,
    sentence,
)
from pipeline.detectors.sustain import Streak, Sustain, ramp, window_seconds
from pipeline.entry import Severity
from pipeline.findings import Evidence, Finding


class TemplateRate(msgspec.Struct, frozen=True, array_like=True):
    rate: float  # decayed mean entries per minute, as of `at_ns`
    square: float  # decayed mean of the squared per-minute rate
    at_ns: int
    first_ns: int
    total: int  # entries ever seen

    def add(
        self, count: int, minutes: float, now: int, tau_s: float, weight: float = 1.0
    ) -> TemplateRate:
        """`count` entries over `minutes` ending at `now`, learned with `weight`."""
        keep = math.exp(-max(0, now - self.at_ns) / 1e9 / tau_s)
        per_tau = weight * 60.0 / tau_s
        return TemplateRate(
            self.rate * keep + count * per_tau,
            self.square * keep + count * count / max(minutes, 1e-3) * per_tau,
            max(now, self.at_ns),
            self.first_ns or now,
            self.total + count,
        )

    def usual(self, now: int, seconds: float, tau_s: float) -> tuple[float, float]:
        """Expected count in a window of `seconds` ending at `now`, and its spread."""
        keep = math.exp(-max(0, now - self.at_ns) / 1e9 / tau_s)
        # Early on the sums lack history; dividing by the weight they cover unbiases them.
        covered = max(1e-9, -math.expm1(-((now - self.first_ns) / 1e9 + seconds) / tau_s))
        rate, square = self.rate * keep / covered, self.square * keep / covered
        minutes = seconds / 60.0
        variance = max(rate * minutes, (square - rate * rate) * minutes * minutes)
        return rate * minutes, math.sqrt(max(variance, 0.0))


NEVER = TemplateRate(0.0, 0.0, 0, 0, 0)


class TemplateRateState(msgspec.Struct):
    templates: dict[str, TemplateRate] = {}
    stream: TemplateRate = NEVER
    last_end_ns: int = 0
    burst_streak: Streak = Streak()
    rare_streak: Streak = Streak()
    labels: FieldCounts = {}


@dataclass(frozen=True, slots=True)
class Surge:
    kind: str  # "template_burst" or "rare_template"
    template_id: str
    indexes: tuple[int, ...]
    expected: float  # entries the template's usual rate gives in this window
    seen_before: int
    raw: float


@dataclass(frozen=True, slots=True)
class TemplateRateDetector:
    """One finding per kind per batch, led by the strongest template."""

    tau_s: float = 4 * 3600.0
    burst_ratio: float = 5.0
    spread_z: float = 4.0  # above the expected count by this many spreads
    share_ratio: float = 2.0
    min_burst_entries: int = 10
    min_age_s: float = 600.0  # a template's rate is trusted after this long
    rare_max_total: int = 5  # "seen only a few times ever"
    rare_min_entries: int = 5
    surge_weight: float = 0.2
    max_templates: int = 2000
    max_gap_s: float = 900.0
    sustain: Sustain = field(default_factory=Sustain)
    name = "template_rate"
    state_type = TemplateRateState

    def initial_state(self) -> TemplateRateState:
        return TemplateRateState()

    def detect(
        self, mined: MinedBatch, state: TemplateRateState
    ) -> tuple[list[Finding], TemplateRateState]:
        if not mined.entries:
            return [], state
        templates = _merge_ancestors(state.templates, mined.ancestors, self.tau_s)
        seconds = window_seconds(mined.batch, state.last_end_ns, self.max_gap_s)
        surges = self._surges(mined, templates, state.stream, seconds) if seconds else []
        bursts = [s for s in surges if s.kind == "template_burst"]
        rares = [s for s in surges if s.kind == "rare_template"]
        streaks = {
            "template_burst": state.burst_streak.advance(bool(bursts)),
            "rare_template": state.rare_streak.advance(bool(rares)),
        }
        findings = [
            self._finding(mined, state, group, streaks[group[0].kind])
            for group in (bursts, rares)
            if group
        ]
        minutes = (seconds or max(60.0, (mined.batch.end_ns - mined.batch.start_ns) / 1e9)) / 60
        return findings, self._learn(mined, state, templates, surges, streaks, minutes)

    def _surges(
        self,
        mined: MinedBatch,
        templates: dict[str, TemplateRate],
        stream: TemplateRate,
        seconds: float,
    ) -> list[Surge]:
        now = mined.batch.end_ns
        stream_expected = max(stream.usual(now, seconds, self.tau_s)[0], 1e-9)
        by_template: dict[str, list[int]] = {}
        for i, template_id in enumerate(mined.template_ids):
            by_template.setdefault(template_id, []).append(i)
        surges = []
        for template_id, indexes in by_template.items():
            known = templates.get(template_id)
            if known is None or (now - known.first_ns) / 1e9 < self.min_age_s:
                continue
            expected, spread = known.usual(now, seconds, self.tau_s)
            share = len(indexes) / len(mined.entries) / max(expected / stream_expected, 1e-9)
            surge = self._judge(template_id, indexes, expected, spread, known.total, share)
            if surge is not None:
                surges.append(surge)
        return sorted(surges, key=lambda s: (-s.raw, s.template_id))

    def _judge(
        self,
        template_id: str,
        indexes: list[int],
        expected: float,
        spread: float,
        seen_before: int,
        share_ratio: float,
    ) -> Surge | None:
        count = len(indexes)
        if seen_before <= self.rare_max_total and count >= self.rare_min_entries:
            raw = ramp(count, self.rare_min_entries, 10 * self.rare_min_entries)
            return Surge("rare_template", template_id, tuple(indexes), expected, seen_before, raw)
        if (
            count < self.min_burst_entries
            or count < self.burst_ratio * expected
            or count < expected + self.spread_z * spread
            or share_ratio < self.share_ratio
        ):
            return None
        limit = math.log(self.burst_ratio)
        # A dozen lines are a weaker burst than a hundred, however rare the template.
        size = min(1.0, 0.7 + 0.3 * (count - self.min_burst_entries) / (2 * self.min_burst_entries))
        raw = ramp(math.log(count / max(expected, 1e-9)), limit, limit + math.log(20.0)) * size
        return Surge("template_burst", template_id, tuple(indexes), expected, seen_before, raw)

    def _finding(
        self, mined: MinedBatch, state: TemplateRateState, surges: list[Surge], streak: Streak
    ) -> Finding:
        lead = surges[0]
        entries = [mined.entries[i] for i in lead.indexes]
        worst = max(e.severity for e in entries)
        # A burst of INFO lines is seldom an incident on its own; the volume detector
        # speaks for floods.
        weight = 1.0 if worst.is_error else 0.85 if worst >= Severity.WARNING else 0.65
        text = clip(mined.templates.get(lead.template_id, "?"))
        count = len(lead.indexes)
        others = f" (and {len(surges) - 1} more message(s))" if len(surges) > 1 else ""
        if lead.kind == "rare_template":
            said = (
                f'The rarely seen message "{text}" (only {lead.seen_before} time(s) before) '
                f"was logged {count} times in one window{others}."
            )
        else:
            said = (
                f'The message "{text}" was logged {count} times in one window, '
                f"{count / max(lead.expected, 1e-9):.0f}x its usual {lead.expected:.1f}"
                f"{others}."
            )
        return Finding(
            detector=self.name,
            anomaly_type=lead.kind,
            score=self.sustain.score(lead.raw * weight, streak.windows),
            summary=said + sentence(overrepresented(entries, state.labels)),
            evidence=Evidence(
                entry_ids=entry_ids(entries),
                template_ids=tuple(s.template_id for s in surges[:10]),
                numbers={
                    "count": count,
                    "expected": round(lead.expected, 3),
                    "seen_before": lead.seen_before,
                    "severity": int(worst),
                    "streak": streak.windows,
                },
            ),
        )

    def _learn(
        self,
        mined: MinedBatch,
        state: TemplateRateState,
        templates: dict[str, TemplateRate],
        surges: list[Surge],
        streaks: dict[str, Streak],
        minutes: float,
    ) -> TemplateRateState:
        now = mined.batch.end_ns
        # A surge is barely learned as the usual rate, but enough that a template which
        # keeps bursting comes to be known as bursty.
        weights = {
            s.template_id: max(
                self.surge_weight, self.sustain.learning_weight(streaks[s.kind].windows)
            )
            for s in surges
        }
        grown = dict(templates)
        for template_id, count in Counter(mined.template_ids).items():
            known = grown.get(template_id, NEVER)
            weight = weights.get(template_id, 1.0)
            grown[template_id] = known.add(count, minutes, now, self.tau_s, weight)
        if len(grown) > self.max_templates:
            keep = sorted(grown, key=lambda t: (grown[t].at_ns, t))[-self.max_templates :]
            grown = {t: grown[t] for t in keep}
        n = len(mined.entries)
        return TemplateRateState(
            templates=grown,
            stream=state.stream.add(n, minutes, now, self.tau_s),
            last_end_ns=max(state.last_end_ns, now),
            burst_streak=streaks["template_burst"],
            rare_streak=streaks["rare_template"],
            labels=state.labels if surges else count_fields(state.labels, mined.entries),
        )


def _merge_ancestors(
    templates: dict[str, TemplateRate], ancestors: dict[str, tuple[str, ...]], tau_s: float
) -> dict[str, TemplateRate]:
    """Templates the miner generalized hand their history to the template they became."""
    merged = dict(templates)
    for template_id, olds in ancestors.items():
        parts = [merged.pop(t) for t in (template_id, *olds) if t in merged]
        if parts:
            at = max(p.at_ns for p in parts)
            aged = [p.add(0, 1.0, at, tau_s) for p in parts]
            merged[template_id] = TemplateRate(
                sum(p.rate for p in aged),
                sum(p.square for p in aged),
                at,
                min(p.first_ns for p in aged),
                sum(p.total for p in aged),
            )
    return merged
