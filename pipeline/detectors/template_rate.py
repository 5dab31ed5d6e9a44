"""Template rates: a known message far above its own rate, or a rare one in a burst.

Each template keeps exponentially decayed sums of its per-minute rate and of the rate
squared (kernel estimates, decayed lazily, so templates absent from a batch cost
nothing). The second moment captures burstiness: a template that always comes in
clumps must clump far harder to count as a burst. A burst must also raise the template's
share of the stream: a stream-wide surge belongs to the volume detector.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from pipeline.detectors.base import MinedBatch, template_counts
from pipeline.detectors.explain import (
    FieldCounts,
    amount,
    clip,
    count_fields,
    entry_ids,
    overrepresented,
    sentence,
)
from pipeline.detectors.new_template import FAILURE_WORDS
from pipeline.detectors.sustain import Sustain, poisson_surprise, ramp, window_seconds
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


class Run(msgspec.Struct, frozen=True, array_like=True):
    """A template above its usual rate for `windows` windows in a row, summed up: a
    handful of lines a minute for ten minutes is a burst even when no minute is."""

    count: int
    expected: float
    windows: int
    seen_before: int  # entries of the template ever seen before the run began

    def extend(self, count: int, expected: float) -> Run:
        return Run(self.count + count, self.expected + expected, self.windows + 1,
                   self.seen_before)


class TemplateRateState(msgspec.Struct):
    templates: dict[str, TemplateRate] = {}
    stream: TemplateRate = NEVER
    last_end_ns: int = 0
    runs: dict[str, Run] = {}  # the templates above their rate in the last window
    labels: FieldCounts = {}


@dataclass(frozen=True, slots=True)
class Surge:
    kind: str  # "template_burst" or "rare_template"
    template_id: str
    indexes: tuple[int, ...]
    run: Run
    raw: float


@dataclass(frozen=True, slots=True)
class TemplateRateDetector:
    """One finding per kind per batch, led by the strongest template."""

    tau_s: float = 4 * 3600.0
    burst_ratio: float = 5.0
    spread_z: float = 4.0  # a window is above the usual count by this many spreads
    share_ratio: float = 2.0
    min_window_entries: int = 3  # a window with fewer neither starts nor extends a run
    min_burst_entries: int = 20  # in the run
    min_surprise: float = 8.0  # -log10 of the chance of the run's count at the usual rate
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
        counts = template_counts(mined)  # each template's lines in this batch
        runs = self._runs(mined, counts, templates, state, seconds) if seconds else {}
        surges = [s for t, run in runs.items() if (s := self._judge(t, run, mined)) is not None]
        surges.sort(key=lambda s: (-s.raw, s.template_id))
        findings = [
            self._finding(mined, state, group)
            for kind in ("template_burst", "rare_template")
            if (group := [s for s in surges if s.kind == kind])
        ]
        minutes = (seconds or max(60.0, (mined.batch.end_ns - mined.batch.start_ns) / 1e9)) / 60
        return findings, self._learn(mined, counts, state, templates, runs, surges, minutes)

    def _runs(
        self,
        mined: MinedBatch,
        counts: Mapping[str, int],
        templates: dict[str, TemplateRate],
        state: TemplateRateState,
        seconds: float,
    ) -> dict[str, Run]:
        """The runs this window starts or extends; a template back at its rate ends one."""
        now = mined.batch.end_ns
        stream_expected = max(state.stream.usual(now, seconds, self.tau_s)[0], 1e-9)
        runs = {}
        for template_id, count in counts.items():
            known = templates.get(template_id)
            if known is None or (now - known.first_ns) / 1e9 < self.min_age_s:
                continue
            expected, spread = known.usual(now, seconds, self.tau_s)
            share = count / len(mined.entries) / max(expected / stream_expected, 1e-9)
            if (
                count >= self.min_window_entries
                and count >= self.burst_ratio * expected
                and count >= expected + self.spread_z * spread
                and share >= self.share_ratio
            ):
                run = state.runs.get(template_id) or Run(0, 0.0, 0, known.total)
                runs[template_id] = run.extend(count, expected)
        return runs

    def _judge(self, template_id: str, run: Run, mined: MinedBatch) -> Surge | None:
        indexes = tuple(i for i, t in enumerate(mined.template_ids) if t == template_id)
        rare = run.seen_before <= self.rare_max_total and run.count >= self.rare_min_entries
        # A rare routine message (no failure stated, below WARNING) is news, not trouble:
        # it must make a burst on the evidence any known message needs.
        if rare and _states_trouble(mined, template_id, indexes):
            raw = ramp(run.count, self.rare_min_entries, 10 * self.rare_min_entries)
            return Surge("rare_template", template_id, indexes, run, raw)
        ratio = run.count / max(run.expected, 1e-9)
        if (
            run.count < self.min_burst_entries
            or ratio < self.burst_ratio
            or poisson_surprise(run.count, run.expected) < self.min_surprise
        ):
            return None
        limit = math.log(self.burst_ratio)
        # A dozen lines are a weaker burst than a hundred, however rare the template.
        least = self.min_burst_entries
        size = min(1.0, 0.7 + 0.3 * (run.count - least) / least)
        raw = ramp(math.log(ratio), limit, limit + math.log(20.0)) * size
        return Surge("template_burst", template_id, indexes, run, raw)

    def _finding(
        self, mined: MinedBatch, state: TemplateRateState, surges: list[Surge]
    ) -> Finding:
        lead = surges[0]
        run = lead.run
        entries = [mined.entries[i] for i in lead.indexes]
        worst = max(e.severity for e in entries)
        # A burst of INFO lines is seldom an incident on its own; the volume detector
        # speaks for floods.
        weight = 1.0 if worst.is_error else 0.85 if worst >= Severity.WARNING else 0.65
        text = clip(mined.templates.get(lead.template_id, "?"))
        span = "in one window" if run.windows == 1 else f"in the last {run.windows} windows"
        others = f" (and {len(surges) - 1} more message(s))" if len(surges) > 1 else ""
        if lead.kind == "rare_template":
            said = (
                f'The rarely seen message "{text}" (only {run.seen_before} time(s) before) '
                f"was logged {run.count} times {span}{others}."
            )
        else:
            said = (
                f'The message "{text}" was logged {run.count} times {span}, '
                f"{run.count / max(run.expected, 1e-9):.0f}x its usual {amount(run.expected)}"
                f"{others}."
            )
        return Finding(
            detector=self.name,
            anomaly_type=lead.kind,
            score=self.sustain.score(lead.raw * weight, run.windows),
            summary=said + sentence(overrepresented(entries, state.labels)),
            evidence=Evidence(
                entry_ids=entry_ids(entries),
                template_ids=tuple(s.template_id for s in surges[:10]),
                numbers={
                    "count": len(entries),
                    "run_count": run.count,
                    "expected": round(run.expected, 3),
                    "seen_before": run.seen_before,
                    "severity": int(worst),
                    "streak": run.windows,
                },
            ),
        )

    def _learn(
        self,
        mined: MinedBatch,
        counts: Mapping[str, int],
        state: TemplateRateState,
        templates: dict[str, TemplateRate],
        runs: dict[str, Run],
        surges: list[Surge],
        minutes: float,
    ) -> TemplateRateState:
        now = mined.batch.end_ns
        # A surge is barely learned as the usual rate, but enough that a template which
        # keeps bursting comes to be known as bursty.
        weights = {
            s.template_id: max(self.surge_weight, self.sustain.learning_weight(s.run.windows))
            for s in surges
        }
        grown = dict(templates)
        for template_id, count in counts.items():
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
            runs=runs,
            labels=state.labels if surges else count_fields(state.labels, mined.entries),
        )


def _merge_ancestors(
    templates: dict[str, TemplateRate], ancestors: dict[str, tuple[str, ...]], tau_s: float
) -> dict[str, TemplateRate]:
    """Templates the miner generalized hand their history to the template they became."""
    merged = dict(templates)
    for template_id, olds in ancestors.items():
        if not any(t in merged for t in olds):  # most: nothing kept of an older template
            continue
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


def _states_trouble(mined: MinedBatch, template_id: str, indexes: tuple[int, ...]) -> bool:
    """Whether the template's lines are logged at WARNING or worse, or state a failure."""
    if any(mined.entries[i].severity >= Severity.WARNING for i in indexes):
        return True
    return bool(FAILURE_WORDS.search(mined.templates.get(template_id, "")))
