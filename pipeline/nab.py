"""The Numenta Anomaly Benchmark's scoring, standard profile (Lavin & Ahmad, "Evaluating
Real-time Anomaly Detection Algorithms — the Numenta Anomaly Benchmark", ICMLA 2015).

A series is a list of rows (timestamps) with labeled anomaly windows. Within a window,
only the first detection counts: it earns a scaled sigmoid of its position, close to
1 at the window's start and 0 at its end. A window with no detection costs 1. A
detection outside every window costs 0.11, or less when it falls shortly after a
window (the same sigmoid, over the distance past the window's end, in window widths).
The first 15 % of each series (at most 750 rows) is probation and is not scored. The
score of a corpus is normalized so that detecting nothing scores 0 and detecting every
window at its first row scores 100.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.evaluation import Incident, Window


@dataclass(frozen=True, slots=True)
class Profile:
    """Weights of one NAB application profile; `STANDARD` is the one the field reports."""

    tp: float = 1.0
    fp: float = 0.11
    fn: float = 1.0
    probation: float = 0.15
    max_probation_rows: float = 750.0  # NAB: the probation share of 5,000 rows


STANDARD = Profile()


@dataclass(frozen=True, slots=True)
class Series:
    """One labeled series: sorted row times, its windows (`[start, end]`, inclusive) and
    the rows a detector flagged (indexes into `times`)."""

    name: str
    times: tuple[int, ...]
    windows: tuple[tuple[int, int], ...]
    detections: frozenset[int]


@dataclass(frozen=True, slots=True)
class SeriesScore:
    name: str
    raw: float  # the sum of the weighted scores
    windows: int
    detected: int  # windows with a detection
    false_positives: int
    fp_cost: float


@dataclass(frozen=True, slots=True)
class CorpusScore:
    series: tuple[SeriesScore, ...]

    @property
    def raw(self) -> float:
        return sum(s.raw for s in self.series)

    @property
    def windows(self) -> int:
        return sum(s.windows for s in self.series)

    @property
    def detected(self) -> int:
        return sum(s.detected for s in self.series)

    @property
    def false_positives(self) -> int:
        return sum(s.false_positives for s in self.series)

    def normalized(self, profile: Profile = STANDARD) -> float:
        """100 * (raw - null) / (perfect - null); 0 when there are no windows at all."""
        null, perfect = -profile.fn * self.windows, profile.tp * self.windows
        if perfect == null:
            return 0.0
        return 100.0 * (self.raw - null) / (perfect - null)


def scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: ≈ 1 at position -1 (a window's start), 0 at 0 (its end), -1
    from 3 window widths past it."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def score_series(series: Series, profile: Profile = STANDARD) -> SeriesScore:
    """The weighted NAB score of one series' detections."""
    n = len(series.times)
    probation = min(math.floor(profile.probation * n), profile.max_probation_rows)
    spans = _window_rows(series.times, series.windows)
    inside = {i: w for w, (lo, hi) in enumerate(spans) for i in range(lo, hi + 1)}
    best: dict[int, float] = {}
    fp_cost, fps = 0.0, 0
    max_tp = scaled_sigmoid(-1.0)
    for i in sorted(series.detections):
        if i < probation or not 0 <= i < n:
            continue
        if i in inside:
            lo, hi = spans[inside[i]]
            gain = scaled_sigmoid(-(hi - i + 1) / (hi - lo + 1)) * profile.tp / max_tp
            best[inside[i]] = max(best.get(inside[i], -math.inf), gain)
            continue
        fps += 1
        fp_cost += _fp_weight(i, spans) * profile.fp
    scored = [w for w, (lo, hi) in enumerate(spans) if hi >= probation]
    tp = sum(best.get(w, 0.0) for w in scored if w in best)
    missed = sum(1 for w in scored if w not in best)
    raw = tp + fp_cost - missed * profile.fn
    return SeriesScore(series.name, raw, len(scored), len(scored) - missed, fps, fp_cost)


def score_corpus(all_series: Iterable[Series], profile: Profile = STANDARD) -> CorpusScore:
    return CorpusScore(tuple(score_series(s, profile) for s in all_series))


def _window_rows(times: Sequence[int], windows: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each window as its first and last row; windows holding no row are dropped."""
    spans = []
    for start, end in sorted(windows):
        lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, end) - 1
        if lo <= hi:
            spans.append((lo, hi))
    return spans


def _fp_weight(i: int, spans: Sequence[tuple[int, int]]) -> float:
    """-1 before any window; after one, the sigmoid of the distance past its end."""
    before = [(lo, hi) for lo, hi in spans if hi < i]
    if not before:
        return -1.0
    lo, hi = before[-1]
    width = hi - lo + 1
    return scaled_sigmoid(abs(hi - i) / max(1.0, width - 1.0))


def series_from_windows(
    rows: Sequence[Window],
    flagged: Sequence[Window],
    incidents: Sequence[Incident],
    source: str,
) -> list[Series]:
    """One NAB series per service of a replay: its batches are the rows (at each batch's
    last entry), its incidents the windows, and a row is detected when `source` flagged
    its batch (a flagged scheduled check counts at the next row)."""
    times: dict[str, list[int]] = {}
    for w in sorted(rows, key=lambda w: w.end_ns):
        times.setdefault(w.service, []).append(w.end_ns)
    hits: dict[str, set[int]] = {}
    for w in flagged:
        row_times = times.get(w.service)
        if row_times and w.flagged_by(source):
            index = min(bisect.bisect_left(row_times, w.end_ns), len(row_times) - 1)
            hits.setdefault(w.service, set()).add(index)
    return [
        Series(
            service,
            tuple(row_times),
            tuple((i.start_ns, i.end_ns) for i in incidents if i.service == service),
            frozenset(hits.get(service, ())),
        )
        for service, row_times in sorted(times.items())
    ]
