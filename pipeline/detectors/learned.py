"""Learned: an isolation forest over per-window feature vectors, trained per stream.

Each window becomes a vector (volume, error and warning shares, distinct templates, 5xx
share, latency quantiles, and template shares hashed to `MIX_WIDTH` buckets). The forest
is fitted on the stream's recent normal windows, kept in the state (bounded), refitted
every `retrain_every` windows with a fixed seed, and stored in the state as the arrays of
its trees (`StoredForest`); beside it, the distance to the nearest recent windows in
robust units. A state stored by an older version holds the forest as a compressed pickle:
it is read once (the state store is trusted infrastructure: a pickle runs code when
loaded) and kept as arrays from then on.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import msgspec
import numpy as np

from pipeline.detectors.base import MinedBatch, severity_counts, template_counts
from pipeline.detectors.explain import entry_ids, top_templates
from pipeline.detectors.forest import ForestScorer, StoredForest, fit_forest, isolation_forest
from pipeline.detectors.small_stats import quantile
from pipeline.detectors.sustain import Streak, Sustain, ramp, window_seconds
from pipeline.entry import Severity
from pipeline.findings import Evidence, Finding

MIX_WIDTH = 16
BASE = ("volume", "errors", "warnings", "templates", "5xx", "p50", "p95")
FEATURES = (*BASE, *(f"mix{i}" for i in range(MIX_WIDTH)))
# Per-feature noise floors for explanations: shares move by a few points, logs by ~20%.
FLOORS = np.asarray([0.2, 0.03, 0.03, 0.2, 0.02, 0.2, 0.2, *([0.03] * MIX_WIDTH)])


class LearnedState(msgspec.Struct):
    history: bytes = b""  # float32 rows of len(FEATURES), oldest first
    model: bytes = b""  # an older version's zlib-compressed pickle of the forest; b"" since
    forest: StoredForest | None = None  # the fitted trees; None before the first fit
    cut: float = 0.0  # the training windows' high isolation-score quantile
    distance_cut: float = 0.0  # their high quantile of k-th neighbour distance
    center: list[float] = []  # per-feature median of the training windows
    scale: list[float] = []  # per-feature robust spread, floored
    since_fit: int = 0
    last_end_ns: int = 0
    streak: Streak = Streak()


@dataclass(frozen=True, slots=True)
class Oddness:
    isolation: float  # the forest's anomaly score (about 0.5 for usual windows)
    distance: float  # to the k-th nearest recent window, in robust spreads
    raw: float  # 0 when the window is usual


def features(mined: MinedBatch, seconds: float) -> np.ndarray:
    """The window's feature vector, in the order of `FEATURES`."""
    entries = mined.entries
    n = max(len(entries), 1)
    answered = [e.http_status for e in entries if e.http_status is not None]
    latency = [s for e in entries if (s := e.http_latency_s) is not None and math.isfinite(s)]
    p50, p95 = (quantile(latency, 0.5), quantile(latency, 0.95)) if latency else (0.0, 0.0)
    severities = severity_counts(mined)
    counts = template_counts(mined)
    mix = _template_mix(counts, n)
    base = [
        math.log1p(len(entries) * 60.0 / seconds),
        sum(c for s, c in severities.items() if s.is_error) / n,
        sum(c for s, c in severities.items() if Severity.WARNING <= s < Severity.ERROR) / n,
        math.log1p(len(counts)),
        sum(s >= 500 for s in answered) / max(len(answered), 1),
        math.log1p(max(float(p50), 0.0) * 1000.0),
        math.log1p(max(float(p95), 0.0) * 1000.0),
    ]
    return np.concatenate([np.asarray(base), mix]).astype(np.float32)


def _template_mix(counts: Mapping[str, int], n: int) -> np.ndarray:
    """The share of the entries in each template bucket, counted per template. Each share
    still grows by 1/n an entry: the same steps in any order make the same sum, which
    `count / n` may miss in the last bit."""
    per_bucket: dict[int, int] = {}
    for template_id, count in counts.items():
        bucket = _bucket(template_id)
        per_bucket[bucket] = per_bucket.get(bucket, 0) + count
    mix = np.zeros(MIX_WIDTH)
    step = 1.0 / n
    for bucket, count in per_bucket.items():
        share = 0.0
        for _ in range(count):
            share += step
        mix[bucket] = share
    return mix


@lru_cache(maxsize=16_384)  # bounded; template ids repeat from batch to batch
def _bucket(template_id: str) -> int:
    # Python's hash() is salted per process; a digest puts a template in the same bucket
    # on every worker.
    return hashlib.blake2b(template_id.encode(), digest_size=4).digest()[0] % MIX_WIDTH


def _load(state: LearnedState) -> ForestScorer | None:
    """The forest, or None before the first fit or when it cannot be read (say, a model
    pickled by another library version): then it is refitted at once."""
    try:
        if state.forest is not None:
            return ForestScorer.from_stored(state.forest)
        return _unpickle(state.model) if state.model else None
    except Exception:
        return None


def _unpickle(model: bytes) -> ForestScorer:
    forest = pickle.loads(zlib.decompress(model))
    if not isinstance(forest, isolation_forest()):
        raise TypeError(f"not an isolation forest: {type(forest).__name__}")
    return ForestScorer.from_forest(forest)


@dataclass(frozen=True, slots=True)
class LearnedDetector:
    """Fires `unusual_window` when a window is isolated by the forest or far from its
    nearest recent windows (the forest cannot see past the range it was trained on, nor
    use a feature that never moved; the distance can)."""

    min_history: int = 60
    max_history: int = 360
    retrain_every: int = 60
    n_estimators: int = 25  # scoring cost grows with trees; 25 separate well at 64 samples
    max_samples: int = 64
    random_state: int = 0
    cut_quantile: float = 0.99
    margin: float = 0.05
    min_raw_score: float = 0.6  # isolation scores near 0.5 are never unusual
    neighbours: int = 5
    distance_ratio: float = 2.0  # times the training windows' high neighbour distance
    # No single measure to point at, and no incident of the development sets that the
    # other detectors miss: its findings are evidence for `logwarden eval` and the
    # anomaly record, below the alerting line, until it earns more.
    max_score: float = 0.55
    max_gap_s: float = 900.0
    sustain: Sustain = field(default_factory=Sustain)
    name = "learned"
    state_type = LearnedState

    def initial_state(self) -> LearnedState:
        return LearnedState()

    def detect(self, mined: MinedBatch, state: LearnedState) -> tuple[list[Finding], LearnedState]:
        seconds = window_seconds(mined.batch, state.last_end_ns, self.max_gap_s)
        last_end = max(state.last_end_ns, mined.batch.end_ns)
        if seconds is None:
            return [], msgspec.structs.replace(state, last_end_ns=last_end)
        vector = features(mined, seconds)
        forest = _load(state)
        if state.model and forest is not None:  # an older version's pickle, read: kept as arrays
            state = msgspec.structs.replace(state, model=b"", forest=forest.stored())
        odd = self._judge(state, forest, vector) if forest is not None else None
        streak = state.streak.advance(odd is not None and odd.raw > 0)
        findings = []
        if odd is not None and odd.raw > 0:
            findings.append(self._finding(mined, state, vector, odd, streak))
        history = _rows(state.history)
        if self.sustain.admits(streak.windows):
            history = np.vstack([history, vector])[-self.max_history :]
        grown = msgspec.structs.replace(
            state,
            history=history.tobytes(),
            since_fit=state.since_fit + 1,
            last_end_ns=last_end,
            streak=streak,
        )
        due = forest is None or grown.since_fit >= self.retrain_every
        return findings, self.refresh(grown) if due else grown

    def refresh(self, state: LearnedState) -> LearnedState:
        """The state with the forest refitted on its history (for a scheduled job too);
        unchanged while the history is shorter than `min_history`. Deterministic."""
        history = _rows(state.history)
        if len(history) < self.min_history:
            return state
        forest, isolation = fit_forest(
            history,
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, len(history)),
            random_state=self.random_state,
        )
        center = np.median(history, axis=0)
        scale = np.maximum(1.4826 * np.median(np.abs(history - center), axis=0), FLOORS)
        standard = (history - center) / scale
        norms = (standard**2).sum(axis=1)
        squared = norms[:, None] + norms[None, :] - 2.0 * standard @ standard.T
        pairwise = np.sqrt(np.maximum(squared, 0.0))
        nearest = np.sort(pairwise, axis=1)[:, min(self.neighbours, len(history) - 1)]
        return msgspec.structs.replace(
            state,
            model=b"",
            forest=forest.stored(),
            cut=float(np.quantile(isolation, self.cut_quantile)),
            distance_cut=max(1.0, float(np.quantile(nearest, self.cut_quantile))),
            center=[float(c) for c in center],
            scale=[float(s) for s in scale],
            since_fit=0,
        )

    def threshold(self, state: LearnedState) -> float:
        return max(self.min_raw_score, state.cut + self.margin)

    def _judge(self, state: LearnedState, forest: ForestScorer, vector: np.ndarray) -> Oddness:
        isolation = forest.isolation(vector)
        center, scale = np.asarray(state.center), np.asarray(state.scale)
        standard = (_rows(state.history) - center) / scale
        gaps = np.sqrt((((vector - center) / scale - standard) ** 2).sum(axis=1))
        distance = float(np.sort(gaps)[min(self.neighbours, len(gaps)) - 1])
        threshold, ratio = self.threshold(state), distance / state.distance_cut
        raw = max(
            ramp(isolation, threshold, threshold + 0.15) if isolation >= threshold else 0.0,
            ramp(ratio, self.distance_ratio, 3 * self.distance_ratio)
            if ratio >= self.distance_ratio
            else 0.0,
        )
        return Oddness(isolation, distance, min(self.max_score, raw))

    def _finding(
        self,
        mined: MinedBatch,
        state: LearnedState,
        vector: np.ndarray,
        odd: Oddness,
        streak: Streak,
    ) -> Finding:
        z = (vector - np.asarray(state.center)) / np.asarray(state.scale)
        ranked = [int(i) for i in np.argsort(-np.abs(z), kind="stable")[:2] if abs(z[i]) >= 3]
        said = "; ".join(_describe(i, float(vector[i]), state.center[i]) for i in ranked)
        ratio = odd.distance / state.distance_cut
        return Finding(
            detector=self.name,
            anomaly_type="unusual_window",
            score=min(self.max_score, self.sustain.score(odd.raw, streak.windows)),
            summary=(
                f"This window is unlike the stream's recent {len(_rows(state.history))} windows "
                f"(isolation score {odd.isolation:.2f}, alarm at {self.threshold(state):.2f}; "
                f"{ratio:.1f}x the usual distance to its nearest windows): "
                f"{said or 'no single measure stands out'}."
            ),
            evidence=Evidence(
                entry_ids=_evidence_entries(mined, ranked),
                template_ids=_evidence_templates(mined, ranked),
                numbers={
                    "isolation_score": round(odd.isolation, 4),
                    "threshold": round(self.threshold(state), 4),
                    "distance_ratio": round(ratio, 3),
                    **{FEATURES[i]: round(float(vector[i]), 4) for i in ranked},
                    "streak": streak.windows,
                },
            ),
        )


def _rows(history: bytes) -> np.ndarray:
    return np.frombuffer(history, dtype=np.float32).reshape(-1, len(FEATURES))


def _describe(feature: int, value: float, usual: float) -> str:
    name = FEATURES[feature]
    if name in ("volume", "templates"):
        what = "entries per minute" if name == "volume" else "distinct messages"
        return f"{math.expm1(value):.0f} {what} (usually {math.expm1(usual):.0f})"
    if name in ("p50", "p95"):
        return f"{name} latency {math.expm1(value):.0f} ms (usually {math.expm1(usual):.0f} ms)"
    label = {"errors": "error share", "warnings": "warning share", "5xx": "5xx share"}
    what = label.get(name, "a group of messages")
    return f"{what} {value:.0%} of entries (usually {usual:.0%})"


def _evidence_entries(mined: MinedBatch, ranked: list[int]) -> tuple[str, ...]:
    if ranked and FEATURES[ranked[0]] == "errors":
        return entry_ids(e for e in mined.entries if e.severity.is_error)
    return entry_ids(mined.entries)


def _evidence_templates(mined: MinedBatch, ranked: list[int]) -> tuple[str, ...]:
    buckets = {int(FEATURES[i][3:]) for i in ranked if FEATURES[i].startswith("mix")}
    picked = [i for i, t in enumerate(mined.template_ids) if not buckets or _bucket(t) in buckets]
    return top_templates(mined, picked)
